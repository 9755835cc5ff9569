"""Errors a user can fix. The CLI turns them into one line and exit code 2."""

from __future__ import annotations

from pathlib import Path


class CamxError(Exception):
    """Base of every error caused by user input: a path, a config value, a checkpoint, an image.

    The message says what went wrong, why, and how to fix it, in one line.
    """

    exit_code = 2


class ConfigError(CamxError):
    """A configuration value is unknown or out of range."""


class DataError(CamxError):
    """A path, image or dataset cannot be used."""


class CheckpointError(CamxError):
    """A checkpoint is missing, corrupt or does not fit the requested model."""


def check_checkpoint_file(path: str | Path) -> Path:
    """``path`` as a Path if it is an existing file, else the one CheckpointError for a missing checkpoint.

    Every place that is given a checkpoint path (``--checkpoint``, ``checkpoints=[…]``,
    ``model.init_backbone``) reports a missing one in these words.
    """
    p = Path(path)
    if p.is_file():
        return p
    why = "it is a folder" if p.is_dir() else "not a regular file" if p.exists() else "nothing is there"
    raise CheckpointError(
        f"{path}: no such checkpoint file ({why}); check the path, or train one with `camx train`"
    )


def check_choice(name: str, value: object, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise a ConfigError listing them."""
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not a valid choice; choose one of: {', '.join(choices)}")
    return str(value)


def check_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` if it is finite and inside the range; otherwise raise a ConfigError naming the range."""
    import math

    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a number") from None
    lo_ok = low is None or (v >= low if low_inclusive else v > low)
    hi_ok = high is None or (v <= high if high_inclusive else v < high)
    if not math.isfinite(v) or not (lo_ok and hi_ok):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        rng = (
            ("[" if low_inclusive and low is not None else "(")
            + f"{lo}, {hi}"
            + ("]" if high_inclusive and high is not None else ")")
        )
        raise ConfigError(f"{name}={value!r} is out of range; it must be a finite number in {rng}")
    return v
