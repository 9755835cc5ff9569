"""What ``camx train`` optimises and how: optimizer, schedule, a frozen backbone, ``trainer.lr=auto``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from camx.jobs.lr_find import LrFindResult, lr_range_test
from camx.jobs.train_data import batch_inputs, epoch_size, loader_generator


def build_optimizer(model: nn.Module, t: Mapping[str, Any]) -> torch.optim.Optimizer:
    """AdamW or SGD (Nesterov) over the trainable parameters; biases and norm weights get no weight decay."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:  # a frozen backbone's parameters are not optimised
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": float(t["weight_decay"])},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if t["optimizer"] == "adamw":
        return torch.optim.AdamW(groups, lr=float(t["lr"]))
    return torch.optim.SGD(groups, lr=float(t["lr"]), momentum=float(t["momentum"]), nesterov=True)


def build_scheduler(
    opt: torch.optim.Optimizer, t: Mapping[str, Any], total: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """``trainer.schedule`` over ``total`` steps: one-cycle (warm-up fraction ``trainer.warmup``), cosine or constant."""
    if t["schedule"] == "onecycle" and total >= 4:
        pct = min(max(float(t["warmup"]), 2.0 / total), 0.5)  # at least two warm-up steps
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=float(t["lr"]), total_steps=total, pct_start=pct
        )
    if t["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def freeze_backbone(model: nn.Module) -> None:
    """Stop training everything outside ``model.head``: no gradients, and (see :func:`train_mode`)
    BatchNorm statistics kept as loaded. The backbone's forward pass then builds no autograd graph."""
    for name, param in model.named_parameters():
        if not name.startswith("head."):
            param.requires_grad_(False)


def train_mode(model: nn.Module, frozen_backbone: bool) -> None:
    """``model.train()``, except that a frozen backbone stays in eval mode."""
    model.train()
    if frozen_backbone:
        for name, child in model.named_children():
            if name != "head":
                child.eval()


def find_lr(
    model: nn.Module,
    net: nn.Module,
    train_set: Dataset,
    t: Mapping[str, Any],
    device: torch.device,
    channels_last: bool,
) -> LrFindResult:
    """``trainer.lr=auto``: the range test of :mod:`camx.jobs.lr_find` on the training set, with the run's
    optimizer and batch size (weights and RNG state restored afterwards)."""
    f = t["lr_find"]
    start, bs, seed = float(f["start"]), int(t["batch_size"]), int(t["seed"])

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for sweep in itertools.count():  # as many passes over the training set as the sweep needs
            g = loader_generator(seed, -2 - sweep)
            for batch in DataLoader(train_set, batch_size=bs, shuffle=True, generator=g):
                inputs = batch_inputs(batch, device, epoch_size(t, 0), channels_last)
                if inputs is not None:
                    yield inputs

    was_training = model.training
    train_mode(model, bool(t["freeze_backbone"]))
    try:
        return lr_range_test(
            model,
            lambda x, y: nn.functional.cross_entropy(net(x), y),
            batches(),
            build_optimizer(model, {**t, "lr": start}),
            steps=int(f["steps"]),
            start=start,
            end=float(f["end"]),
        )
    finally:
        model.train(was_training)


__all__ = ["build_optimizer", "build_scheduler", "find_lr", "freeze_backbone", "train_mode"]
