"""The streaming benchmark script runs end to end on a tiny generated file."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_pipeline.py"


def test_benchmark_generates_a_v73_file_and_streams_it(tmp_path):
    path = tmp_path / "bench-iall.mat"
    result = subprocess.run([sys.executable, str(SCRIPT), "--images", "300", "--size", "16", "--batch-size", "64",
                             "--path", str(path), "--keep"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "generated" in result.stdout and path.exists()
    assert re.search(r"streamed 300 images \(shuffled, batch 64\) in [\d.]+ s: \d+ images/s", result.stdout)
    assert re.search(r"peak RSS \d+ MiB", result.stdout)
    from dcmh_tf.data.images import open_pixel_stack
    from dcmh_tf.data.matfile import open_array_file

    with open_array_file(path) as file:  # a file the readers take for the authors' IAll
        assert file.format == "MATLAB v7.3 (HDF5)" and file.shape("IAll") == (16, 16, 3, 300)
        assert open_pixel_stack(file, "IAll", 300)[np.arange(2)].shape == (2, 16, 16, 3)
