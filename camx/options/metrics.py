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
)
HIGHER_IS_BETTER: dict[str, bool] = {m: m not in ("average_drop", "deletion_auc") for m in METRICS}
