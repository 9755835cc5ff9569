"""Files written atomically: through a temp file in the same folder, renamed into place.

A reader (or a crash) never sees a half-written checkpoint, metrics file or figure. When the file
system refuses the write (disk full, file-size limit, quota, permission, read-only folder), the temp
file is removed and a :class:`~camx.errors.StorageError` names the path and the errno's meaning
(exit code 3), even when the writer (``torch.save``) wraps the ``OSError`` in an error of its own.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from camx.errors import StorageError, storage_error


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class _Recorder:
    """A binary file wrapper that remembers the OSError its ``write`` raised (``torch.save`` turns it into
    a RuntimeError without the errno)."""

    def __init__(self, fh: Any) -> None:
        self._fh, self.error = fh, None

    def write(self, data: Any) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self._fh.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, exc.filename or folder, "cannot create the folder") from None


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Write through a temp file in the same folder and rename it into place (never half-written).

    ``write(fh)`` writes the content to the binary file ``fh``. The file gets the usual permissions
    (0666 minus the umask), not the temp file's private 0600. A refused write raises StorageError.
    """
    path = Path(path)
    _mkdir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise storage_error(exc, path) from None
    recorder = None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            recorder = _Recorder(fh)
            write(recorder)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, StorageError):
            raise
        cause = recorder.error if recorder is not None and recorder.error is not None else exc
        if isinstance(cause, OSError) and cause.errno is not None:
            raise storage_error(cause, path) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))
