"""The metric tables of ``camx eval``: one entry per metric, keyed by its id.

:data:`PREDICTION_METRICS` are scored once per condition from the predicted probabilities;
:data:`MAP_METRICS` for every method's maps. An entry is a function ``Scoring → {metric name:
per-image values}`` that returns ``{}`` when it does not apply (no masks; switched off in
``configs/eval.yaml``). To add a metric, write its function, add one line to a table and its name(s)
to :data:`camx.options.metrics.METRICS`; each name it returns becomes a ``metric`` of ``metrics.json``
(mean and 95% CI over images, :func:`camx.metrics.metric_ci`). See :mod:`camx.jobs.evaluate` for an example.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from camx import metrics as M
from camx import perturb as P
from camx.cam.score import chunk_for
from camx.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from camx.jobs.eval_conditions import Condition
from camx.jobs.explain import explain_checked
from camx.metrics.complexity import complexity, sparseness
from camx.metrics.randomisation import Explain, random_logit
from camx.metrics.road import road
from camx.metrics.sensitivity import sensitivity
from camx.options.cam import explain_settings, method_options

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
    keys: list[int] | None = None  #: the images' numbers in the split: per-image seeds of random draws
    seed: int = 0  #: the eval seed
    #: ([0, 1] images, targets) → the method's maps: metrics that explain other inputs or classes
    explain: Explain | None = None
    std: tuple[float, ...] = IMAGENET_STD  #: the model's input normalisation std (ROAD's noise scale)
    fill: tuple[float, ...] = IMAGENET_MEAN  #: the model's normalisation mean: where AD/IC's map is 0
    method: str | None = None  #: the method whose ``maps`` these are (map metrics only)
    #: what every method of a condition shares (``replace`` keeps the dict): "maps", every method's maps
    #: (metrics that score them together); "probs", ``forward``'s probabilities of ``images`` when known;
    #: and what metrics compute once for all methods (see :meth:`once`)
    shared: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def chunk(self) -> int:
        """Images per metric forward: ``cam.chunk_size`` (``auto``: sized to the images, as the score family)."""
        size = (int(self.images.shape[-2]), int(self.images.shape[-1]))
        return chunk_for(self.cfg["cam"]["chunk_size"], size, self.images.device)

    def once(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` computed once per condition, shared by every method's scoring."""
        if key not in self.shared:
            self.shared[key] = make()
        return self.shared[key]

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
    every = s.shared.get("maps") or {}
    if s.method in every and every[s.method] is s.maps:
        # every method of the condition at once: the masked copies of all methods in shared chunks
        res = s.once("average_drop", lambda: dict(zip(every, _ad_many(s, list(every.values())))))
        drop, inc = res[s.method]
    else:  # maps of their own
        drop, inc = _ad_many(s, [s.maps])[0]
    return {"average_drop": drop, "increase_in_confidence": inc}


