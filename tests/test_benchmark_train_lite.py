"""scripts/benchmark_train.py --lite at a tiny size: the EfficientNet-Lite table has one row per setting."""

import re

import pytest

from test_benchmark_train import load_script


def test_lite_table_rows(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DCMH_TF_CACHE", str(tmp_path))
    script = load_script()
    script.main(["--variants", "float32", "--epoch-variants", "--batch-size", "2", "--image-size", "64", "--hidden", "8",
                 "--bits", "8", "--steps", "1", "--lite", "efficientnet-lite0", "--freeze", "0", "8",
                 "--lite-batch", "4", "--lite-size", "32"])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| efficientnet-lite0 \| 32 \| (\d) \| ([\d.]+) \| ([\d.]+) \| (\d+)% \| ([\d.–]+) \| ([\d.]+) \|$",
                      out, re.M)
    assert [row[0] for row in rows] == ["0", "8"], out
    assert all(float(row[1]) > 0 and float(row[2]) > 0 for row in rows)
    assert rows[0][4] == "–" and float(rows[1][4]) > 0  # the cache column only when stages are frozen
