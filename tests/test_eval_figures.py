"""Eval figure captions name the predicted class, its probability and the true class."""

from __future__ import annotations

import torch

from camx.jobs.eval_figures import caption


def test_caption_names_prediction_probability_and_truth() -> None:
    probs = torch.tensor([0.10, 0.31, 0.59])
    assert caption(probs, 0, ["circle", "square", "star"]) == "pred star 0.59 · true circle"
    assert caption(probs, 2, ["circle"]) == "pred 2 0.59 · true 2"  # unnamed classes by index