def _ad_many(s: Scoring, maps: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return M.average_drop_increase_many(
        s.forward, s.images, maps, s.labels, s.probs, fill=s.fill, chunk_size=s.chunk()
    )


def _deletion_insertion(s: Scoring) -> Scores:
    steps = int(s.cfg["faithfulness_steps"])
    if steps <= 0:
        return {}
    every = s.shared.get("maps") or {}
    if s.method in every and every[s.method] is s.maps:
        # every method of the condition at once: the interior steps of all methods in shared chunks,
        # a copy two methods give alike forwarded once
        aucs = s.once(
            ("deletion_insertion", steps), lambda: dict(zip(every, _di_many(s, list(every.values()))))
        )
        dele, ins = aucs[s.method]
    else:  # maps of their own
        dele, ins = _di_many(s, [s.maps])[0]
    return {"deletion_auc": dele, "insertion_auc": ins}


def _di_many(s: Scoring, maps: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Deletion/insertion of several maps of ``s.images``; the map-free points once per condition."""
    steps, substrate, chunk = (
        int(s.cfg["faithfulness_steps"]),
        str(s.cfg["faithfulness_substrate"]),
        s.chunk(),
    )
    y = s.once("probs", lambda: M.target_probs(s.forward, s.images, s.labels, chunk))
    ends = s.once(
        ("deletion_insertion_ends", substrate),
        lambda: M.deletion_insertion_ends(s.forward, s.images, s.labels, substrate, chunk),
    )
    return M.deletion_insertion_many(
        s.forward, s.images, maps, s.labels, steps, chunk, substrate, base_probs=y, ends=ends
    )


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


def method_explainer(ck: Any, cfg: Mapping[str, Any], method: str, mc_samples: int) -> Explain:
    """([0, 1] images, targets) → ``method``'s maps on the loaded checkpoint ``ck``, as the eval explains."""
    options = {method: method_options(cfg, method)}

    def run(images01: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = normalize(images01, ck.model)
        out = explain_checked(
            ck.path,
            ck.model,
            x,
            [method],
            targets=targets,
            mc_samples=mc_samples,
            target_layer=ck.layer,
            options=options,
            **explain_settings(cfg),
        )
        return out[method].maps

    return run


def _complexity(s: Scoring) -> Scores:
    if not s.cfg["complexity"]:
        return {}
    return {"sparseness": sparseness(s.maps), "complexity": complexity(s.maps)}


def _road(s: Scoring) -> Scores:
    if not s.cfg["road"]:
        return {}
    morf, lerf, combined = road(s.forward, s.images, s.maps, s.labels, std=s.std, seed=s.seed, keys=s.keys)
    return {"road_morf": morf, "road_lerf": lerf, "road_combined": combined}


def _random_logit(s: Scoring) -> Scores:
    if not s.cfg["random_logit"] or s.explain is None or s.probs.shape[1] < 2:
        return {}
    value = random_logit(s.explain, s.images, s.maps, s.labels, s.probs.shape[1], seed=s.seed, keys=s.keys)
    return {"random_logit": value}


def _sensitivity(s: Scoring) -> Scores:
    samples = int(s.cfg["sensitivity_samples"])
    if samples <= 0 or s.explain is None:
        return {}
    radius = float(s.cfg["sensitivity_radius"])
    mx, avg = sensitivity(
        s.explain, s.images, s.maps, s.labels, samples=samples, radius=radius, seed=s.seed, keys=s.keys
    )
    return {"max_sensitivity": mx, "avg_sensitivity": avg}


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
    "complexity": _complexity,  # sparseness (Gini; Chalasani et al. 2020), complexity (entropy; Bhatt et al. 2020)
    "road": _road,  # ROAD MoRF / LeRF / combined (Rong et al., ICML 2022)
    "random_logit": _random_logit,  # SSIM to a random other class's map (Sixt et al., ICML 2020)
    "sensitivity": _sensitivity,  # max / average sensitivity (Yeh et al., NeurIPS 2019)
}


class Accumulator:
    """Per-image values per (checkpoint, method, condition, metric), summarised into records."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str | None, Condition, str], list[float]] = defaultdict(list)

    def add(self, label: str, method: str | None, cond: Condition, metric: str, values: torch.Tensor) -> None:
        self.values[(label, method, cond, metric)] += values.detach().float().cpu().tolist()

    def score(
        self, table: Mapping[str, Callable[[Scoring], Scores]], s: Scoring, label: str, method: str | None
    ) -> None:
        """Every metric of ``table`` on ``s``, filed under (``label``, ``method``, ``s.cond``)."""
        for fn in table.values():
            for metric, values in fn(s).items():
                self.add(label, method, s.cond, metric, values)

    def records(self, models: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for (label, method, cond, metric), vals in self.values.items():
            s = M.metric_ci(metric, vals)
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
                    "perturbation": cond.name,
                    "level": cond.first_level,
                    "levels": cond.levels,
                    "metric": metric,
                    "value": s.mean,
                    "ci_low": s.ci_low,
                    "ci_high": s.ci_high,
                    "n": s.n,
                }
            )
        return out


__all__ = ["MAP_METRICS", "PREDICTION_METRICS", "Accumulator", "Scores", "Scoring", "method_explainer"]
