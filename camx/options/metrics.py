"""The metric ids, in report order, which way each one improves, and the range of its values.

:mod:`camx.metrics` computes them; ``--fail-under`` gates name them; :func:`camx.metrics.stats.metric_ci`
keeps every confidence interval inside :data:`RANGES` (see docs/METRICS.md, "Confidence intervals").
"""

from __future__ import annotations

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
