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
from typing import Any

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
        d = t.get("diverge") or {}
        return cls(float(d.get("factor", 4.0)), int(d.get("steps", 10)), num_classes)

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
