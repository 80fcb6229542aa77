"""TensorFlow Datasets builders for the DCMH authors' releases, read from TFDS's `manual_dir`.

The files cannot be downloaded automatically (they sit behind the authors' links and the original
datasets' terms), so the builders follow TFDS's convention for such data: put the files in the
manual folder, then build, offline:

    import tensorflow_datasets as tfds
    from dcmh_tf.data import tfds_builders

    builder = tfds_builders.DcmhMirflickr25k(data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir="path/to/files"))
    pairs = builder.as_dataset(split="train")  # every pair, with its row "index" in the authors' file

Each example: "image" (H, W, 3) uint8 as RGB rows × columns, "text" float32 bag-of-words, "labels"
uint8 0/1, "index" the row in the authors' matrices (the split of a run refers to it). The one split,
"train", holds all pairs: the paper's query/database/training split is drawn from it by
`dcmh_tf.data.splits`.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from dcmh_tf.data.releases import IAPR_TC12, MIRFLICKR25K, NUS_WIDE, Release, load_release

READ_ROWS = 256  # pictures read from the file at a time


def manual_download_instructions(release: Release) -> str:
    parts = ", ".join(f"`{prefix}-iall.mat`" for prefix in release.part_prefixes[:1])
    return (
        f"Put the {release.title} files of {release.source} into the manual folder "
        f"(`download_config.manual_dir`, by default `~/tensorflow_datasets/downloads/manual/`): either "
        f"{' or '.join(f'`{name}`' for name in release.combined_files)} (images, `YAll`, `LAll` in one file), or "
        f"the three part files {parts} / `-yall.mat` / `-lall.mat`. MATLAB v7.3 and older .mat files are read."
    )


class _DcmhRelease(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared body of the three builders; subclasses set RELEASE."""

    RELEASE: Release
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "The DCMH authors' release as published."}

    def _label_count(self) -> int:
        return self.RELEASE.n_labels[0]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=f"{self.RELEASE.title} image-text pairs as used by DCMH (Jiang & Li, CVPR 2017).",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "text": tfds.features.Tensor(shape=(self.RELEASE.text_dim,), dtype=np.float32),
                "labels": tfds.features.Tensor(shape=(self._label_count(),), dtype=np.uint8),
                "index": np.int64,
            }),
            homepage="https://github.com/jiangqy/DCMH-CVPR2017",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        return {"train": self._generate_examples(dl_manager.manual_dir)}

    def _generate_examples(self, manual_dir):
        data = load_release(self.RELEASE, manual_dir)
        expected = (self.RELEASE.text_dim, self._label_count())
        if (data.text_dim, data.labels.shape[1]) != expected:
            raise ValueError(
                f"{manual_dir}: expected {expected[0]} text dimensions and {expected[1]} labels for "
                f"{self.RELEASE.title}, the files hold {data.text_dim} and {data.labels.shape[1]}."
            )
        for start in range(0, len(data), READ_ROWS):
            rows = np.arange(start, min(start + READ_ROWS, len(data)))
            pictures = data.images[rows]
            for k, row in enumerate(rows):
                yield int(row), {"image": pictures[k], "text": data.texts[row], "labels": data.labels[row],
                                 "index": int(row)}


class DcmhMirflickr25k(_DcmhRelease):
    """MIRFLICKR-25K, 20,015 pairs, 1386-d tag bag-of-words, 24 labels."""

    RELEASE = MIRFLICKR25K
    MANUAL_DOWNLOAD_INSTRUCTIONS = manual_download_instructions(MIRFLICKR25K)


class DcmhIaprTc12(_DcmhRelease):
    """IAPR TC-12, 20,000 pairs, 2912-d bag-of-words, 255 labels."""

    RELEASE = IAPR_TC12
    MANUAL_DOWNLOAD_INSTRUCTIONS = manual_download_instructions(IAPR_TC12)


class DcmhNusWide(_DcmhRelease):
    """NUS-WIDE, 1000-d tag bag-of-words; config tc10 (10 concepts, 186,577 pairs) or tc21 (21, 195,834)."""

    RELEASE = NUS_WIDE
    MANUAL_DOWNLOAD_INSTRUCTIONS = manual_download_instructions(NUS_WIDE)
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="tc10", description="the 10 most frequent concepts"),
        tfds.core.BuilderConfig(name="tc21", description="the 21 most frequent concepts"),
    ]

    def _label_count(self) -> int:
        return 10 if self.builder_config.name == "tc10" else 21
