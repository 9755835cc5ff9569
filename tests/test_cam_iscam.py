"""IS-CAM on a real network: the paper's formula, TorchCAM's variant, determinism and batch independence.

Model and photos as in tests/test_cam_new_methods.py: EfficientNet-Lite0 with its shipped ImageNet
weights, scikit-image's ``chelsea`` and ``coffee`` at 48 px; maps compared after ReLU and min–max at
feature-map resolution.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _cam_helpers import load_lite0, normalise
from test_cam_new_methods import TOL, _masked_logits, _output, maxdiff, photos
from torch import Tensor, nn

from camx.cam import explain
from camx.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return load_lite0()


def _upsampled(act: Tensor, x: Tensor) -> Tensor:
    return F.interpolate(act, size=x.shape[-2:], mode="bilinear", align_corners=False)


def test_iscam_is_the_papers_formula_and_torchcam_its_code_variant(model: nn.Module) -> None:
    """The paper (arXiv:2010.03023, Algorithm 1 as quoted in frgfm/torch-cam#154):
    α_k = (1/N) Σ_{i=1..N} C(M_i), M_i = Σ_{j=0}^{i−1} (j/N) X ⊙ s(Up(A_k)), with C camx's Score-CAM
    score, the class probability. TorchCAM 0.5's code: softmax over channels of
    (1/N) Σ_i (y^c(Σ_{j=1}^{i} (j/N) X ⊙ Up(s(A_k))) − y^c(X)), normalising before upsampling."""
    import torchcam.methods as tcm

    x = photos(model, 48, ("chelsea",))
    n, layer = 3, "bn1"
    res = explain(model, x, "iscam", target_layer=layer, size=None, n_steps=n)
    c = int(res.targets[0])
    act = _output(model, model.get_submodule(layer), x)
    up = _upsampled(act, x)
    lo, hi = up.amin((2, 3), keepdim=True), up.amax((2, 3), keepdim=True)
    s = torch.where(hi > lo, (up - lo) / (hi - lo).clamp_min(1e-30), 0.0)  # a constant channel: s = 0
    paper_steps = [sum(j / n for j in range(i)) for i in range(1, n + 1)]  # Σ_{j=0}^{i−1} j/N
    paper = sum(_masked_logits(model, x, ci * s).softmax(2)[..., c] for ci in paper_steps) / n
    assert maxdiff(res.maps, normalise(torch.einsum("bk,bkhw->bhw", paper, act))) <= TOL
    # TorchCAM: its own normalise-then-upsample masks and the code's Σ_{j=1}^{i} j/N
    flat = act.flatten(2)
    pre = (flat - flat.amin(2, keepdim=True)) / (
        flat.amax(2, keepdim=True) + 1e-8 - flat.amin(2, keepdim=True)
    )
    pre_up = _upsampled(pre.view_as(act), x)
    with torch.no_grad():
        y0 = model(x)[0, c]

    def torchcam_form(steps: list[float]) -> Tensor:
        gain = sum(_masked_logits(model, x, di * pre_up)[..., c] - y0 for di in steps) / n
        return normalise(torch.einsum("bk,bkhw->bhw", gain.softmax(1), act))

    code_steps = [sum(j / n for j in range(1, i + 1)) for i in range(1, n + 1)]  # Σ_{j=1}^{i} j/N
    with tcm.ISCAM(model, layer, num_samples=n, input_shape=tuple(x.shape[1:])) as extractor:
        with torch.no_grad():
            scores = model(x)
        tc = normalise(extractor(class_idx=[c], scores=scores, normalized=False)[0].detach())
    assert maxdiff(tc, torchcam_form(code_steps)) <= TOL
    assert maxdiff(tc, torchcam_form(paper_steps)) > 1e-2  # the code is not its docstring's sum
    assert maxdiff(res.maps, tc) > 1e-2  # and camx's map is not TorchCAM's


def test_iscam_is_deterministic_and_independent_of_the_batch(model: nn.Module) -> None:
    x = photos(model, 48)
    kw = {"target_layer": "bn1", "size": None, "n_steps": 3, "top_k": 12}
    both = explain(model, x, "iscam", chunk_size=24, **kw)
    alone = explain(model, x[1:], "iscam", chunk_size=5, **kw)
    assert torch.allclose(both.maps[1], alone.maps[0], atol=1e-5)
    assert torch.equal(both.maps, explain(model, x, "iscam", chunk_size=24, **kw).maps)
    assert maxdiff(both.maps, explain(model, x, "iscam", chunk_size=24, **{**kw, "n_steps": 4}).maps) > 1e-3


def test_iscam_one_step_is_the_zero_image_for_every_channel(model: nn.Module) -> None:
    """N = 1 leaves only c_1 = 0: every channel gets the zero image's class probability, so the map is
    ReLU(Σ_k A_k) up to that positive factor."""
    x = photos(model, 48)
    res = explain(model, x, "iscam", target_layer="bn1", size=None, n_steps=1)
    act = _output(model, model.get_submodule("bn1"), x)
    assert maxdiff(res.maps, normalise(act.sum(1))) <= TOL


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "10"])
def test_iscam_rejects_a_bad_step_count(bad: object) -> None:
    with pytest.raises(ConfigError, match="n_steps"):
        explain(nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), torch.zeros(1, 3, 8, 8),
                "iscam", n_steps=bad)  # fmt: skip
