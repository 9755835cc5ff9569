"""The state of one ``camx train`` run while it trains: what it was built from and where it has got to.

:func:`camx.jobs.train.train` fills a :class:`TrainingRun` step by step; ``status`` gives the
``run.json`` contents and ``payload`` a checkpoint (:mod:`camx.checkpoint` defines what one holds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from camx import distributed
from camx.checkpoint import checkpoint_payload, save_checkpoint, training_state
from camx.data.unreadable import SkipLog
from camx.jobs.guard import Diverged, DivergenceGuard, diverged_message
from camx.jobs.progress import Reporter
from camx.jobs.resume import mark_resumed
from camx.jobs.signals import Interrupted
from camx.runs import write_run_record


def fresh_sums() -> dict[str, float]:
    return {"loss": 0.0, "correct": 0.0, "seen": 0.0}


@dataclass
class TrainingRun:
    """One training run while it trains: what it was built from, and where it has got to."""

    cfg: Mapping[str, Any]
    t: Mapping[str, Any]  #: ``cfg.trainer``, with the learning rate ``trainer.lr=auto`` chose
    run_dir: Path
    ctx: distributed.Context
    device: torch.device
    reporter: Reporter
    resume_from: Path | None
    data_cfg: dict[str, Any] = field(default_factory=dict)
    train_set: Dataset | None = None
    val_set: Dataset | None = None
    classes: list[str] = field(default_factory=list)
    log: SkipLog | None = None  #: unreadable images, path → reason, each reported once
    model: nn.Module | None = None  #: the unwrapped module (``net`` is DDP when distributed)
    net: nn.Module | None = None
    channels_last: bool = False
    lr_found: dict[str, Any] | None = None
    opt: torch.optim.Optimizer | None = None
    sched: torch.optim.lr_scheduler.LRScheduler | None = None
    guard: DivergenceGuard | None = None
    record: dict[str, Any] = field(default_factory=dict)  #: the fixed fields of ``run.json``
    history: list[dict[str, float]] = field(default_factory=list)
    start_epoch: int = 0
    start_step: int = 0
    best_acc: float = -1.0
    partial: dict[str, float] = field(default_factory=fresh_sums)  #: the epoch's loss/correct/seen sums
    start_state: dict[str, Any] | None = None  #: last.pt while the run has written none (held in memory)
    config: dict[str, Any] = field(default_factory=dict)  #: the composed config, as checkpoints keep it
    started: float = 0.0
    images_done: int = 0

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def frozen(self) -> bool:
        return bool(self.t["freeze_backbone"])

    @property
    def epochs(self) -> int:
        return int(self.t["epochs"])

    @property
    def steps_per_epoch(self) -> int:
        """Mini-batches per epoch in this process (its shard of the training set when distributed)."""
        return math.ceil(distributed.shard_size(len(self.train_set), self.ctx) / int(self.t["batch_size"]))

    def status(self, **fields: Any) -> dict[str, Any]:
        """``run.json`` contents: the record, ``fields`` and the images skipped so far."""
        skipped = [{"path": k, "reason": v} for k, v in self.log.items.items()]
        return {**self.record, **fields, "skipped_images": skipped}

    def payload(self, epoch: int, step: int, metrics: dict[str, Any], full: bool) -> dict[str, Any]:
        """A checkpoint of the run at (``epoch``, ``step``); ``full`` adds the state to resume from."""
        meta = {
            "arch": self.cfg["model"]["arch"],
            "head": self.cfg["model"]["head"],
            "num_classes": len(self.classes),
            "class_names": self.classes,
            "model": dict(self.cfg["model"]),
            "config": self.config,
            "dataset": self.cfg["dataset"]["name"],
            "image_size": int(self.data_cfg["image_size"]),
        }
        data = checkpoint_payload(self.model, meta, metrics)
        if full:
            position = {"epoch": epoch, "step": step, "partial": dict(self.partial)}
            data.update(training_state(self.opt, self.sched, position))
        return data

    def checkpoint_metrics(self, val_accuracy: float | None = None) -> dict[str, Any]:
        """The ``metrics`` a checkpoint keeps: history, best (and this epoch's) val accuracy, skipped images, lr_find."""
        latest = {} if val_accuracy is None else {"val_accuracy": val_accuracy}
        return {
            "history": self.history,
            "best_val_accuracy": self.best_acc,
            **latest,
            "skipped_images": dict(self.log.items),
            "lr_find": self.lr_found,
        }

    def save_epoch(self, epoch: int, improved: bool) -> None:
        """``best.pt`` when the epoch improved, ``last.pt`` always, and ``run.json`` (rank 0 only)."""
        if not self.ctx.is_main:
            return
        metrics = self.checkpoint_metrics(self.history[-1]["val_accuracy"])
        if improved:
            save_checkpoint(self.ckpt_dir / "best.pt", self.payload(epoch + 1, 0, metrics, False))
        save_checkpoint(self.ckpt_dir / "last.pt", self.payload(epoch + 1, 0, metrics, True))
        self.start_state = None
        write_run_record(self.run_dir, self.status(epoch=epoch + 1, best_val_accuracy=self.best_acc))
        if self.resume_from is not None:  # this run now holds its own resumable state
            mark_resumed(self.resume_from, self.run_dir)

    def interrupt(self, epoch: int, step: int, signum: int) -> None:
        """Stop on a signal: ``last.pt`` at this exact step (the next one to take is ``step + 1``), then
        :class:`~camx.jobs.signals.Interrupted`."""
        if self.ctx.is_main:
            save_checkpoint(
                self.ckpt_dir / "last.pt", self.payload(epoch, step + 1, self.checkpoint_metrics(), True)
            )
            write_run_record(self.run_dir, self.status(status="interrupted", epoch=epoch))
            if self.resume_from is not None:
                mark_resumed(self.resume_from, self.run_dir)
        self.reporter.end()
        raise Interrupted(self.ckpt_dir / "last.pt", signum)

    def diverge(self, epoch: int, step: int, reason: str | None) -> None:
        """Stop a run the guard caught: keep the last good checkpoints (or the start state), say so in
        ``run.json``, raise :class:`~camx.jobs.guard.Diverged`."""
        if self.ctx.is_main:
            if self.start_state is not None:  # no checkpoint of this run yet: its starting state
                save_checkpoint(self.ckpt_dir / "last.pt", self.start_state)
            fields = {"epoch": epoch, "step": step + 1, "reason": reason, "best_val_accuracy": self.best_acc}
            write_run_record(self.run_dir, self.status(status="diverged", **fields))
        self.reporter.end()
        raise Diverged(diverged_message(reason, epoch, step, self.t, self.ckpt_dir, self.history))


def plain_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` as plain containers (interpolations resolved), as checkpoints and reports keep it."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)


__all__ = ["TrainingRun", "fresh_sums", "plain_config"]
