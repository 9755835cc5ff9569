"""The divergence guard of ``camx train``: stop a run whose loss is NaN/inf or explodes.

A run diverges when a mini-batch loss is not finite, or when the smoothed loss (an exponential
moving average, debiased as in Adam) stays above ``factor`` × its running minimum *and* above chance
level (ln of the number of classes: the loss of a network that predicts nothing) for ``steps`` steps
in a row. The chance floor keeps a loss that wobbles near zero late in training (0.01 after a minimum
of 0.002) from counting: only a loss that is back to where an untrained network starts, or beyond,
does. The job then stops without writing the diverged weights, so the checkpoints of the last good
epoch stay as they were, and raises :class:`Diverged`; the CLI exits with :data:`DIVERGED_EXIT_CODE`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from camx.options.trainer import is_auto_lr

#: The exit code of ``camx train`` when the guard stopped a run (README, "Exit codes").
DIVERGED_EXIT_CODE = 4


class Diverged(Exception):
    """Training stopped because the loss diverged; the message is the one line the CLI shows."""

    exit_code = DIVERGED_EXIT_CODE


class DivergenceGuard:
    """Feed it every step's loss with :meth:`update`; it returns why the run diverged, or None."""

    def __init__(self, factor: float, steps: int, num_classes: int, beta: float = 0.9) -> None:
        self.factor, self.steps, self.beta = float(factor), int(steps), float(beta)
        self.chance = math.log(max(int(num_classes), 2))
        self.count, self.average, self.best, self.over = 0, 0.0, math.inf, 0

    @classmethod
    def from_config(cls, t: Mapping[str, Any], num_classes: int) -> DivergenceGuard:
        """The guard of ``trainer.diverge`` (``factor`` 0 checks only for NaN/inf)."""
        d = t["diverge"]
        return cls(float(d["factor"]), int(d["steps"]), num_classes)

    @property
    def smoothed(self) -> float:
        """The debiased moving average of the losses seen so far (NaN before the first)."""
        return self.average / (1 - self.beta**self.count) if self.count else math.nan

    def update(self, loss: float) -> str | None:
        """Record one step's loss; the reason (one phrase) when the run has diverged, else None."""
        if not math.isfinite(loss):
            return f"the loss is {loss}"
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smooth = self.smoothed
        self.best = min(self.best, smooth)
        exploding = self.factor > 0 and smooth > max(self.factor * self.best, self.chance)
        self.over = self.over + 1 if exploding else 0
        if self.over >= self.steps:
            return (
                f"the smoothed loss {smooth:.3g} stayed above {self.factor:g}× its minimum {self.best:.3g} "
                f"and above chance level {self.chance:.3g} for {self.steps} steps"
            )
        return None


def diverged_message(
    reason: str, epoch: int, step: int, t: Mapping[str, Any], ckpt_dir: Path, history: list[dict[str, Any]]
) -> str:
    """The one line of a run the guard stopped: where, why, which checkpoints are left, what to try."""
    where = f"training diverged at epoch {epoch + 1}, step {step + 1} ({reason}); stopped"
    if history:
        best = max(history, key=lambda h: h["val_accuracy"])
        kept = (
            f"kept the last good checkpoints: {ckpt_dir / 'best.pt'} (epoch {best['epoch']}, val acc "
            f"{best['val_accuracy']:.3f}) and {ckpt_dir / 'last.pt'} (epoch {history[-1]['epoch']})"
        )
    else:
        kept = f"no epoch had finished: {ckpt_dir / 'last.pt'} holds the starting weights"
    hint = "lower trainer.lr" + ("" if is_auto_lr(t["lr"]) else " or pass trainer.lr=auto")
    return f"{where}; {kept}; {hint} (it was {float(t['lr']):.3g})"
