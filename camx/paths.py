"""Where a job may write: checks of ``outputs_dir`` and the run dir's folder before any work starts.

A run writes into its run dir only (``<outputs_dir>/<command>/<date>_…``, or ``hydra.run.dir`` /
``hydra.sweep.dir`` when given). So an ``outputs_dir`` that is empty or the file-system root (``/``,
``//``, ``/..``, ``C:\\``) would scatter runs over the root and is refused (:func:`check_output_root`),
and a folder that cannot be written is reported before anything is computed (:func:`check_writable`).
Both are torch-free and create nothing.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from camx.errors import ConfigError, StorageError, storage_error

__all__ = ["check_output_root", "check_writable"]


def check_output_root(value: object, key: str = "outputs_dir") -> Path:
    """``value`` as a Path if it names a folder below the file-system root; else a one-line ConfigError."""
    if value is None or not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        shown = "empty" if value is None or not str(value).strip() else f"{value!r}, not a path"
        raise ConfigError(
            f"{key} is {shown}: runs would be written to the file-system root; "
            f"set {key}=outputs (the default) or another folder"
        )
    path = Path(str(value))
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
        raise ConfigError(f"{key}={value!r} is not a usable path ({exc}); choose another folder") from None
    if resolved == Path(resolved.anchor):
        raise ConfigError(
            f"{key}={value!r} is the file-system root: runs would be scattered over it; "
            f"set {key}=outputs (the default) or a folder below the root"
        )
    return path


def _existing_ancestor(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_writable(folder: str | Path, key: str = "outputs_dir") -> None:
    """Refuse a run dir folder that cannot be created or written, before any work: a file on the way is
    a ConfigError (exit 2), a read-only or forbidden folder a StorageError (exit 3)."""
    path = Path(folder)
    base = _existing_ancestor(path)
    if not base.is_dir():
        raise ConfigError(
            f"{key}={str(folder)!r}: {base} is a file, not a folder; set {key} to a folder path"
        )
    if os.access(base, os.W_OK | os.X_OK):
        return
    code = errno.EACCES
    try:
        if os.statvfs(base).f_flag & getattr(os, "ST_RDONLY", 1):
            code = errno.EROFS
    except (OSError, AttributeError):
        pass
    err: StorageError = storage_error(OSError(code, os.strerror(code)), base, "cannot write there")
    raise err
