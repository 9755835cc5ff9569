"""The stand-alone benchmarks summarise per-image values with camx eval's own interval
(:func:`camx.metrics.metric_ci`: Wilson for proportions, the t-interval clipped to the metric's range)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_corruptions  # noqa: E402
import bench_noise_reading  # noqa: E402

from camx.metrics import mean_ci, metric_ci  # noqa: E402


def test_corruption_records_carry_the_eval_interval() -> None:
    agree = [1.0, 1.0, 0.0]
    acc = bench_corruptions.record("accuracy", None, "fog", 1.0, agree)
    wilson = metric_ci("accuracy", agree)
    assert (acc["ci_low"], acc["ci_high"]) == (wilson.ci_low, wilson.ci_high)
    assert (
        acc["ci_low"] > 0.0 and acc["ci_high"] < 1.0 and mean_ci(agree).ci_high > 1.0
    )  # the old one left [0, 1]
    r = [0.99, 0.98, 0.2]
    stab = bench_corruptions.record("stability_pearson", "gradcam", "fog", 1.0, r)
    assert stab["ci_high"] == 1.0 and mean_ci(r).ci_high > 1.0  # clipped at Pearson's range


def test_noise_reading_curves_stay_inside_the_confidence_range() -> None:
    confidences = torch.tensor([[[0.99, 0.6], [0.98, 0.1], [0.2, 0.05]]])  # (seeds, photos, levels)
    (points,) = bench_noise_reading.confidence_series({"pixel": confidences}, [0.0, 0.5]).values()
    for j, (_, mean, low, high) in enumerate(points):
        s = metric_ci("confidence", confidences[0, :, j])
        assert (mean, low, high) == (s.mean, s.ci_low, s.ci_high) and 0.0 <= low <= mean <= high <= 1.0
    assert mean_ci(confidences[0, :, 0]).ci_high > 1.0
