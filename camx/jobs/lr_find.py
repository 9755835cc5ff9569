"""The learning-rate range test of ``trainer.lr=auto`` (Smith 2017; fastai's ``lr_find``, Lightning's Tuner).

The model trains for ``trainer.lr_find.steps`` mini-batches with the run's optimizer while the
learning rate rises exponentially from ``start`` to ``end``; the sweep stops early once the smoothed
loss is above 4× its minimum or not finite. The weights (BatchNorm statistics included) and the global
RNG state are restored afterwards, so the run then starts exactly as it would with that learning rate
given by hand. The suggestion is the smaller of the learning rate at the minimum of the smoothed
loss divided by 10 (fastai's ``lr_min``) and the learning rate where the smoothed loss falls fastest
(Lightning's suggestion).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

#: The sweep stops once the smoothed loss is this many times its minimum (fastai's and Lightning's rule).
STOP_FACTOR = 4.0
#: Smoothing of the loss curve (an exponential moving average, debiased; fastai's 0.98 suits 100+ steps).
BETA = 0.9


@dataclass
class LrFindResult:
    """The sweep's learning rates and smoothed losses, and the learning rates read off them."""

    lr: float  #: the suggestion the run trains with
    min_loss_lr: float  #: the learning rate at the minimum of the smoothed loss
    steepest_lr: float  #: the learning rate where the smoothed loss falls fastest (per log-lr)
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def record(self) -> dict[str, object]:
        """What ``run.json`` and the checkpoints keep of the test."""
        return {
            "lr": self.lr,
            "min_loss_lr": self.min_loss_lr,
            "steepest_lr": self.steepest_lr,
            "steps": len(self.lrs),
            "lrs": self.lrs,
            "losses": self.losses,
        }


def suggest(lrs: list[float], losses: list[float]) -> tuple[float, float, float]:
    """(suggestion, min-loss lr, steepest lr) of a sweep's smoothed loss curve.

    The steepest point is looked for before the minimum, past the first tenth of the sweep (where the
    moving average has not settled); the suggestion is min(min-loss lr / 10, steepest lr).
    """
    if not lrs:
        raise ValueError("the learning-rate sweep recorded no finite loss")
    low = min(range(len(losses)), key=losses.__getitem__)
    min_lr = lrs[low]
    skip = max(1, len(lrs) // 10)
    slopes = [
        (losses[i + 1] - losses[i - 1]) / (math.log(lrs[i + 1]) - math.log(lrs[i - 1]))
        for i in range(skip, low)
        if i + 1 < len(lrs)
    ]
    steepest = lrs[skip + min(range(len(slopes)), key=slopes.__getitem__)] if slopes else min_lr / 10
    return min(min_lr / 10, steepest), min_lr, steepest


def lr_range_test(
    model: nn.Module,
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    start: float,
    end: float,
) -> LrFindResult:
    """Sweep ``optimizer``'s learning rate from ``start`` to ``end`` over ``steps`` mini-batches.

    ``step(x, y)`` returns the loss of one mini-batch (forward only; the sweep does the backward pass
    and the update). ``batches`` yields (inputs, labels) and may be shorter than ``steps``. The weights
    of ``model`` and the global RNG state are put back as they were before the sweep.
    """
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    gamma = (end / start) ** (1.0 / max(steps - 1, 1))
    lrs: list[float] = []
    losses: list[float] = []
    average, best = 0.0, math.inf
    try:
        for i, (x, y) in zip(range(steps), batches):
            lr = start * gamma**i
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = step(x, y)
            value = float(loss.detach())
            if not math.isfinite(value):
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            average = BETA * average + (1 - BETA) * value
            smooth = average / (1 - BETA ** (i + 1))
            lrs.append(lr)
            losses.append(smooth)
            best = min(best, smooth)
            if smooth > STOP_FACTOR * best:
                break
    finally:
        model.load_state_dict(saved)
        torch.set_rng_state(rng)
        optimizer.zero_grad(set_to_none=True)
    lr, min_lr, steepest = suggest(lrs, losses)
    return LrFindResult(lr, min_lr, steepest, lrs, losses)
