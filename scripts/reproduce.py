"""Reproduce the comparison of the paper's Tables 3–6 and Figures 2, 6 and 7 on the Wikipedia features.

    python scripts/reproduce.py                      # ../shared/data/wikipedia/wikiData.mat -> docs/results/
    python scripts/reproduce.py --seeds 1 --runs-dir /tmp/runs   # any `dcmh-tf compare` option overrides

Trains DCMH (preset `wiki`) and every baseline (CCA-ITQ, CMFH, SCM-seq, SePH-lin, SePH-rnd, SePH-km,
STMH) at 16, 32 and 64 bits with seeds 0, 1, 2, DCMH at 16 bits for each γ and η in
{0.01, 0.1, 0.5, 1, 2} (seeds 0, 1, 2), and writes docs/results/table.md, results.json,
pr_curves.png, sensitivity_gamma.png and sensitivity_eta.png. It is `dcmh-tf compare` with these
defaults; it prints progress and the total time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# One BLAS thread: the baselines' many small dense solves slow down by an order of magnitude when
# OpenBLAS threads compete for a couple of busy cores (measured: CMFH 16 bits 21 s vs 1.4 s).
# It must be set before NumPy is imported; TensorFlow does not use OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = [
    "compare",
    "--data-path", str(ROOT.parent / "shared" / "data" / "wikipedia" / "wikiData.mat"),
    "--bits", "16,32,64",
    "--seeds", "3",
    "--sensitivity-values", "0.01,0.1,0.5,1,2",
    "--sensitivity-seeds", "3",
    "--output", str(ROOT / "docs" / "results"),
]

if __name__ == "__main__":
    from dcmh_tf.cli import main

    # click keeps the last value of an option given twice, so the caller's options win.
    main([*DEFAULTS, *sys.argv[1:]], prog_name="reproduce.py")
