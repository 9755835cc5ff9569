"""Eval figures: captions name the predicted class, its probability and the true class; the noise
figures mark v*, where the plain head's confidence crosses the paper's plain value."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from camx.metrics.severity import PAPER_PLAIN_CONFIDENCE, crossing
from camx.report.figures import caption, noise_figures, plain_vstar


def test_caption_names_prediction_probability_and_truth() -> None:
    probs = torch.tensor([0.10, 0.31, 0.59])
    assert caption(probs, 0, ["circle", "square", "star"]) == "pred star 0.59 · true circle"
    assert caption(probs, 2, ["circle"]) == "pred 2 0.59 · true 2"  # unnamed classes by index


def test_crossing_interpolates_in_log_level_and_linearly_from_clean() -> None:
    pts = [(0.0, 0.9), (0.1, 0.7), (0.4, 0.3)]
    t = (0.7 - 0.481) / (0.7 - 0.3)
    assert crossing(pts, 0.481) == pytest.approx(math.exp(math.log(0.1) + t * math.log(4)))
    assert crossing(pts, 0.8) == pytest.approx(0.05)  # between clean (0) and 0.1: linear
    assert crossing(pts, 0.2) is None  # never falls that far
    assert crossing([(0.0, 0.3), (1.0, 0.1)], 0.481) is None  # starts below


def _record(head: str, level: float, value: float) -> dict:
    return {
        "model": "resnet50", "head": head, "run": head, "method": None, "metric": "confidence",
        "perturbation": "none" if level == 0 else "noise", "level": level, "value": value,
        "ci_low": value - 0.01, "ci_high": value + 0.01,
    }  # fmt: skip


def test_noise_figure_marks_vstar_of_the_plain_head(tmp_path: Path) -> None:
    records = [_record("plain", v, y) for v, y in [(0, 0.95), (0.1, 0.8), (0.3, 0.4), (1.0, 0.2)]]
    records += [_record("dropkey", v, y) for v, y in [(0, 0.95), (0.1, 0.9), (0.3, 0.7), (1.0, 0.3)]]
    vstar = plain_vstar(records)
    assert 0.1 < vstar < 0.3
    assert crossing([(0.1, 0.8), (0.3, 0.4)], PAPER_PLAIN_CONFIDENCE) == pytest.approx(vstar)
    written = noise_figures(records, tmp_path, paper=True)
    assert [p.name for p in written] == ["fig3_confidence_vs_noise.png", "fig3b_accuracy_vs_noise.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert plain_vstar([r for r in records if r["head"] != "plain"]) is None


def test_faithfulness_bars_title_wraps_before_the_citation_only() -> None:
    """The Table 1 title keeps "Average Drop, lower is better, and Increase in Confidence" on one line."""
    import matplotlib.pyplot as plt

    from camx.report.figures import faithfulness_bars

    base = {"perturbation": "none", "level": 0.0, "model": "m", "head": "plain", "run": "plain"}
    records = [
        {**base, "metric": m, "method": "gradcam", "value": v, "ci_low": None, "ci_high": None}
        for m, v in (("average_drop", 30.0), ("increase_in_confidence", 20.0))
    ]
    fig = faithfulness_bars(records, ["plain"])
    lines = fig._suptitle.get_text().split("\n")
    plt.close(fig)
    assert lines[0] == "Average Drop, lower is better, and Increase in Confidence", lines
