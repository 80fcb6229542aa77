"""TFDS builders: build one offline from a small authors'-format file in a manual folder."""

import numpy as np
import pytest

from dcmh_tf.data.images import to_matlab_layout
from dcmh_tf.data.matfile import write_mat_v73


def test_mirflickr_builder_reads_the_manual_folder_offline(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from dcmh_tf.data.tfds_builders import DcmhMirflickr25k, DcmhNusWide

    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, (5, 6, 4, 3), dtype=np.uint8)
    texts = (rng.random((5, 1386)) < 0.01).astype(np.uint8)
    labels = np.eye(24, dtype=np.uint8)[[0, 3, 3, 23, 7]]
    manual = tmp_path / "manual"
    manual.mkdir()
    write_mat_v73(manual / "mirflickr25k-iall.mat", {"IAll": to_matlab_layout(pictures, "N3HW")})
    write_mat_v73(manual / "mirflickr25k-yall.mat", {"YAll": texts})
    write_mat_v73(manual / "mirflickr25k-lall.mat", {"LAll": labels})

    builder = DcmhMirflickr25k(data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    assert builder.info.splits["train"].num_examples == 5
    examples = sorted(tfds.as_numpy(builder.as_dataset(split="train")), key=lambda e: e["index"])
    for row, example in enumerate(examples):
        np.testing.assert_array_equal(example["image"], pictures[row])
        np.testing.assert_array_equal(example["text"], texts[row].astype(np.float32))
        np.testing.assert_array_equal(example["labels"], labels[row])
    assert "mirflickr25k-iall.mat" in DcmhMirflickr25k.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert [c.name for c in DcmhNusWide.BUILDER_CONFIGS] == ["tc10", "tc21"]
