"""A lower bound on the memory a training run needs, checked before anything is allocated.

The code length c multiplies the largest arrays of a run: the F, G and B buffers (n × c float32,
plus their start values and the copies a checkpoint writes), the last layer of each encoder
(hidden × c, with its gradient and the optimizer's slots) and the codes of evaluation (every item,
both modalities). `dcmh-tf fit --bits 100000` used to be killed by the kernel (exit 137) with no
message; now it is refused with the estimate.
"""

from __future__ import annotations

from dcmh_tf.config import Config
from dcmh_tf.errors import ConfigError

FLOAT = 4
# slots per trainable weight: Adam keeps two moments, SGD without momentum none
OPTIMIZER_SLOTS = {"adam": 2, "sgd": 0}


def training_memory_bytes(config: Config, n_train: int, n_items: int) -> int:
    """Bytes that grow with the code length: buffers (F, G, B, their start values and the checkpoint's
    copies, about 8·n·c floats), both last layers with gradient and optimizer slots, and the
    evaluation's outputs of all `n_items` items in both modalities. The rest of the networks comes on top."""
    bits = config.bits
    buffers = 8 * n_train * bits
    last_layers = 2 * config.hidden * bits * (2 + OPTIMIZER_SLOTS.get(config.optimizer, 2))
    evaluation = 2 * n_items * bits
    return FLOAT * (buffers + last_layers + evaluation)


def available_memory_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), else free physical pages; None when neither is known."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_training_memory(config: Config, n_train: int, n_items: int, available: int | None = None) -> None:
    """`ConfigError` when the code-length-dependent arrays alone would not fit in the available memory."""
    available = available_memory_bytes() if available is None else available
    needed = training_memory_bytes(config, n_train, n_items)
    if available is not None and needed > available:
        raise ConfigError(
            f"--bits {config.bits} needs at least {needed / 2**30:.1f} GiB for the code buffers of {n_train} "
            f"training pairs, the encoders' last layers ({config.hidden} × {config.bits}) and the codes of "
            f"{n_items} items, more than the {available / 2**30:.1f} GiB available; use a shorter code (the paper "
            f"uses 16 to 64 bits) or fewer training pairs (--n-train)."
        )
