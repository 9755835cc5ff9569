"""What a killed training leaves behind, recognised by the next run; the lock a resumed run holds.

Every ``run.json`` a training writes names its process (``pid``, ``host``). A run killed with
``kill -9`` (or by the machine going down) cannot update its record or remove the temp file of a
checkpoint it was writing. :func:`recover_stale`, run by every ``camx train`` (and
``trainer.resume``) before it starts, finds the records under ``outputs_dir`` whose process is gone
on this host: their ``checkpoints/.<name>.<random>.tmp`` files are removed and a ``"running"``
status becomes ``"interrupted"`` (resumable when a ``last.pt`` exists). Records from another host,
or without a pid, are left alone: whether their process lives cannot be told from here.

:func:`resume_lock` is held by a run that continues another (``trainer.resume``) for as long as it
trains: a second resume of the same run refuses with a :class:`~camx.errors.CheckpointError` (exit
code 2) instead of forking it. The lock is an OS file lock (``flock``) on ``.resume.lock`` in the
continued run's folder, so a killed holder releases it with its process.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from camx.errors import CamxError, CheckpointError
from camx.runs import read_run_record, write_run_record

__all__ = ["process_alive", "record_failure", "recover_stale", "resume_lock", "this_process"]

LOCK_NAME = ".resume.lock"


def this_process() -> dict[str, Any]:
    """The fields a ``run.json`` records of the process that writes it: ``pid`` and ``host``."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def process_alive(record: dict[str, Any]) -> bool | None:
    """Whether the process a run record names still runs: None when it cannot be told (no pid, or
    another host)."""
    pid, host = record.get("pid"), record.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or host != socket.gethostname():
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process with that pid: alive
        return True
    except OSError:
        return None
    return True


def _remove_temp_files(run_dir: Path) -> list[Path]:
    removed = []
    for tmp in (run_dir / "checkpoints").glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def recover_stale(outputs_dir: str | Path) -> list[Path]:
    """Tidy the runs under ``outputs_dir`` whose process is gone (see the module docstring); return the
    temp files removed and the ``run.json`` files marked ``"interrupted"``."""
    root = Path(outputs_dir)
    if not root.is_dir():
        return []
    changed: list[Path] = []
    for rec_path in root.rglob("run.json"):
        rec = read_run_record(rec_path.parent)
        if rec is None or rec.get("task") != "train" or process_alive(rec) is not False:
            continue
        changed += _remove_temp_files(rec_path.parent)
        if rec.get("status") == "running":
            reason = f"process {rec['pid']} on {rec['host']} ended without recording why (killed?)"
            with contextlib.suppress(OSError):
                write_run_record(rec_path.parent, {**rec, "status": "interrupted", "reason": reason})
                changed.append(rec_path)
    return changed


@contextlib.contextmanager
def resume_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the lock on ``run_dir`` (a run being continued) for the ``with`` block; CheckpointError if
    another process holds it."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only run folder: nothing can resume it into itself anyway
        yield
        return
    try:
        _lock(fd, path)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; resume as before
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        raise CheckpointError(
            f"{path.parent}: this run is already being resumed (by process {holder}); wait for it to "
            "finish or stop it, or pass trainer.resume=PATH to continue another run"
        ) from None


def record_failure(run_dir: str | Path, status: str, reason: str) -> None:
    """Set ``status`` and ``reason`` in this process's ``run.json`` in ``run_dir`` (if written and still
    "running"); a file system that refuses even that leaves the record as it was."""
    rec = read_run_record(run_dir)
    if rec is None or rec.get("status") != "running" or rec.get("pid") != os.getpid():
        return
    with contextlib.suppress(CamxError, OSError):
        write_run_record(Path(run_dir), {**rec, "status": status, "reason": reason})
