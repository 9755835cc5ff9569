"""The metric tables of ``camx eval``: one entry per metric, keyed by its id.

:data:`PREDICTION_METRICS` are scored once per condition from the predicted probabilities;
:data:`MAP_METRICS` for every method's maps. An entry is a function ``Scoring → {metric name:
per-image values}`` that returns ``{}`` when it does not apply (no masks; switched off in
``configs/eval.yaml``). To add a metric, write its function, add one line to a table and its name(s)
to :data:`camx.options.metrics.METRICS`; each name it returns becomes a ``metric`` of ``metrics.json``
(mean and 95% CI over images, see :class:`Accumulator`). See :mod:`camx.jobs.evaluate` for an example.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from camx import metrics as M
from camx import perturb as P
from camx.jobs.eval_conditions import Condition

Forward = Callable[[torch.Tensor], torch.Tensor]
Scores = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Scoring:
    """What a metric function is given: one condition of one batch (and, for map metrics, one method)."""

    cfg: Mapping[str, Any]  #: the eval config (``configs/eval.yaml``): a metric's own switches live there
    cond: Condition
    forward: Forward  #: images in [0, 1] → softmax probabilities (no gradient)
    images: torch.Tensor  #: (B, 3, H, W) in [0, 1], perturbed as ``cond`` says
    labels: torch.Tensor  #: (B,) the true classes, which the maps explain
    probs: torch.Tensor  #: (B, K) softmax probabilities of ``images``
    masks: torch.Tensor | None  #: (B, 1, H, W) object masks moved like the images, or None
    maps: torch.Tensor | None = None  #: (B, H, W) in [0, 1]: the method's maps (map metrics only)
    clean: torch.Tensor | None = None  #: the method's maps of the clean images (None under ``none``)

    def reference(self) -> torch.Tensor:
        """The clean maps moved as the images were (geometric perturbations), to compare ``maps`` with."""
        assert self.clean is not None
        if not self.cond.geometric:
            return self.clean
        return P.warp_chain(list(self.cond.steps), self.clean, axis=self.cond.axis)


def _accuracy(s: Scoring) -> Scores:
    return {"accuracy": (s.probs.argmax(1) == s.labels).float()}


def _confidence(s: Scoring) -> Scores:
    return {"confidence": s.probs.gather(1, s.labels[:, None])[:, 0]}


def _confidence_pred(s: Scoring) -> Scores:
    return {"confidence_pred": s.probs.max(1).values}


def _average_drop(s: Scoring) -> Scores:
    if not s.cfg["average_drop"]:
        return {}
    drop, inc = M.average_drop_increase(s.forward, s.images, s.maps, s.labels, base_probs=s.probs)
    return {"average_drop": drop, "increase_in_confidence": inc}


def _deletion_insertion(s: Scoring) -> Scores:
    steps = int(s.cfg["faithfulness_steps"])
    if steps <= 0:
        return {}
    dele, ins = M.deletion_insertion_auc(s.forward, s.images, s.maps, s.labels, steps=steps)
    return {"deletion_auc": dele, "insertion_auc": ins}


def _on_objects(
    s: Scoring, metric: str, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> Scores:
    """A localisation score over the images whose mask holds an object (none without masks)."""
    if s.masks is None:
        return {}
    present = M.has_object(s.masks)
    if not bool(present.any()):
        return {}
    return {metric: score(s.maps, s.masks)[present]}


def _pointing_game(s: Scoring) -> Scores:
    return _on_objects(s, "pointing_game", M.pointing_game)


def _energy_pointing_game(s: Scoring) -> Scores:
    return _on_objects(s, "energy_pointing_game", M.energy_pointing_game)


def _iou(s: Scoring) -> Scores:
    return _on_objects(s, "iou", lambda maps, masks: M.iou(maps, masks, float(s.cfg["iou_threshold"])))


def _stability(s: Scoring) -> Scores:
    if s.clean is None:
        return {}
    ref = s.reference()
    return {"stability_pearson": M.pearson(ref, s.maps), "stability_ssim": M.ssim(ref, s.maps)}


#: id → function of the metrics scored once per condition from the predictions (no map).
PREDICTION_METRICS: dict[str, Callable[[Scoring], Scores]] = {
    "accuracy": _accuracy,
    "confidence": _confidence,
    "confidence_pred": _confidence_pred,
}

#: id → function of the metrics scored for every method's maps, in this order.
MAP_METRICS: dict[str, Callable[[Scoring], Scores]] = {
    "average_drop": _average_drop,  # Average Drop % and Increase in Confidence % (Chattopadhay et al., WACV 2018)
    "deletion_insertion": _deletion_insertion,  # RISE (Petsiuk et al., BMVC 2018)
    "pointing_game": _pointing_game,
    "energy_pointing_game": _energy_pointing_game,
    "iou": _iou,
    "stability": _stability,  # clean maps vs the perturbed images' maps: Pearson r and SSIM
}


class Accumulator:
    """Per-image values per (checkpoint, method, condition, metric), summarised into records."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str | None, str, Any, str], list[float]] = defaultdict(list)

    def add(self, label: str, method: str | None, cond: Condition, metric: str, values: torch.Tensor) -> None:
        self.values[(label, method, cond.name, cond.level, metric)] += values.detach().float().cpu().tolist()

    def score(
        self, table: Mapping[str, Callable[[Scoring], Scores]], s: Scoring, label: str, method: str | None
    ) -> None:
        """Every metric of ``table`` on ``s``, filed under (``label``, ``method``, ``s.cond``)."""
        for fn in table.values():
            for metric, values in fn(s).items():
                self.add(label, method, s.cond, metric, values)

    def records(self, models: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for (label, method, cond, level, metric), vals in self.values.items():
            s = M.mean_ci(vals)
            if s.n == 0:
                continue
            info = models[label]
            out.append(
                {
                    "model": info["arch"],
                    "head": info.get("head", label),
                    "run": label,
                    "seed": info.get("seed"),
                    "mask_ratio": info.get("mask_ratio"),
                    "checkpoint": info["path"],
                    "method": method,
                    "perturbation": cond,
                    "level": level,
                    "metric": metric,
                    "value": s.mean,
                    "ci_low": s.ci_low,
                    "ci_high": s.ci_high,
                    "n": s.n,
                }
            )
        return out


__all__ = ["MAP_METRICS", "PREDICTION_METRICS", "Accumulator", "Scoring", "Scores"]
