"""The metric ids, in report order, and which way each one improves.

:mod:`camx.metrics` computes them; ``--fail-under`` gates name them.
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
