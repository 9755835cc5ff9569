"""The metric ids, in report order, which way each one improves, and the range of its values.

:mod:`camx.metrics` computes them; ``--fail-under`` gates name them; :func:`camx.metrics.stats.metric_ci`
keeps every confidence interval inside :data:`RANGES` (see docs/METRICS.md, "Confidence intervals").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METRICS: tuple[str, ...] = (
    "accuracy",
    "confidence",
    "confidence_pred",
    "average_drop",
    "increase_in_confidence",
    "deletion_auc",
    "insertion_auc",
    "pointing_game",
    "energy_pointing_game",
    "iou",
    "stability_pearson",
    "stability_ssim",
    "sparseness",
    "complexity",
    "road_morf",
    "road_lerf",
    "road_combined",
    "random_logit",
    "max_sensitivity",
    "avg_sensitivity",
)
#: the metrics whose lower values are better (``--fail-under`` reads their threshold as an upper bound)
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "average_drop",
        "deletion_auc",
        "complexity",
        "road_morf",
        "random_logit",
        "max_sensitivity",
        "avg_sensitivity",
    }
)
HIGHER_IS_BETTER: dict[str, bool] = {m: m not in LOWER_IS_BETTER for m in METRICS}
#: the metrics that score a map against the ground-truth masks (none on a dataset without masks)
LOCALISATION: tuple[str, ...] = ("pointing_game", "energy_pointing_game", "iou")
#: the metrics scored from the predictions alone (also with ``map_metrics=false``)
PREDICTION: tuple[str, ...] = ("accuracy", "confidence", "confidence_pred")
#: metric → the eval key that switches it on, and its off value (false, or 0 for a count)
_SWITCHES: dict[str, tuple[str, str]] = {
    "average_drop": ("average_drop", "false"),
    "increase_in_confidence": ("average_drop", "false"),
    "deletion_auc": ("faithfulness_steps", "0"),
    "insertion_auc": ("faithfulness_steps", "0"),
    "sparseness": ("complexity", "false"),
    "complexity": ("complexity", "false"),
    "road_morf": ("road", "false"),
    "road_lerf": ("road", "false"),
    "road_combined": ("road", "false"),
    "random_logit": ("random_logit", "false"),
    "max_sensitivity": ("sensitivity_samples", "0"),
    "avg_sensitivity": ("sensitivity_samples", "0"),
}


def unscored(metric: str, cfg: Mapping[str, Any]) -> str | None:
    """Why ``camx eval`` with ``cfg`` cannot score ``metric`` (known from the config alone), or None."""
    if metric in PREDICTION:
        return None
    if not cfg["map_metrics"]:
        return f"map_metrics=false scores only {', '.join(PREDICTION)}; set map_metrics=true"
    if metric in LOCALISATION:
        from camx.options.dataset import MASKED

        name = cfg["dataset"]["name"]
        if name not in MASKED:
            return (
                f"dataset={name} has no ground-truth masks, so no localisation metric "
                f"({', '.join(LOCALISATION)}) is scored; use a dataset with masks ({', '.join(MASKED)})"
            )
    key, off = _SWITCHES.get(metric, ("", ""))
    value = cfg.get(key) if key else None
    if value is False:
        return f"{key}=false switches it off; set {key}=true"
    if off == "0" and isinstance(value, int) and value <= 0:
        return f"{key}={value} switches it off; set {key} to a positive number"
    return None


#: metric id → (lowest, highest) value it can take; None: unbounded on that side. Probabilities, AUCs of
#: probability curves, shares and overlaps are in [0, 1]; Average Drop and Increase in Confidence in
#: [0, 100] %; correlations and SSIM in [−1, 1]; ROAD combined = (LeRF − MoRF)/2 in [−0.5, 0.5];
#: entropy and sensitivity (distances) are ≥ 0.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "accuracy": (0.0, 1.0),
    "confidence": (0.0, 1.0),
    "confidence_pred": (0.0, 1.0),
    "average_drop": (0.0, 100.0),
    "increase_in_confidence": (0.0, 100.0),
    "deletion_auc": (0.0, 1.0),
    "insertion_auc": (0.0, 1.0),
    "pointing_game": (0.0, 1.0),
    "energy_pointing_game": (0.0, 1.0),
    "iou": (0.0, 1.0),
    "stability_pearson": (-1.0, 1.0),
    "stability_ssim": (-1.0, 1.0),
    "sparseness": (0.0, 1.0),
    "complexity": (0.0, None),
    "road_morf": (0.0, 1.0),
    "road_lerf": (0.0, 1.0),
    "road_combined": (-0.5, 0.5),
    "random_logit": (-1.0, 1.0),
    "max_sensitivity": (0.0, None),
    "avg_sensitivity": (0.0, None),
}
#: the metrics whose per-image values are 0/1 outcomes times a scale (a hit, a correct top-1,
#: 100·[O > Y]): their means are proportions and get a Wilson score interval, the others a clipped t-interval
PROPORTIONS: dict[str, float] = {"accuracy": 1.0, "pointing_game": 1.0, "increase_in_confidence": 100.0}
