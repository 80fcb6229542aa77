"""Which TensorFlow distributions an install would bring, resolved by pip without installing anything.

    python scripts/check_install.py                          # pip install -r requirements.txt -e .  (the CPU path)
    python scripts/check_install.py -- -e ".[and-cuda]"      # the GPU path
    python scripts/check_install.py --installed              # this environment, as installed

`tensorflow`, `tensorflow-cpu` (and `tensorflow-intel`, `tf-nightly`, ...) are separate distributions
of one `tensorflow` module: two of them in one environment overwrite each other's files. The
resolution is `pip install --dry-run --ignore-installed --report`, as on an empty environment; it
downloads package metadata only. Exits 1 unless exactly one TensorFlow distribution is found.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

# distributions whose wheels hold the `tensorflow` package itself
TENSORFLOW_DISTRIBUTIONS = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos",
                            "tf-nightly", "tf-nightly-cpu", "intel-tensorflow"}


def normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def resolved(pip_arguments: list[str]) -> list[tuple[str, str]]:
    """(name, version) of every distribution `pip install PIP_ARGUMENTS` would install on an empty environment."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--report", str(report), *pip_arguments], check=True)
        items = json.loads(report.read_text())["install"]
    return [(item["metadata"]["name"], item["metadata"]["version"]) for item in items]


def installed() -> list[tuple[str, str]]:
    """(name, version) of the distributions of this environment that ship tensorflow/__init__.py."""
    return [(d.metadata["Name"], d.version) for d in metadata.distributions()
            if any(str(f) == "tensorflow/__init__.py" for f in (d.files or []))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installed", action="store_true", help="check this environment instead of a resolution")
    parser.add_argument("pip_arguments", nargs="*", default=["-r", "requirements.txt", "-e", "."],
                        help="what to resolve [default: -r requirements.txt -e .]")
    args = parser.parse_args(argv)
    if args.installed:
        found = installed()
        print(f"installed: {len(found)} TensorFlow distribution(s): {found}")
    else:
        everything = resolved(args.pip_arguments)
        found = [(n, v) for n, v in everything if normalise(n) in TENSORFLOW_DISTRIBUTIONS]
        print(f"pip install {' '.join(args.pip_arguments)}: {len(everything)} distributions, "
              f"{len(found)} of them TensorFlow: {found}")
    return 0 if len(found) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
