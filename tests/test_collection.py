"""`dcmh-tf datasets prepare collection` on small collections the tests write (tables, the Wikipedia
layout, label folders, every irregular case), then fit, search --text and the raw_text export on one."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dcmh_tf.cli import main
from dcmh_tf.data.collection import read_item_sources
from dcmh_tf.data.prepare import prepare_dataset
from dcmh_tf.data.prepare.collection import (MISSING_PICTURE, NO_LABEL, NO_TEXT, OTHER_LABEL_COPY, REPEATED_PICTURE,
                                             SAME_PICTURE, STRAY_SPACES, TableColumns, WRONG_EXTENSION)
from dcmh_tf.data.prepare.common import UNREADABLE
from dcmh_tf.errors import DataError

CATEGORIES = ["sport", "economy"]
# per category: words of its texts (Chinese headlines) and the colour of its pictures
WORDS = {"sport": ["足球比赛", "篮球", "运动员"], "economy": ["经济增长", "市场", "银行"]}
COLOURS = {"sport": (200, 30, 30), "economy": (30, 30, 200)}
SIZE = 16  # prepared picture side


def picture(path: Path, category: str, seed: int, *, mode="RGB", format="JPEG") -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(COLOURS[category]) + rng.integers(-20, 20, (24, 20, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if mode == "RGBA":
        alpha = np.full((24, 20), 255, np.uint8)
        alpha[:, :10] = 0  # the left half transparent: it must come out white
        image = Image.fromarray(np.dstack([pixels, alpha]), "RGBA")
    elif mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=format)
    return path


def headline(category: str, seed: int) -> str:
    words = WORDS[category]
    return f"{words[seed % 3]}，{words[(seed + 1) % 3]}新闻{seed}"


def items(n=12):
    """(id, category, split) of a small collection: the first 8 train, the rest test."""
    return [(str(i), CATEGORIES[i % 2], "train" if i < 8 else "test") for i in range(n)]


@pytest.fixture
def table_folder(tmp_path):
    folder = tmp_path / "table"
    for item_id, category, _ in items():
        picture(folder / "pics" / f"{item_id}.jpg", category, int(item_id))
        (folder / "texts").mkdir(parents=True, exist_ok=True)
        (folder / "texts" / f"{item_id}.txt").write_text(headline(category, int(item_id)), encoding="utf-8")
    return folder


def write_csv(folder: Path) -> Path:
    path = folder / "items.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["caption", "set", "tags", "photo"])  # another order, other names
        for item_id, category, split in items():
            writer.writerow([headline(category, int(item_id)), split, category, f"pics/{item_id}.jpg"])
    return path


def write_jsonl(folder: Path) -> Path:
    path = folder / "items.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for item_id, category, split in items():
            f.write(json.dumps({"split": split, "labels": [category], "file": f"texts/{item_id}.txt",
                                "picture": f"pics/{item_id}.jpg", "name": f"item{item_id}"}, ensure_ascii=False) + "\n")
    return path


def prepare(raw, output, **options):
    return prepare_dataset("collection", raw, output, options=options, image_size=SIZE, workers=1, progress=False,
                           warn=lambda message: None)


def read_prepared(folder: Path, stem="COLLECTION"):
    with h5py.File(folder / f"{stem}.mat", "r") as f:
        arrays = {key: np.asarray(f[key]) for key in ("images", "YAll", "LAll")}
    arrays["split"] = (folder / f"{stem}.split.txt").read_text().splitlines()
    arrays["vocabulary"] = (folder / f"{stem}.vocabulary.txt").read_text(encoding="utf-8").splitlines()
    return arrays


def test_csv_and_json_lines_with_other_columns_give_the_same_file(table_folder, tmp_path):
    from_csv = prepare(write_csv(table_folder), tmp_path / "a", min_count=1, columns=TableColumns(
        image="photo", text="caption", label="tags", split="set"))
    from_jsonl = prepare(write_jsonl(table_folder), tmp_path / "b", min_count=1, columns=TableColumns(
        image="picture", text=None, text_file="file", label="labels", split="split", id="name"))
    assert from_csv["pairs"] == from_jsonl["pairs"] == 12
    a, b = read_prepared(tmp_path / "a"), read_prepared(tmp_path / "b")
    for key in ("images", "YAll", "LAll", "split", "vocabulary"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert a["split"] == ["database"] * 8 + ["query"] * 4
    sources = read_item_sources(tmp_path / "b" / "COLLECTION.mat")
    assert [s["id"] for s in sources] == [f"item{i}" for i in range(12)]
    assert sources[3]["text"] == headline("economy", 3) and sources[3]["labels"] == ["economy"]
    assert Path(sources[3]["image"]).samefile(table_folder / "pics" / "3.jpg")
    assert Path(sources[3]["text_path"]).samefile(table_folder / "texts" / "3.txt")
    assert read_item_sources(tmp_path / "a" / "COLLECTION.mat")[3]["text_path"] is None


def test_vocabulary_comes_from_the_training_rows_only(table_folder, tmp_path):
    path = write_csv(table_folder)
    rows = path.read_text(encoding="utf-8").splitlines()
    rows[-1] = rows[-1].replace("新闻11", "独有词汇")  # a query (test row) with words no training text has
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    prepare(path, tmp_path / "out", min_count=1, columns=TableColumns(image="photo", text="caption", label="tags",
                                                                       split="set"))
    vocabulary = read_prepared(tmp_path / "out")["vocabulary"]
    assert "独" not in vocabulary and "词汇" not in vocabulary
    assert "经济" in vocabulary and "足" in vocabulary  # character unigrams and bigrams of the training texts


def test_table_problems_are_refused_with_their_row(table_folder, tmp_path):
    path = write_csv(table_folder)
    with pytest.raises(DataError, match="no column 'image'.*'caption'"):
        prepare(path, tmp_path / "x")
    bad = path.read_text(encoding="utf-8").replace(",test,", ",later,", 1)
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(DataError, match="items.csv row 9: split 'later'"):
        prepare(path, tmp_path / "x", columns=TableColumns(image="photo", text="caption", label="tags", split="set"))


def test_table_rows_without_text_or_label_or_picture_are_skipped_and_counted(table_folder, tmp_path):
    path = table_folder / "items.csv"
    rows = [["photo", "caption", "tags"]] + [[f"pics/{i}.jpg", headline(c, int(i)), c] for i, c, _ in items()]
    rows[1][1] = "  "  # no text
    rows[2][2] = ""  # no label
    rows[3][0] = "pics/absent.jpg"
    rows[4][0] = rows[5][0]  # the same picture under another label
    rows[7][0] = rows[9][0]  # the same picture under the same label: a real pair, kept
    (table_folder / "pics" / "10.jpg").rename(table_folder / "pics" / "10 .jpg")  # listed as pics/10.jpg
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    record = prepare(path, tmp_path / "out", min_count=1, columns=TableColumns(image="photo", text="caption",
                                                                                 label="tags"))
    skipped = {reason: entry["count"] for reason, entry in record["skipped"].items()}
    assert skipped == {NO_TEXT: 1, NO_LABEL: 1, MISSING_PICTURE: 1, REPEATED_PICTURE: 1, SAME_PICTURE: 1,
                       STRAY_SPACES: 1}
    assert record["skipped"][STRAY_SPACES]["paths"][0].endswith("10 .jpg")
    assert record["pairs"] == 12 - 4
    assert "items.csv row 3" in record["skipped"][MISSING_PICTURE]["paths"][0]
    assert record["protocol"]["split"].startswith("seeded")
    split = read_prepared(tmp_path / "out")["split"]
    assert split.count("query") == round(0.2 * 8)


def wikipedia(root: Path) -> Path:
    """The Wikipedia layout with every irregularity of real collections."""
    root.mkdir()
    (root / "categories.list").write_text("\n".join(CATEGORIES) + "\n")
    lists = {"train": [], "test": []}
    for item_id, category, split in items():
        label = CATEGORIES.index(category) + 1
        lists[split].append(f"t{item_id}\t{item_id}\t{label}")
        (root / "texts").mkdir(exist_ok=True)
        (root / "texts" / f"t{item_id}.txt").write_text(headline(category, int(item_id)), encoding="utf-8")
        folder = root / "images" / category
        modes = {1: ("RGBA", "PNG"), 2: ("CMYK", "JPEG"), 3: ("L", "JPEG"), 4: ("RGB", "PNG"), 5: ("RGB", "BMP")}
        mode, format = modes.get(int(item_id), ("RGB", "JPEG"))
        picture(folder / f"{item_id}.jpg", category, int(item_id), mode=mode, format=format)  # named .jpg whatever
    images = root / "images"
    (images / "economy" / "7.jpg").rename(images / "economy" / "7 .jpg")  # a stray space
    (images / "sport" / "6.jpg").unlink()  # a listed picture that is missing
    data = (images / "sport" / "8.jpg").read_bytes()
    (images / "sport" / "8.jpg").write_bytes(data[: len(data) // 2])  # truncated
    shutil.copy(images / "sport" / "0.jpg", images / "economy" / "0.jpg")  # a copy in another label's folder
    (root / "texts" / "t10.txt").write_text("", encoding="utf-8")  # a row without text
    lists["train"].append("t11b\t11\t1")  # picture 11 (economy) listed again under sport
    (root / "texts" / "t11b.txt").write_text("重复", encoding="utf-8")
    (root / "trainset_txt_img_cat.list").write_text("\n".join(lists["train"]) + "\n")
    (root / "testset_txt_img_cat.list").write_text("\n".join(lists["test"]) + "\n")
    return root


def test_wikipedia_layout_with_every_irregular_case(tmp_path):
    raw = wikipedia(tmp_path / "wiki")
    record = prepare(raw, tmp_path / "out", min_count=1)
    skipped = {reason: entry["count"] for reason, entry in record["skipped"].items()}
    assert skipped == {STRAY_SPACES: 1, MISSING_PICTURE: 1, OTHER_LABEL_COPY: 1, NO_TEXT: 1, WRONG_EXTENSION: 3,
                       UNREADABLE: 1, REPEATED_PICTURE: 1}
    # picture 11 is listed under sport in the training list and under economy in the test list: the later dropped
    assert "testset_txt_img_cat.list line 4" in record["skipped"][REPEATED_PICTURE]["paths"][0]
    assert record["pairs"] == 13 - 4  # missing, without text, truncated, listed under two labels
    assert "6.jpg" in record["skipped"][MISSING_PICTURE]["paths"][0]
    assert "8.jpg" in record["skipped"][UNREADABLE]["paths"][0]
    assert record["protocol"]["picture_formats"] == {"JPEG": 6, "PNG": 2, "BMP": 1, "unreadable": 1}
    assert record["protocol"]["picture_modes"] == {"RGB": 6, "RGBA": 1, "CMYK": 1, "L": 1, "unreadable": 1}
    arrays = read_prepared(tmp_path / "out")
    sources = read_item_sources(tmp_path / "out" / "COLLECTION.mat")
    assert len(sources) == len(arrays["split"]) == arrays["images"].shape[0] == record["pairs"]
    row = [s["id"] for s in sources].index("t1")  # the RGBA picture: its transparent half is white
    pixels = np.transpose(arrays["images"][row], (2, 1, 0))  # HDF5 (3, W, H) -> (H, W, 3)
    assert pixels[:, :4].min() >= 250 and pixels[:, -4:, 0].mean() < 120
    assert arrays["split"] == [s["split"] for s in sources]


def test_list_with_a_label_out_of_range_is_refused_with_its_line(tmp_path):
    raw = wikipedia(tmp_path / "wiki")
    with open(raw / "testset_txt_img_cat.list", "a") as f:
        f.write("t0\t0\t3\n")
    with pytest.raises(DataError, match="testset_txt_img_cat.list line 5: label 3, but categories.list has 2"):
        prepare(raw, tmp_path / "out")


def test_label_folders_with_texts_beside_the_pictures(tmp_path):
    raw = tmp_path / "folders"
    for item_id, category, _ in items(10):
        picture(raw / category / f"{item_id}.jpg", category, int(item_id))
        if item_id != "9":
            (raw / category / f"{item_id}.txt").write_text(f"{category} news {item_id} the", encoding="utf-8")
    record = prepare(raw, tmp_path / "out", min_count=1, stop_words="english", seed=3)
    assert record["protocol"]["layout"] == "folders" and record["protocol"]["tokenizer"]["mode"] == "words"
    assert {r: e["count"] for r, e in record["skipped"].items()} == {NO_TEXT: 1}
    vocabulary = read_prepared(tmp_path / "out")["vocabulary"]
    assert {"sport", "economy", "news"} <= set(vocabulary) and "the" not in vocabulary
    assert read_prepared(tmp_path / "out")["split"].count("query") == 2


def test_cli_prepares_a_table_and_refuses_options_of_other_datasets(table_folder, tmp_path):
    write_csv(table_folder)
    runner = CliRunner()
    arguments = ["datasets", "prepare", "collection", "--raw", str(table_folder / "items.csv"), "--output",
                 str(tmp_path / "out") + "/", "--image-size", str(SIZE), "--workers", "1", "--no-progress",
                 "--image-column", "photo", "--text-column", "caption", "--label-column", "tags",
                 "--split-column", "set", "--min-count", "1", "--name", "NEWS"]
    result = runner.invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "12 pairs" in result.output and "4 queries, 8 database" in result.output
    assert result.output.startswith(f"{tmp_path}/out/NEWS.mat: ") and "//" not in result.output  # --output out/
    assert f"--data-path {tmp_path}/out/NEWS.mat --preset collection" in result.output
    assert (tmp_path / "out" / "NEWS.tokenizer.json").is_file()
    check = subprocess.run(["sha256sum", "-c", "NEWS.sha256"], cwd=tmp_path / "out", capture_output=True, text=True)
    assert check.returncode == 0 and "NEWS.sources.jsonl: OK" in check.stdout
    result = runner.invoke(main, ["datasets", "info", str(tmp_path / "out" / "NEWS.mat")])  # found by its split
    assert result.exit_code == 0 and ": collection" in result.output, result.output
    assert "4 queries, 8 database, 8 training" in result.output
    result = runner.invoke(main, arguments[:7] + ["--words", "10"])
    assert result.exit_code == 2 and "applies to iapr-tc12" in result.output
    result = runner.invoke(main, ["datasets", "prepare", "collection", "--raw", str(tmp_path / "none.csv"),
                                  "--output", str(tmp_path / "o2")])
    assert result.exit_code == 1 and "no such file" in result.output


def test_table_options_on_a_wikipedia_layout_are_refused_as_bad_options(tmp_path):
    raw = wikipedia(tmp_path / "wiki")
    result = CliRunner().invoke(main, ["datasets", "prepare", "collection", "--raw", str(raw), "--output",
                                       str(tmp_path / "out"), "--split-column", "split", "--label-separator", ","])
    assert result.exit_code == 2, result.output
    assert (f"--split-column, --label-separator name columns of a table; --raw {raw} is in the wikipedia layout "
            f"(its split comes from trainset_/testset_txt_img_cat.list), which has no columns.") in result.output
    assert not (tmp_path / "out").exists()


def test_info_on_a_raw_collection_says_to_prepare_it(table_folder, tmp_path):
    write_csv(table_folder)
    raw = wikipedia(tmp_path / "wiki")
    runner = CliRunner()
    for path, layout in ((raw, "the Wikipedia layout"), (table_folder / "items.csv", "a .csv table"),
                         (raw / "images", "one folder of pictures per label")):
        result = runner.invoke(main, ["datasets", "info", str(path)])
        assert result.exit_code == 1, result.output
        assert (f"Error: {path}: a raw collection ({layout}" in result.output
                and f"prepare it with `dcmh-tf datasets prepare collection --raw {path} --output data`"
                in result.output), result.output
    (tmp_path / "empty" / "sub").mkdir(parents=True)  # a folder of folders without pictures is no collection
    result = runner.invoke(main, ["datasets", "info", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no known dataset file" in result.output


@pytest.fixture(scope="module")
def trained_collection(tmp_path_factory):
    """A run of 2 epochs on a prepared table collection, and its index of database pictures."""
    return make_trained_collection(tmp_path_factory.mktemp("trained"))


def make_trained_collection(root: Path, text=headline) -> Path:
    """In `root`: table/ (24 pictures, texts from `text(category, id)`), prepared/, run/ (2 epochs, 8 bits)
    and images.npz (the index of the run's database pictures)."""
    from dcmh_tf.config import resolve_config
    from dcmh_tf.retrieval.searcher import build_index
    from dcmh_tf.training.trainer import fit

    folder = root / "table"
    for item_id, category, _ in items(24):
        picture(folder / "pics" / f"{item_id}.jpg", category, int(item_id))
    with open(folder / "items.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "text", "label", "split"])
        for item_id, category, _ in items(24):
            writer.writerow([f"pics/{item_id}.jpg", text(category, int(item_id)), category,
                             "test" if int(item_id) >= 18 else "train"])
    prepare(folder / "items.csv", root / "prepared", min_count=1, columns=TableColumns(split="split"))
    config = resolve_config("collection", data_path=str(root / "prepared" / "COLLECTION.mat"), image_size=59,
                            hidden=32, bits=8, epochs=2, batch_size=6, jit=False, seed=0)
    fit(config, root / "run", progress=False, echo=lambda message: None)
    index = build_index(root / "run", modality="image")
    index.save(root / "images.npz")
    return root


def test_the_prepared_collection_trains_with_its_own_split_and_tokenizer(trained_collection):
    from dcmh_tf.run_directory import RunDirectory

    run = RunDirectory.open(trained_collection / "run")
    split = run.load_split()
    assert split.query.tolist() == list(range(18, 24)) and split.train.tolist() == list(range(18))
    tokenizer = run.load_tokenizer()
    assert tokenizer is not None and tokenizer.mode == "characters"
    assert run.read_inputs()["tag_vocabulary"] == list(tokenizer.vocabulary)
    (trained_collection / "no-tokenizer").mkdir(exist_ok=True)
    for name in ("config.json", "split.npz", "inputs.json"):
        shutil.copy(trained_collection / "run" / name, trained_collection / "no-tokenizer" / name)
    assert RunDirectory.open(trained_collection / "no-tokenizer").load_tokenizer() is None


def test_search_with_a_raw_text_in_the_collection_language(trained_collection):
    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import search_index

    runner = CliRunner()
    result = runner.invoke(main, ["search", str(trained_collection / "run"), "--index",
                                  str(trained_collection / "images.npz"), "--text", "经济增长的市场消息 Zork", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["query"] == "text" and len(found["results"]) == 10
    assert "zork" in found["unknown_tags"]
    result = runner.invoke(main, ["search", str(trained_collection / "run"), "--index",
                                  str(trained_collection / "images.npz"), "--text", "Zork"])
    assert result.exit_code == 1 and "no token of the text" in result.output
    result = runner.invoke(main, ["search", str(trained_collection / "run"), "--index",
                                  str(trained_collection / "images.npz"), "--text", "x", "--tags", "y"])
    assert result.exit_code == 2
    index = HammingIndex.load(trained_collection / "images.npz")
    with pytest.raises(DataError, match="no tokenizer"):
        # the copy holds no weights, so the index cannot be matched to it: another run, allowed here
        search_index(trained_collection / "no-tokenizer", index, text="经济", allow_other_run=True)


def test_exported_text_model_answers_raw_strings_through_saved_model_cli(trained_collection):
    from dcmh_tf.export.exporter import export_run
    from dcmh_tf.hashing import sign_codes
    from dcmh_tf.run_directory import RunDirectory

    result = export_run(trained_collection / "run", trained_collection / "exported", formats=("savedmodel",))
    assert "raw_text" in result.signatures["dcmh_text"]
    texts = ["经济增长的市场", "足球比赛，运动员 NBA"]
    out = trained_collection / "answer.npy"
    cli = Path(sys.executable).with_name("saved_model_cli")
    command = [str(cli) if cli.exists() else "saved_model_cli", "run", "--dir",
               str(trained_collection / "exported" / "dcmh_text" / "1"), "--tag_set", "serve", "--signature_def",
               "raw_text", "--input_exprs", f"raw_text={json.dumps(texts, ensure_ascii=False)}",
               "--outdir", str(trained_collection / "answers"), "--overwrite"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    codes = np.load(trained_collection / "answers" / "codes.npy")
    run = RunDirectory.open(trained_collection / "run")
    _, text_encoder, _ = run.restore_encoders()
    expected = sign_codes(text_encoder(run.load_tokenizer().bag_of_words(texts)).numpy())
    np.testing.assert_array_equal(codes, expected)
    assert not out.exists()


NEWS = Path(__file__).resolve().parents[2] / "shared" / "data" / "web_news"


@pytest.mark.large
@pytest.mark.skipif(not NEWS.is_dir(), reason="../shared/data/web_news is not there")
def test_the_real_news_photographs(tmp_path):
    from dcmh_tf.config import resolve_config
    from dcmh_tf.data.loading import load_dataset, make_split

    record = prepare_dataset("collection", NEWS, tmp_path, options={"max_words": 2000}, image_size=64, workers=2,
                             progress=False, warn=lambda message: None)
    skipped = {reason: entry["count"] for reason, entry in record["skipped"].items()}
    assert skipped == {STRAY_SPACES: 3, OTHER_LABEL_COPY: 7, SAME_PICTURE: 48, WRONG_EXTENSION: 37,
                       REPEATED_PICTURE: 1, MISSING_PICTURE: 7}
    assert record["pairs"] == 2200 - 7 - 1 and record["labels"] == 10 and record["text_dim"] == 2000
    assert record["protocol"]["tokenizer"]["mode"] == "characters"
    assert record["protocol"]["picture_modes"]["RGBA"] > 0 and record["protocol"]["picture_modes"]["CMYK"] > 0
    data = load_dataset(resolve_config("collection", data_path=str(tmp_path / "COLLECTION.mat")))
    split = make_split(resolve_config("collection", data_path=str(tmp_path / "COLLECTION.mat")), data)
    assert (len(split.query), len(split.database)) == (497, 1695) and data.images.shape[1:] == (64, 64, 3)
    sources = read_item_sources(tmp_path / "COLLECTION.mat")
    row = int(split.query[0])
    assert (NEWS / "texts" / f"{sources[row]['id']}.txt").read_text(encoding="utf-8").strip() == sources[row]["text"]
    assert data.label_names[int(np.flatnonzero(data.labels[row])[0])] == sources[row]["labels"][0]
    np.testing.assert_array_equal(data.texts[row], data.tokenizer.bag_of_words([sources[row]["text"]])[0])


@pytest.mark.large
@pytest.mark.skipif(not NEWS.is_dir(), reason="../shared/data/web_news is not there")
def test_table_copies_of_the_news_set_give_the_same_prepared_file(tmp_path):
    """CSV and JSON Lines copies of the news lists (columns in other orders, the listed names, so three
    pictures are found only up to stray spaces) prepare to the file the Wikipedia layout gives."""
    categories = (NEWS / "categories.list").read_text().split()
    rows = []
    for list_name, split in (("trainset_txt_img_cat.list", "train"), ("testset_txt_img_cat.list", "test")):
        for line in (NEWS / list_name).read_text().splitlines():
            text_id, image_id, label = line.split("\t")
            category = categories[int(label) - 1]
            rows.append({"label": category, "split": split, "text_file": str(NEWS / "texts" / f"{text_id}.txt"),
                         "image": str(NEWS / "images" / category / f"{image_id}.jpg"), "id": text_id})
    with open(tmp_path / "news.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["split", "image", "label", "text_file", "id"])
        writer.writeheader()
        writer.writerows(rows)
    with open(tmp_path / "news.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"txt": row["text_file"], "set": row["split"], "cats": [row["label"]],
                                "jpg": row["image"]}) + "\n")
    options = {"max_words": 500}
    kw = dict(image_size=16, workers=2, progress=False, warn=lambda message: None)
    listed = prepare_dataset("collection", NEWS, tmp_path / "wiki", options=options, **kw)
    from_csv = prepare_dataset("collection", tmp_path / "news.csv", tmp_path / "csv", options={
        **options, "columns": TableColumns(text=None, text_file="text_file", split="split", id="id")}, **kw)
    from_jsonl = prepare_dataset("collection", tmp_path / "news.jsonl", tmp_path / "jsonl", options={
        **options, "columns": TableColumns(image="jpg", text=None, text_file="txt", label="cats", split="set")}, **kw)
    for record in (from_csv, from_jsonl):
        skipped = {reason: entry["count"] for reason, entry in record["skipped"].items()}
        assert skipped == {STRAY_SPACES: 3, SAME_PICTURE: 48, WRONG_EXTENSION: 37, REPEATED_PICTURE: 1,
                           MISSING_PICTURE: 7}
        assert record["pairs"] == listed["pairs"] == 2192
    reference = read_prepared(tmp_path / "wiki")
    reference_names = (tmp_path / "wiki" / "COLLECTION.labels.txt").read_text().splitlines()
    for folder in ("csv", "jsonl"):
        arrays = read_prepared(tmp_path / folder)
        for key in ("images", "YAll", "split", "vocabulary"):
            np.testing.assert_array_equal(arrays[key], reference[key], err_msg=f"{folder} {key}")
        # a table's label columns are its label names in alphabetical order, the lists' in categories.list's
        names = (tmp_path / folder / "COLLECTION.labels.txt").read_text().splitlines()
        assert sorted(names) == sorted(reference_names)
        np.testing.assert_array_equal(arrays["LAll"][[names.index(n) for n in reference_names]], reference["LAll"])


def test_wikipedia_layout_with_xml_texts_and_no_category_folders(tmp_path):
    """The original Wikipedia dataset's way: texts/<id>.xml with a <text> element, images/<id>.jpg flat."""
    raw = tmp_path / "wiki"
    (raw / "texts").mkdir(parents=True)
    (raw / "categories.list").write_text("art\nbiology\n")
    lists = {"train": [], "test": []}
    for item_id, category, split in items(10):
        picture(raw / "images" / f"i{item_id}.jpg", "sport" if category == "sport" else "economy", int(item_id))
        words = "painting museum" if category == "sport" else "cell protein"
        (raw / "texts" / f"t{item_id}.xml").write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<document><docno>t{item_id}</docno>'
            f"<text>The {words} &amp; more {item_id}</text></document>", encoding="utf-8")
        lists[split].append(f"t{item_id}\ti{item_id}\t{1 if category == 'sport' else 2}")
    for split, name in (("train", "trainset"), ("test", "testset")):
        (raw / f"{name}_txt_img_cat.list").write_text("\n".join(lists[split]) + "\n")
    record = prepare(raw, tmp_path / "out", min_count=1, stop_words="english")
    assert record["pairs"] == 10 and record["skipped"] == {} and record["protocol"]["tokenizer"]["mode"] == "words"
    sources = read_item_sources(tmp_path / "out" / "COLLECTION.mat")
    assert sources[0]["text"] == "The painting museum & more 0" and sources[1]["labels"] == ["biology"]
    assert set(read_prepared(tmp_path / "out")["vocabulary"]) == {"painting", "museum", "cell", "protein"}
