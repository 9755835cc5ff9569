"""Metrics of class activation maps: localisation, faithfulness, stability, and their summaries.

Every metric function returns one value per image, (B,), so aggregates with confidence intervals
are computed later with :func:`metric_ci` (a Wilson or range-clipped t-interval). Metric ids, in report order, are
:data:`camx.options.metrics.METRICS`; :data:`camx.options.metrics.HIGHER_IS_BETTER` says which way
each one improves.

- ``accuracy``: top-1 correct (1/0) — computed by callers from the model's predictions;
- ``confidence``: p of the true class; ``confidence_pred``: p of the predicted class (callers);
- ``average_drop``, ``increase_in_confidence``: :func:`average_drop_increase` (Grad-CAM++ / Grad++ScoreCAM §IV-A);
- ``deletion_auc``, ``insertion_auc``: :func:`deletion_insertion_auc` (RISE; :func:`deletion_insertion_many`
  for several maps of the same images);
- ``pointing_game``, ``energy_pointing_game``, ``iou``: :mod:`camx.metrics.localization`;
- ``stability_pearson``, ``stability_ssim``: :func:`pearson`, :func:`ssim` between the clean map
  (warped into the perturbed frame) and the perturbed image's map;
- ``sparseness``, ``complexity``: :mod:`camx.metrics.complexity` (Gini index, entropy);
- ``road_morf``, ``road_lerf``, ``road_combined``: :func:`camx.metrics.road.road` (ROAD, ICML 2022);
- ``random_logit``: :func:`camx.metrics.randomisation.random_logit` (Sixt et al. 2020);
- ``max_sensitivity``, ``avg_sensitivity``: :func:`camx.metrics.sensitivity.sensitivity` (Yeh et al. 2019).
"""

from __future__ import annotations

from camx.metrics.deletion_insertion import (
    SUBSTRATES,
    deletion_insertion_auc,
    deletion_insertion_ends,
    deletion_insertion_many,
)
from camx.metrics.faithfulness import average_drop_increase, average_drop_increase_many, target_probs
from camx.metrics.localization import energy_pointing_game, has_object, iou, pointing_game
from camx.metrics.stability import pearson, ssim
from camx.metrics.stats import Summary, mean_ci, metric_ci, spearman, t_quantile, wilson_ci

__all__ = [
    "SUBSTRATES",
    "Summary",
    "average_drop_increase",
    "average_drop_increase_many",
    "deletion_insertion_auc",
    "deletion_insertion_ends",
    "deletion_insertion_many",
    "energy_pointing_game",
    "has_object",
    "iou",
    "mean_ci",
    "metric_ci",
    "pearson",
    "pointing_game",
    "spearman",
    "ssim",
    "t_quantile",
    "target_probs",
    "wilson_ci",
]
