"""The ``trainer`` group: the checks of its epochs, batch sizes, learning rate, schedule and sizes.

:func:`camx.jobs.train.train` runs them again on the config it is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from camx.errors import ConfigError, check_choice, check_range

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


def validate_trainer(t: Mapping[str, Any]) -> None:
    """Reject out-of-range trainer settings before any work starts."""
    for name in ("epochs", "batch_size", "eval_batch_size"):
        _whole(name, t.get(name, 1), 1)
    _whole("workers", t.get("workers", 0), 0)
    _whole("seed", t.get("seed", 0), None)
    check_range("trainer.lr", t.get("lr", 0.1), 0.0, None, low_inclusive=False)
    check_range("trainer.weight_decay", t.get("weight_decay", 0.0), 0.0, None)
    check_range("trainer.warmup", t.get("warmup", 0.25), 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_choice("trainer.optimizer", t.get("optimizer", "sgd"), OPTIMIZERS)
    check_choice("trainer.schedule", t.get("schedule", "onecycle"), SCHEDULES)
    _whole("threads", t.get("threads", 0), 0)
    sizes = t.get("sizes")
    if sizes is not None:
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__") or len(list(sizes)) == 0:
            raise ConfigError(
                f"trainer.sizes={sizes!r} must be null or a list of input sides, one per epoch, e.g. [32,32,48]"
            )
        for side in sizes:
            _whole("sizes", side, 8)
