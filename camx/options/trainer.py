"""The ``trainer`` group: the checks of its epochs, batch sizes, learning rate, schedule and sizes.

:func:`camx.jobs.train.train` runs them again on the config it is given. Every key is read as
``configs/trainer/default.yaml`` gives it (the one home of its defaults).
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


def is_auto_lr(value: Any) -> bool:
    """Whether ``trainer.lr`` asks for the learning-rate range test (``auto``)."""
    return isinstance(value, str) and value.strip().lower() == "auto"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _validate_lr_find(f: Mapping[str, Any]) -> None:
    """``trainer.lr_find``: at least 5 steps, 0 < start < end."""
    _whole("lr_find.steps", f["steps"], 5)
    start = check_range("trainer.lr_find.start", f["start"], 0.0, None, low_inclusive=False)
    end = check_range("trainer.lr_find.end", f["end"], 0.0, None, low_inclusive=False)
    if end <= start:
        raise ConfigError(f"trainer.lr_find.end={f['end']} must be above trainer.lr_find.start={f['start']}")


def validate_trainer(t: Mapping[str, Any]) -> None:
    """Reject out-of-range trainer settings before any work starts."""
    for name in ("epochs", "batch_size", "eval_batch_size"):
        _whole(name, t[name], 1)
    _whole("workers", t["workers"], 0)
    _whole("seed", t["seed"], None)
    if not is_auto_lr(t["lr"]):
        if isinstance(t["lr"], str) and not _numeric(t["lr"]):
            raise ConfigError(f"trainer.lr={t['lr']!r} is not valid; give a positive number or auto")
        check_range("trainer.lr", t["lr"], 0.0, None, low_inclusive=False)
    _validate_lr_find(t["lr_find"])
    diverge = t["diverge"]
    check_range("trainer.diverge.factor", diverge["factor"], 0.0, None)
    if float(diverge["factor"]) != 0 and float(diverge["factor"]) <= 1:
        raise ConfigError(
            f"trainer.diverge.factor={diverge['factor']} is out of range; it must be 0 (off) or above 1"
        )
    _whole("diverge.steps", diverge["steps"], 1)
    check_range("trainer.weight_decay", t["weight_decay"], 0.0, None)
    check_range("trainer.warmup", t["warmup"], 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_choice("trainer.optimizer", t["optimizer"], OPTIMIZERS)
    check_choice("trainer.schedule", t["schedule"], SCHEDULES)
    _whole("threads", t["threads"], 0)
    sizes = t["sizes"]
    if sizes is not None:
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__") or len(list(sizes)) == 0:
            raise ConfigError(
                f"trainer.sizes={sizes!r} must be null or a list of input sides, one per epoch, e.g. [32,32,48]"
            )
        for side in sizes:
            _whole("sizes", side, 8)
