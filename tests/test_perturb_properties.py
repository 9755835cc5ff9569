"""Property-based: any image under any valid perturbation gives finite maps in [0, 1], never a crash."""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import camx
from camx import perturb as P
from camx.options.perturb import AXES, MAX_STRETCH

os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


def _tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    ).eval()


MODEL = _tiny_cnn()

# (kind, level strategy) over each perturbation's whole valid range, extremes included
LEVELS = {
    "none": st.just(0.0),
    "noise": st.floats(0.0, 4.0),
    "rotation": st.floats(-720.0, 720.0),
    "stretch": st.floats(0.05, MAX_STRETCH),
    "contrast": st.floats(1e-6, 1.0),
    "small": st.floats(0.01, 1.0),
    "blur": st.floats(0.0, 8.0),
    "jpeg": st.integers(1, 100).map(float),
}


@st.composite
def images(draw: st.DrawFn) -> torch.Tensor:
    b = draw(st.integers(1, 2))
    h, w = draw(st.integers(8, 40)), draw(st.integers(8, 40))
    kind = draw(st.sampled_from(["uniform", "constant", "binary", "extreme"]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    if kind == "uniform":
        return torch.rand(b, 3, h, w, generator=g)
    if kind == "constant":
        return torch.full((b, 3, h, w), draw(st.floats(0.0, 1.0)))
    if kind == "binary":
        return (torch.rand(b, 3, h, w, generator=g) > 0.5).float()
    return torch.rand(b, 3, h, w, generator=g) * 1e-7  # almost black: tiny activations


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    x=images(),
    kind=st.sampled_from(sorted(LEVELS)),
    data=st.data(),
    method=st.sampled_from(["gradcam", "gradcampp", "random"]),
    axis=st.sampled_from(AXES),
    seed=st.integers(0, 1000),
)
def test_perturb_then_explain_gives_finite_maps_in_unit_range(
    x: torch.Tensor, kind: str, data: st.DataObject, method: str, axis: str, seed: int
) -> None:
    level = data.draw(LEVELS[kind], label="level")
    masks = (torch.rand(x.shape[0], 1, *x.shape[-2:]) > 0.5).float()
    y, m = P.apply(kind, x, level, masks=masks, seed=seed, axis=axis)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    assert m is not None and m.shape == masks.shape and set(m.unique().tolist()) <= {0.0, 1.0}

    out = camx.explain(MODEL, (y - 0.5) / 0.25, method=method)
    assert out.maps.shape == (x.shape[0], *x.shape[-2:])
    assert out.maps.dtype == torch.float32
    assert torch.isfinite(out.maps).all()
    assert out.maps.min() >= 0 and out.maps.max() <= 1
    assert torch.isfinite(out.probs).all()
    assert torch.allclose(out.probs.sum(1), torch.ones(x.shape[0]))
