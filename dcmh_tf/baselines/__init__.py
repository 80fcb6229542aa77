"""Shallow cross-modal hashing baselines of the DCMH paper's tables, in NumPy/SciPy.

Each learns one hash function per modality from paired training features (and, when supervised,
labels): linear, on the features or on a kernel map of them; see `common.CrossModalHasher`.
`BASELINES` maps a method's name to its class:

    hasher = make_baseline("scm-seq", bits=16, seed=0).fit(images, texts, labels)
    image_codes = hasher.encode_images(query_images)      # (n, 16) int8 ±1
"""

from __future__ import annotations

from dcmh_tf.baselines.cca_itq import CcaItq
from dcmh_tf.baselines.cmfh import Cmfh
from dcmh_tf.baselines.common import CrossModalHasher, zscore_columns
from dcmh_tf.baselines.kernel_seph import SephKm, SephRnd
from dcmh_tf.baselines.scm import ScmSeq
from dcmh_tf.baselines.seph import SephLin
from dcmh_tf.baselines.stmh import Stmh
from dcmh_tf.errors import ConfigError

BASELINES: dict[str, type[CrossModalHasher]] = {
    "cca-itq": CcaItq,
    "cmfh": Cmfh,
    "scm-seq": ScmSeq,
    "seph-lin": SephLin,
    "seph-rnd": SephRnd,
    "seph-km": SephKm,
    "stmh": Stmh,
}


def make_baseline(name: str, bits: int, seed: int = 0, **options) -> CrossModalHasher:
    """An unfitted baseline by its registry name (see `BASELINES`), with the paper's defaults
    unless `options` override them (an unknown option is refused, naming the known ones)."""
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}.")
    known = baseline_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{name}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"its options are {', '.join(known) or 'none'}.")
    for option, value in options.items():
        # Text where the default is a number or a flag (or the other way round) would fail deep inside the
        # class with a TypeError; the classes check the ranges and kinds of numbers themselves.
        default = known[option]
        if default is not None and isinstance(value, str) != isinstance(default, str):
            expected = "a text" if isinstance(default, str) else "true or false" if isinstance(default, bool) \
                else "a number"
            raise ConfigError(f"{name}: {option} expects {expected} (default {default!r}), received {value!r}.")
    return BASELINES[name](bits, seed=seed, **options)


def baseline_options(name: str) -> dict[str, object]:
    """{option: default} of the baseline `name`: the keyword arguments of its class and of the
    classes it passes its other options on to (kernel SePH takes SePH-lin's)."""
    import inspect

    defaults: dict[str, object] = {}
    for cls in BASELINES[name].__mro__:
        if "__init__" not in vars(cls):
            continue
        for parameter in inspect.signature(vars(cls)["__init__"]).parameters.values():
            if parameter.name not in ("self", "bits", "seed") and parameter.kind in (
                    parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                defaults.setdefault(parameter.name, parameter.default)
    return defaults


__all__ = ["BASELINES", "CrossModalHasher", "baseline_options", "make_baseline", "zscore_columns", "CcaItq", "Cmfh",
           "ScmSeq", "SephKm", "SephLin", "SephRnd", "Stmh"]
