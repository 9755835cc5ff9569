"""Images imagefolder could not read: left out of every batch, each reported once.

An :class:`~camx.data.folder.ImageFolderDataset` drops files whose header cannot be read when it is
built (its ``failures``) and turns a file that fails to decode later into a blank sample flagged
``valid == 0`` with its ``path`` and ``error``, so batches stay whole. Jobs pass each batch through
:func:`drop_unreadable`, which removes those samples and records them in a :class:`SkipLog`.
Datasets without a ``valid`` field (shapes, CIFAR-10, …) pass unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch


class SkipLog:
    """Unreadable images, path → reason, each announced once through ``note``."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self.note = note
        self.items: dict[str, str] = {}

    def add(self, found: Mapping[str, str]) -> None:
        for path, reason in found.items():
            if path not in self.items:
                self.items[path] = reason
                self.note(f"skipped unreadable image {path}: {reason}")

    def add_failures(self, datasets: Iterable[Any]) -> None:
        """The files each dataset left out when it was built (imagefolder's ``failures``)."""
        for dataset in datasets:
            self.add({f.path: f.reason for f in getattr(dataset, "failures", [])})


def unreadable(batch: Mapping[str, Any]) -> dict[str, str]:
    """Path → reason of the samples of an imagefolder batch that could not be decoded (``valid == 0``)."""
    if "valid" not in batch:
        return {}
    bad = (~batch["valid"].bool()).nonzero().flatten().tolist()
    return {str(batch["path"][i]): str(batch["error"][i]) for i in bad}


def drop_unreadable(batch: dict[str, Any], log: SkipLog | None = None) -> dict[str, Any] | None:
    """``batch`` without its unreadable samples (recorded in ``log``); None when none is left.

    Every field with one entry per sample (tensors and lists) is filtered alike.
    """
    if "valid" not in batch:
        return batch
    if log is not None:
        log.add(unreadable(batch))
    keep = batch["valid"].bool()
    if bool(keep.all()):
        return batch
    if not bool(keep.any()):
        return None
    n, rows = len(keep), keep.tolist()
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.ndim and len(value) == n:
            value = value[keep]
        elif isinstance(value, list | tuple) and len(value) == n:
            value = [v for v, ok in zip(value, rows) if ok]
        out[key] = value
    return out


__all__ = ["SkipLog", "drop_unreadable", "unreadable"]
