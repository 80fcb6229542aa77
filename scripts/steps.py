"""The steps of a reproduction script: each a `dcmh-tf` command whose output file marks it done.

A step whose output exists is not run again, so an interrupted reproduction resumes where it stopped;
the seconds of each step run are kept in WORK/times.json for the page; with a deadline (HH:MM UTC) no
step starts after it, and the steps left are listed in `skipped`.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time
from pathlib import Path

from dcmh_tf.baselines import BASELINES

# every shallow baseline, as `dcmh-tf compare --methods` takes them
BASELINE_METHODS = ",".join(BASELINES)


def past_deadline(deadline: str | None) -> bool:
    """True once the UTC clock reads DEADLINE (HH:MM) or later; False without a deadline."""
    if not deadline:
        return False
    now = datetime.datetime.now(datetime.timezone.utc)
    hours, minutes = map(int, deadline.split(":"))
    return (now.hour, now.minute) >= (hours, minutes)


class Steps:
    def __init__(self, work: Path, deadline: str | None = None):
        self.times_path = work / "times.json"
        self.times: dict[str, float] = json.loads(self.times_path.read_text()) if self.times_path.exists() else {}
        self.deadline = deadline
        self.skipped: list[str] = []

    def run(self, label: str, done: Path, command: list[str]) -> bool:
        """Run `dcmh-tf COMMAND` unless `done` exists; False when the deadline left it unrun."""
        if done.exists():
            return True
        now = datetime.datetime.now(datetime.timezone.utc)
        if self.deadline and now.strftime("%H:%M") >= self.deadline:
            self.skipped.append(label)
            return False
        started = time.perf_counter()
        print(f"[{now:%H:%M:%S}] dcmh-tf " + " ".join(command), flush=True)
        subprocess.run(["dcmh-tf", *command, "--no-progress"], check=True)
        self.times[label] = round(time.perf_counter() - started, 1)
        self.times_path.write_text(json.dumps(self.times, indent=1) + "\n")
        return True
