"""The data side of ``camx train``: epoch order, seeded loaders, training batches, validation accuracy.

Every DataLoader gets its own seeded generator, so creating one (e.g. the fresh loader of a resumed
epoch) never draws from the global RNG that dropout and DropKey use. Samples imagefolder could not
decode are left out of every batch (:func:`camx.data.unreadable.drop_unreadable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from camx.data.transforms import normalize
from camx.data.unreadable import SkipLog, drop_unreadable


def epoch_size(t: Mapping[str, Any], epoch: int) -> int | None:
    """Input side of ``epoch`` under progressive resizing (``trainer.sizes``: one side per epoch, the last
    repeated), or None to keep the dataset's size."""
    sizes = t["sizes"]
    if not sizes:
        return None
    sizes = list(sizes)
    return int(sizes[min(epoch, len(sizes) - 1)])


def loader_generator(seed: int, epoch: int) -> torch.Generator:
    """A private generator for a DataLoader: its base seed never comes from (or advances) the global RNG."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch + 1)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The sample order of ``epoch``: a permutation of ``range(n)`` that depends on ``seed`` and ``epoch`` only."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def batch_inputs(
    batch: dict[str, Any],
    device: torch.device,
    side: int | None,
    channels_last: bool,
    log: SkipLog | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A training batch's normalised inputs (resized to ``side`` when set) and labels, without the samples
    imagefolder could not decode (recorded in ``log``); None when none is left."""
    kept = drop_unreadable(batch, log)
    if kept is None:
        return None
    x = normalize(kept["image"].to(device, non_blocking=True))
    y = kept["label"].to(device)
    if side and tuple(x.shape[-2:]) != (side, side):  # progressive resizing
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def evaluate_accuracy(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device,
    batch_size: int,
    channels_last: bool = False,
    log: SkipLog | None = None,
) -> tuple[float, float]:
    """(accuracy, mean softmax probability of the true class) of ``model`` on ``dataset``.

    Samples flagged unreadable (imagefolder's ``valid == 0``) are left out and recorded in ``log``.
    """
    was_training = model.training
    model.eval()
    correct, conf, n = 0, 0.0, 0
    with torch.inference_mode():
        for batch in DataLoader(dataset, batch_size=batch_size, generator=loader_generator(0, -1)):
            inputs = batch_inputs(batch, device, None, channels_last, log)
            if inputs is None:
                continue
            x, y = inputs
            probs = model(x).float().softmax(1)
            correct += int((probs.argmax(1) == y).sum())
            conf += float(probs.gather(1, y[:, None]).sum())
            n += len(y)
    model.train(was_training)
    return correct / max(n, 1), conf / max(n, 1)


__all__ = ["batch_inputs", "epoch_order", "epoch_size", "evaluate_accuracy", "loader_generator"]
