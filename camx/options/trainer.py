"""The ``trainer`` group: the checks of its epochs, batch sizes, learning rate, schedule and sizes.

:func:`camx.jobs.train.train` runs them again on the config it is given. Every key is read as
``configs/trainer/default.yaml`` gives it (the one home of its defaults).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from camx.errors import ConfigError, check_choice
from camx.options.perturb import DEFAULT_NOISE_SPACE, NOISE_SPACES

OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")
SCHEDULES: tuple[str, ...] = ("onecycle", "cosine", "constant")


def _whole(name: str, value: Any, low: int | None) -> int:
    """``value`` as an int ≥ ``low`` (any int if None), else a one-line ConfigError (also for text such as ``abc``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != int(number) or (low is not None and int(number) < low):
        what = {None: "an integer", 0: "0 or a positive integer", 1: "a positive integer"}.get(
            low, f"an integer ≥ {low}"
        )
        problem = (
            "is out of range" if math.isfinite(number) and number == int(number) else "is not an integer"
        )
        raise ConfigError(f"trainer.{name}={value!r} {problem}; it must be {what}")
    return int(number)


def is_auto_lr(value: Any) -> bool:
    """Whether ``trainer.lr`` asks for the learning-rate range test (``auto``)."""
    return isinstance(value, str) and value.strip().lower() == "auto"


def validate_trainer(t: Mapping[str, Any]) -> None:
    """Reject out-of-range trainer settings before any work starts: every key ``t`` holds against its
    entry in :data:`camx.options.schema.SCHEMA` (types, ranges, choices), then the rules between keys."""
    from camx.options.schema import check_group

    check_group(t, "trainer", skip=("trainer.sizes",))  # sizes: each side named below
    f = t.get("lr_find") or {}
    if "start" in f and "end" in f and float(f["end"]) <= float(f["start"]):
        raise ConfigError(f"trainer.lr_find.end={f['end']} must be above trainer.lr_find.start={f['start']}")
    factor = (t.get("diverge") or {}).get("factor")
    if factor is not None and 0 < float(factor) <= 1:
        raise ConfigError(f"trainer.diverge.factor={factor} is out of range; it must be 0 (off) or above 1")
    sizes = t.get("sizes")
    if sizes is not None:
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__") or len(list(sizes)) == 0:
            raise ConfigError(
                f"trainer.sizes={sizes!r} must be null or a list of input sides, one per epoch, e.g. [32,32,48]"
            )
        for side in sizes:
            _whole("sizes", side, 8)
    noise_range(t)  # trainer.noise_augment: [low, high] variances and a known space, or off


def noise_range(t: Mapping[str, Any]) -> tuple[float, float] | None:
    """``trainer.noise_augment.variance`` as (low, high), None when off; a ConfigError when malformed."""
    aug = t.get("noise_augment") or {}
    v = aug.get("variance")
    if v is None:
        return None
    try:
        low, high = (float(x) for x in v)
    except (TypeError, ValueError):
        raise ConfigError(
            f"trainer.noise_augment.variance={v!r} is not a range; give [low, high], e.g. [0,1], or null"
        ) from None
    if not 0 <= low <= high:
        raise ConfigError(
            f"trainer.noise_augment.variance=[{low:g}, {high:g}] is out of range; it needs 0 ≤ low ≤ high"
        )
    check_choice("trainer.noise_augment.space", aug.get("space", DEFAULT_NOISE_SPACE), NOISE_SPACES)
    return low, high
