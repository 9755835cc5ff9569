"""Signals and DataLoader workers of ``camx train``: SIGINT/SIGTERM become a flag the loop polls.

Workers ignore both signals (Ctrl-C reaches the whole process group), so the main process can stop
at the next step, save its state and shut them down, then raise :class:`Interrupted`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """Training was stopped by a signal; ``checkpoint`` holds the resumable state."""

    def __init__(self, checkpoint: Path, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}; state saved to {checkpoint}")
        self.checkpoint, self.signum = checkpoint, signum


def worker_context() -> Any:
    """Start data-loading workers with ``fork`` on Linux (its usual default). Inside a joblib (loky)
    worker, as under ``hydra/launcher=parallel``, the default context is loky's own, whose processes
    the DataLoader cannot start. Elsewhere (macOS, Windows) the platform default is kept."""
    import multiprocessing
    import sys

    return multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None


def ignore_stop_signals(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGINT/SIGTERM (Ctrl-C reaches the whole process group).

    The main process stops cleanly at the next step and shuts its workers down; a worker killed by
    the signal instead would make PyTorch abort the main process with "worker exited unexpectedly".
    """
    for s in _STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Block SIGINT/SIGTERM while DataLoader workers are forked, so none dies before it can ignore them.

    A signal arriving meanwhile stays pending and reaches the main process's handler on exit.
    """
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Turn SIGINT/SIGTERM into a flag the loop polls (restoring the previous handlers afterwards)."""
    flag = threading.Event()
    flag.signum = 0  # type: ignore[attr-defined]
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, _frame: Any) -> None:
        flag.signum = signum  # type: ignore[attr-defined]
        flag.set()

    previous = {s: signal.signal(s, handler) for s in _STOP_SIGNALS}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
