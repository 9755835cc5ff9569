"""The conditions of ``camx eval``: clean first, then each perturbation level (or their chained product)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from camx import perturb as P
from camx.config import levels_of, perturbation_grid
from camx.options.perturb import DEFAULT_NOISE_SPACE


@dataclass(frozen=True)
class Condition:
    """One perturbation setting: ``steps`` applied in order (empty → clean)."""

    name: str
    level: float | str
    steps: tuple[tuple[str, float], ...]
    axis: str = "horizontal"
    noise_space: str = DEFAULT_NOISE_SPACE  #: perturb.noise.space: the units of the noise variance

    @property
    def first_level(self) -> float:
        """The record's ``level``: the level, a composed chain's first step's (``compose=true``)."""
        return float(self.steps[0][1]) if len(self.steps) > 1 else float(self.level)

    @property
    def levels(self) -> list[float] | None:
        """The record's ``levels``: each step's level of a composed chain; None for one perturbation."""
        return [float(v) for _, v in self.steps] if len(self.steps) > 1 else None

    @property
    def geometric(self) -> bool:
        return any(kind in P.GEOMETRIC for kind, _ in self.steps)


def conditions(cfg: Mapping[str, Any]) -> list[Condition]:
    """Clean first, then each perturbation level (or the chained product with ``compose``)."""
    out = [Condition("none", 0.0, ())]
    grid = [(kind, params) for kind, params in perturbation_grid(cfg["perturb"]) if kind != "none"]
    axis = next((str(p.get("axis")) for k, p in grid if k == "stretch" and p.get("axis")), "horizontal")
    space = next(
        (str(p.get("space")) for k, p in grid if k == "noise" and p.get("space")), DEFAULT_NOISE_SPACE
    )
    if cfg["compose"] and len(grid) > 1:
        names = "+".join(k for k, _ in grid)
        for combo in itertools.product(*[levels_of(k, p) for k, p in grid]):
            level = "+".join(f"{v:g}" for v in combo)
            out.append(Condition(names, level, tuple(zip([k for k, _ in grid], combo)), axis, space))
        return out
    for kind, params in grid:
        for level in levels_of(kind, params):
            out.append(Condition(kind, level, ((kind, level),), str(params.get("axis", axis)), space))
    return out


Perturbed = list[tuple[Condition, torch.Tensor, torch.Tensor | None]]


def perturb_all(
    conds: list[Condition],
    images: torch.Tensor,
    masks: torch.Tensor | None,
    seed: int,
    keys: list[int],
    std: tuple[float, ...] | None = None,
) -> Perturbed:
    """(condition, images, masks) for every condition: the batch perturbed as each says; ``std`` is the
    model's per-channel input std, the unit of ``normalized`` noise."""
    out = []
    for cond in conds:
        if cond.steps:
            x, m = P.apply_chain(
                list(cond.steps),
                images,
                masks=masks,
                seed=seed,
                keys=keys,
                axis=cond.axis,
                noise_space=cond.noise_space,
                std=std,
            )
        else:
            x, m = images, masks
        out.append((cond, x, m))
    return out


__all__ = ["Condition", "Perturbed", "conditions", "perturb_all"]
