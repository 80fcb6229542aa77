"""Tiny fake raw releases laid out like the real archives, for the tests of dcmh_tf.data.prepare.

Each picture is a small JPEG of one solid colour, `colour(k)`, so a test can tell which picture
landed in which row of the prepared file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dcmh_tf.data.prepare.mirflickr import CONCEPTS


def colour(k: int) -> tuple[int, int, int]:
    """A colour of its own for picture k (k < 100), far from the others in at least one channel."""
    return (k * 37) % 256, (k * 91 + 40) % 256, (255 - k * 23) % 256


def write_picture(path: Path, k: int, size=(12, 9), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour(k))
    image.convert(mode).save(path, quality=95)
    return path


# MIRFLICKR-25K: image number -> tags (as in meta/tags/tagsN.txt) and potential labels
FLICKR_TAGS = {1: ["sky", "blue", "2007"], 2: ["sky", "sea"], 3: ["sea", "blue", "rare1"], 4: ["rare2"],
               5: ["Sky", "dog"], 6: ["dog", "sky"], 7: [], 8: ["blue"]}
FLICKR_LABELS = {1: ["sky", "clouds"], 2: ["sea", "water"], 3: ["sea"], 4: ["animals"], 5: ["dog", "animals"],
                 6: [], 7: ["people"], 8: ["indoor"]}
FLICKR_RELEVANT = {"dog": [5], "sky": [2]}  # _r1 files; image 2 is not "sky" in sky.txt: reported


def write_mirflickr(raw: Path) -> Path:
    """mirflickr/im1.jpg … im8.jpg, mirflickr/meta/tags/tags1.txt … tags9.txt (tags9 has no
    picture), mirflickr25k_annotations_v080/<24 concepts>.txt, two _r1 files and a README.txt;
    sky.txt also names image 30, which does not exist."""
    root = raw / "mirflickr"
    for number, tags in FLICKR_TAGS.items():
        write_picture(root / f"im{number}.jpg", number, mode="L" if number == 8 else "RGB")
        (root / "meta" / "tags").mkdir(parents=True, exist_ok=True)
        (root / "meta" / "tags" / f"tags{number}.txt").write_text("".join(f"{t}\n" for t in tags))
    (root / "meta" / "tags" / "tags9.txt").write_text("orphan\n")
    notes = raw / "mirflickr25k_annotations_v080"
    notes.mkdir(parents=True)
    for concept in CONCEPTS:
        numbers = [n for n, labels in FLICKR_LABELS.items() if concept in labels] + ([30] if concept == "sky" else [])
        (notes / f"{concept}.txt").write_text("".join(f"{n}\n" for n in numbers))
    for concept, numbers in FLICKR_RELEVANT.items():
        (notes / f"{concept}_r1.txt").write_text("".join(f"{n}\n" for n in numbers))
    (notes / "README.txt").write_text("MIRFLICKR-25K annotations\n")
    return raw


# NUS-WIDE: 10 pictures, 12 concepts (Labels_<name>.txt), label matrix rows = pictures
NUS_CONCEPTS = ["animal", "beach", "buildings", "clouds", "grass", "lake", "person", "plants", "sky", "water",
                "window", "zebra"]
NUS_LABELS = np.array([
    # an be bu cl gr la pe pl sk wa wi ze
    [1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0],
    [0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0],
    [0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0],
    [0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],  # only "window" (1 picture): outside the top 10
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # no concept at all
    [1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],  # only "zebra" (1 picture): outside the top 10
    [0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0],  # its picture is missing from Flickr/
], np.uint8)
NUS_FILES = ["actor/0001_11.jpg", "actor/0002_12.jpg", "beach/0001_13.jpg", "beach/0002_14.jpg", "cat/0001_15.jpg",
             "cat/0002_16.jpg", "cat/0003_17.jpg", "dog/0001_18.jpg", "dog/0002_19.jpg", "dog/0003_20.jpg"]
NUS_TAG_COLUMNS = {0: [3, 999], 1: [3], 2: [], 3: [0, 1, 2], 4: [5], 5: [], 6: [7], 7: [999], 8: [4], 9: [6]}


def write_nuswide(raw: Path) -> Path:
    """ImageList/Imagelist.txt (Windows paths), Flickr/<folder>/<file> (all but the last picture),
    NUS_WID_Tags/AllTags1k.txt and TagList1k.txt, Groundtruth/AllLabels/Labels_<concept>.txt."""
    (raw / "ImageList").mkdir(parents=True)
    (raw / "ImageList" / "Imagelist.txt").write_text(
        "".join(f"C:\\ImageData\\Flickr\\{name.replace('/', chr(92))}\n" for name in NUS_FILES))
    for k, name in enumerate(NUS_FILES[:-1]):
        write_picture(raw / "Flickr" / name, k)
    tags = np.zeros((len(NUS_FILES), 1000), np.uint8)
    for row, columns in NUS_TAG_COLUMNS.items():
        tags[row, columns] = 1
    (raw / "NUS_WID_Tags").mkdir()
    (raw / "NUS_WID_Tags" / "AllTags1k.txt").write_text(
        "".join("\t".join(map(str, row)) + "\t\r\n" for row in tags))  # the real file's tabs and CRLF
    (raw / "NUS_WID_Tags" / "TagList1k.txt").write_text("".join(f"tag{j}\n" for j in range(1000)))
    labels = raw / "Groundtruth" / "AllLabels"
    labels.mkdir(parents=True)
    for j, concept in enumerate(NUS_CONCEPTS):
        (labels / f"Labels_{concept}.txt").write_text("".join(f"{v}\n" for v in NUS_LABELS[:, j]))
    return raw


# IAPR TC-12: picture id -> (folder, description); SAIAPR region labels (image, region, label)
IAPR_CAPTIONS = {25: ("00", "a yellow building with white columns; two palm trees in front of the house;"),
                 26: ("00", "Two palm trees and a grey sky; the trees are in front of a building."),
                 1000: ("01", "a man in a red jacket is standing in front of the yellow house"),
                 1001: ("01", "Ñandú birds: two grey birds on the grass")}
IAPR_WLIST = {1: "bird", 2: "building", 3: "grass", 4: "man", 5: "palm", 6: "sky", 7: "unused-label"}
IAPR_REGIONS = {"00": [(25, 1, 2), (25, 2, 5), (26, 1, 5), (26, 2, 6), (26, 3, 5)],
                "01": [(1000, 1, 4), (1000, 2, 2), (1001, 1, 1), (1001, 2, 3), (1002, 1, 6)]}


def write_iapr(raw: Path) -> Path:
    """iaprtc12/images/NN/id.jpg and annotations_complete_eng/NN/id.eng (Latin-1) for pictures 25,
    26, 1000, 1001, plus a caption 1002 whose picture is missing and a picture 1003 without a
    caption; saiaprtc12ok/benchmark/wlist.txt and saiapr_tc-12/NN/labels.txt (1002 has a label)."""
    root = raw / "iaprtc12"
    captions = {**IAPR_CAPTIONS, 1002: ("01", "a picture that was lost")}
    for number, (folder, description) in captions.items():
        if number != 1002:
            write_picture(root / "images" / folder / f"{number}.jpg", number % 97)
        caption = (f"<DOC>\n<DOCNO>annotations/{folder}/{number}.eng</DOCNO>\n<TITLE>Title {number}</TITLE>\n"
                   f"<DESCRIPTION>{description}</DESCRIPTION>\n<NOTES></NOTES>\n<LOCATION>Cusco, Peru</LOCATION>\n"
                   f"<DATE>March 2002</DATE>\n<IMAGE>images/{folder}/{number}.jpg</IMAGE>\n"
                   f"<THUMBNAIL>thumbnails/{folder}/{number}.jpg</THUMBNAIL>\n</DOC>\n")
        path = root / "annotations_complete_eng" / folder / f"{number}.eng"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(caption.encode("latin-1"))
    write_picture(root / "images" / "01" / "1003.jpg", 3)
    benchmark = raw / "saiaprtc12ok" / "benchmark"
    benchmark.mkdir(parents=True)
    (benchmark / "wlist.txt").write_text("".join(f"{k}\t{name}\n" for k, name in IAPR_WLIST.items()))
    for folder, regions in IAPR_REGIONS.items():
        (benchmark / "saiapr_tc-12" / folder).mkdir(parents=True)
        (benchmark / "saiapr_tc-12" / folder / "labels.txt").write_text(
            "".join(f"{image}\t{region}\t{label}\n" for image, region, label in regions))
    return raw
