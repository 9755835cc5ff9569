"""Errors a user can fix. The CLI turns each into one line and its ``exit_code``.

Exit codes (README "Exit codes", docs/ERRORS.md): 0 success, 1 a ``--fail-under`` gate missed,
:data:`USER_ERROR` (2) a path, config value, image or checkpoint the user can correct,
:data:`IO_ERROR` (3) the file system refused a write or read (disk full, file-size limit, quota,
permission, read-only folder), 4 ``camx train`` stopped by the divergence guard
(:data:`camx.jobs.guard.DIVERGED_EXIT_CODE`), 130 interrupted.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

USER_ERROR = 2
IO_ERROR = 3


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


class StorageError(CamxError):
    """The file system refused an operation (disk full, file-size limit, quota, permission, read-only)."""

    exit_code = IO_ERROR

    def __init__(self, message: str, path: str | Path | None = None, errno_: int | None = None) -> None:
        super().__init__(message)
        self.path, self.errno = path, errno_


#: errno → what to do about it, for the errors :func:`storage_error` explains
_IO_HINTS = {
    errno.ENOSPC: "free disk space or set outputs_dir= to another disk",
    errno.EFBIG: "the file-size limit (ulimit -f) or the file system's maximum file size was reached; "
    "raise the limit or set outputs_dir= to another disk",
    errno.EDQUOT: "the disk quota is exhausted; free space or set outputs_dir= elsewhere",
    errno.EACCES: "check the folder's permissions or set outputs_dir= to a folder you can write",
    errno.EPERM: "check the folder's permissions or set outputs_dir= to a folder you can write",
    errno.EROFS: "the file system is read-only; set outputs_dir= to a writable folder",
    errno.EIO: "the device reported an I/O error; check the disk",
}

#: OSErrors that are the file system's refusal rather than a missing input (exit code 3)
IO_ERRNOS: frozenset[int] = frozenset(_IO_HINTS)


def storage_error(exc: OSError, path: str | Path | None = None, action: str = "cannot write") -> StorageError:
    """The one-line StorageError for ``exc``: the path, the errno's name and meaning, and what to do."""
    code = exc.errno
    where = path if path is not None else (exc.filename or "a file")
    name = errno.errorcode.get(code, "") if code is not None else ""
    meaning = os.strerror(code) if code is not None else str(exc)
    hint = _IO_HINTS.get(code, "check the disk and the folder's permissions") if code is not None else ""
    text = f"{where}: {action}: {meaning}" + (f" ({name})" if name else "") + (f"; {hint}" if hint else "")
    return StorageError(text, where, code)


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


def check_chunk_size(value: object, name: str = "chunk_size") -> int | str:
    """``value`` if it is ``"auto"`` or a positive integer, else a ConfigError naming ``name``."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value  # type: ignore[return-value]
    raise ConfigError(f"{name}={value!r} is not valid; use auto (sized to the input) or an integer ≥ 1")


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


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless ``count`` is 1.

    ``plural(1, "epoch")`` is ``"1 epoch"``, ``plural(6, "epoch")`` is ``"6 epochs"``; ``nouns`` gives a
    plural that is not ``noun + "s"``: ``plural(2, "entry", "entries")`` is ``"2 entries"``.
    """
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
