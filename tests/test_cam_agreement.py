"""camx maps agree with pytorch-grad-cam (1.5.x) and TorchCAM (0.5.x) wherever both follow the paper.

Every comparison is at feature-map resolution (``size=None``): the reference library's *raw* map
(before its own normalisation, which adds epsilons) goes through the same ReLU-then-min–max as
camx's (:func:`_cam_helpers.normalise`), and the maps must agree to 1e-4. Where a library departs
from the paper, the test says how, checks camx against the paper and, where it can, checks that the
library's output equals the library's own variant of the formula.

Models: a randomly initialised conv stack with GAP + Linear (32 px input, B = 2), explained at its
last block ("features", a GAP + linear head) and at a middle block ("features.3", so gradients vary
over space), and a tiny ResNet-like net with BatchNorm and a residual connection. The last Linear
is scaled by 1000 for gradient methods, so that pytorch-grad-cam's ε = 1e-6 in the Grad-CAM++
denominator is negligible against g² (with default init, g ~ 1e-3 and ε would matter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from _cam_helpers import PGC_SAME, SmallCNN, TinyResNet, images, layer_grads, normalise, seeded
from torch import Tensor, nn

from camx.cam import explain
from camx.cam.activation import eigen_projection
from camx.cam.gradient import smooth_noise

pgc = pytest.importorskip("pytorch_grad_cam")
tcm = pytest.importorskip("torchcam.methods")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

TOL = 1e-4
LAYERS = [("cnn", "features"), ("cnn", "features.3"), ("resnet", "stem")]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


def _model(kind: str, fc_gain: float = 1000.0) -> nn.Module:
    if kind == "cnn":
        return seeded(SmallCNN(), seed=0, fc_gain=fc_gain)
    return seeded(TinyResNet(), seed=3, fc_gain=fc_gain)


def pgc_raw(cls: type, model: nn.Module, layer: nn.Module, x: Tensor, targets: Tensor) -> Tensor:
    """pytorch-grad-cam's own per-layer map before ReLU/normalisation/resizing (its get_cam_image)."""
    cam = cls(model=model, target_layers=[layer])
    try:
        tg = [ClassifierOutputTarget(int(c)) for c in targets]
        cam(input_tensor=x, targets=tg)
        store = cam.activations_and_grads
        acts = store.activations[0].numpy()
        grads = store.gradients[0].numpy() if store.gradients else None
        return torch.as_tensor(cam.get_cam_image(x, layer, tg, acts, grads, False))
    finally:
        cam.activations_and_grads.release()


def tc_raw(
    cls: Callable[..., object], model: nn.Module, layer: str, x: Tensor, targets: Tensor, **kw: object
) -> Tensor:
    """TorchCAM's map with ``normalized=False`` (its ReLU, where it has one, already applied)."""
    with cls(model, layer, input_shape=tuple(x.shape[1:]), **kw) as extractor:  # type: ignore[operator]
        scores = model(x)
        return extractor(class_idx=targets.tolist(), scores=scores, normalized=False)[0].detach()


def camx_map(model: nn.Module, x: Tensor, method: str, layer: str, **kw: object) -> tuple[Tensor, Tensor]:
    result = explain(model, x, method, target_layer=layer, size=None, **kw)
    return result.maps, result.targets


def maxdiff(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max())


# ----------------------------------------------------------------------- same definition, same map


@pytest.mark.parametrize(("kind", "layer"), LAYERS)
@pytest.mark.parametrize(("method", "cls_name"), PGC_SAME)
def test_gradient_methods_match_pytorch_grad_cam(kind: str, layer: str, method: str, cls_name: str) -> None:
    model, x = _model(kind), images()
    maps, targets = camx_map(model, x, method, layer)
    ref = normalise(pgc_raw(getattr(pgc, cls_name), model, model.get_submodule(layer), x, targets))
    assert maps.shape == ref.shape
    assert maxdiff(maps, ref) <= TOL


TC_SAME = [("gradcam", "GradCAM"), ("xgradcam", "XGradCAM"), ("layercam", "LayerCAM")]


@pytest.mark.parametrize(("kind", "layer"), LAYERS)
@pytest.mark.parametrize(("method", "cls_name"), TC_SAME)
def test_gradient_methods_match_torchcam(kind: str, layer: str, method: str, cls_name: str) -> None:
    model, x = _model(kind), images()
    maps, targets = camx_map(model, x, method, layer)
    ref = normalise(tc_raw(getattr(tcm, cls_name), model, layer, x, targets))
    assert maxdiff(maps, ref) <= TOL


def test_cam_matches_torchcam() -> None:
    # CAM has no ReLU (Zhou et al. 2016); TorchCAM's CAM has none either.
    model, x = _model("cnn", fc_gain=1.0), images()
    maps, targets = camx_map(model, x, "cam", "features")
    with tcm.CAM(model, "features", fc_layer="fc", input_shape=(3, 32, 32)) as extractor:
        model(x)
        raw = extractor(class_idx=targets.tolist(), normalized=False)[0]
    assert maxdiff(maps, normalise(raw, relu=False)) <= TOL
    # and on a GAP + linear head, Grad-CAM and HiResCAM give the same map as CAM (up to the ReLU)
    for method in ("gradcam", "hirescam"):
        other, _ = camx_map(model, x, method, "features")
        assert maxdiff(other, normalise(raw, relu=True)) <= TOL


# ------------------------------------------------------------- definitions that differ from a library


@pytest.mark.parametrize(("kind", "layer"), LAYERS)
def test_gradcampp_torchcam_variant(kind: str, layer: str) -> None:
    """TorchCAM 0.5's GradCAMpp divides a *copy* (``alpha[idx][mask].div_(...)`` indexes with a mask),
    so its α stays g² and its weights are Σ_ij g²·ReLU(g) instead of Eq. 19's α. camx follows the paper
    (checked against pytorch-grad-cam above); here TorchCAM's output is shown to be that variant."""
    model, x = _model(kind), images()
    maps, targets = camx_map(model, x, "gradcampp", layer)
    ref = normalise(tc_raw(tcm.GradCAMpp, model, layer, x, targets))
    act, grad = layer_grads(model, model.get_submodule(layer), x, targets)
    variant = (grad.pow(2) * grad.clamp_min(0)).sum(dim=(2, 3))
    assert maxdiff(ref, normalise(torch.einsum("bk,bkhw->bhw", variant, act))) <= TOL
    if layer != "features":  # with spatially varying gradients the variant is a different map
        assert maxdiff(maps, ref) > 1e-2


class _NoiseFeed:
    """Stands in for TorchCAM's noise distribution: returns the noise camx draws, in order."""

    def __init__(self, noise: Iterator[Tensor]) -> None:
        self.noise = list(noise)

    def sample(self, _size: object) -> Tensor:
        return self.noise.pop(0).clone()


def _smooth_reference(
    model: nn.Module, layer: str, x: Tensor, targets: Tensor, noise: list[Tensor]
) -> tuple[Tensor, Tensor]:
    """(paper map, TorchCAM-variant map), raw, from per-sample autograd gradients."""
    module = model.get_submodule(layer)
    act, _ = layer_grads(model, module, x, targets)
    samples = [layer_grads(model, module, x + e, targets) for e in noise]
    n = len(samples)
    d1 = sum(g for _, g in samples) / n
    d2 = sum(g.pow(2) for _, g in samples) / n
    d3 = sum(g.pow(3) for _, g in samples) / n
    # paper (Omeiza et al. 2019): α = D2 / (2·D2 + Σ_ab A(a,b)·D3(i,j)), w = Σ α·ReLU(D1), map from clean A
    alpha = d2 / (2 * d2 + act.sum(dim=(2, 3), keepdim=True) * d3)
    paper = torch.einsum("bk,bkhw->bhw", (alpha * d1.clamp_min(0)).sum(dim=(2, 3)), act)
    # TorchCAM 0.5: denominator Σ_ab A(a,b)·D3(a,b), ReLU of the *last* sample's gradient, and the
    # map from the *last noisy* activation (its activation hook stays on during the noisy passes)
    alpha_tc = d2 / (2 * d2 + (act * d3).sum(dim=(2, 3), keepdim=True) + 1e-8)
    last_act, last_grad = samples[-1]
    variant = torch.einsum("bk,bkhw->bhw", (alpha_tc * last_grad.clamp_min(0)).sum(dim=(2, 3)), last_act)
    return paper, variant


@pytest.mark.parametrize(("kind", "layer"), LAYERS)
def test_smoothgradcampp_against_torchcam(kind: str, layer: str) -> None:
    model, x = _model(kind), images()
    n, sigma = 3, 0.2
    maps, targets = camx_map(model, x, "smoothgradcampp", layer, n_samples=n, sigma=sigma, seed=7)
    noise = list(smooth_noise(x, n, sigma, 7))
    ref = normalise(_tc_smooth(model, layer, x, targets, n, sigma, noise))
    paper, variant = _smooth_reference(model, layer, x, targets, noise)
    assert maxdiff(maps, normalise(paper)) <= TOL  # camx is the paper's formula
    assert maxdiff(ref, normalise(variant)) <= TOL  # TorchCAM is its documented variant
    # Without noise the three departures vanish on a GAP + linear head: the maps agree.
    if layer == "features":
        exact, targets = camx_map(model, x, "smoothgradcampp", layer, n_samples=2, sigma=0.0)
        ref0 = _tc_smooth(model, layer, x, targets, 2, 0.0, list(smooth_noise(x, 2, 0.0, 0)))
        assert maxdiff(exact, normalise(ref0)) <= TOL


def _tc_smooth(
    model: nn.Module, layer: str, x: Tensor, targets: Tensor, n: int, sigma: float, noise: list[Tensor]
) -> Tensor:
    # std is irrelevant (TorchCAM rejects 0): its noise source is replaced by the noise camx used
    with tcm.SmoothGradCAMpp(model, layer, num_samples=n, std=1.0, input_shape=(3, 32, 32)) as extractor:
        extractor._distrib = _NoiseFeed(iter(noise))
        model(x)
        return extractor(class_idx=targets.tolist(), normalized=False)[0].detach()


@pytest.mark.parametrize(("kind", "layer"), LAYERS)
def test_eigencam_against_pytorch_grad_cam(kind: str, layer: str) -> None:
    """pytorch-grad-cam centres each channel before the SVD and leaves the sign of v₁ to LAPACK;
    the Eigen-CAM paper does not centre, and camx fixes the sign (Σ v₁ ≥ 0). With ``center=True``
    camx's projection is the library's up to that sign: the library map is ReLU(±p) normalised."""
    model, x = _model(kind), images()
    maps, targets = camx_map(model, x, "eigencam", layer, center=True)
    ref = normalise(pgc_raw(pgc.EigenCAM, model, model.get_submodule(layer), x, targets))
    act, _ = layer_grads(model, model.get_submodule(layer), x, targets)
    proj = eigen_projection(act, center=True)
    assert maxdiff(maps, normalise(proj)) <= TOL
    for i in range(x.shape[0]):
        plus, minus = normalise(proj[i : i + 1])[0], normalise(-proj[i : i + 1])[0]
        assert min(maxdiff(ref[i], plus), maxdiff(ref[i], minus)) <= TOL
    # the paper's (uncentred) version: the first right singular vector of the (hw × C) matrix
    paper, _ = camx_map(model, x, "eigencam", layer)
    for i in range(x.shape[0]):
        mat = act[i].flatten(1).T.double()
        v = torch.linalg.svd(mat, full_matrices=False).Vh[0]
        v = v if v.sum() >= 0 else -v
        ref_i = normalise((mat @ v).view(1, *act.shape[2:]))[0]
        assert maxdiff(paper[i], ref_i) <= TOL


class LogSoftmax(nn.Module):
    """Wraps a classifier to output log-probabilities."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        return torch.log_softmax(self.inner(x), dim=1)


@pytest.mark.parametrize("layer", ["features", "features.3"])
def test_scorecam_against_both_libraries(layer: str) -> None:
    """Score-CAM (Wang et al. 2020) weighs channel k by the class *probability* of the masked input,
    α_k = softmax(f(X ⊙ s(Up(A_k))))_c. pytorch-grad-cam and TorchCAM 0.5 take a softmax over the
    channels of the raw target logits instead: α_k = exp(y_c(M_k)) / Σ_j exp(y_c(M_j)). Given a model
    that outputs log-probabilities, that channel softmax becomes p_c(M_k) / Σ_j p_c(M_j): the paper's
    α up to a positive per-image factor, which cancels in ReLU + min–max. So both libraries, run on
    ``LogSoftmax(model)``, must reproduce camx's map exactly.

    The model keeps the input resolution (stride 1), so the masks need no upsampling: TorchCAM
    normalises the activation *before* upsampling (bilinear, align_corners=False) and pytorch-grad-cam
    upsamples with align_corners=True, while the paper (and camx) normalise after upsampling.
    """
    model = seeded(SmallCNN(stride=1), seed=1)
    wrapped = LogSoftmax(model).eval()
    x = images()
    maps, targets = camx_map(model, x, "scorecam", layer, chunk_size=7)
    ref_pgc = normalise(pgc_raw(pgc.ScoreCAM, wrapped, model.get_submodule(layer), x, targets))
    ref_tc = normalise(tc_raw(tcm.ScoreCAM, wrapped, "inner." + layer, x, targets))
    assert maxdiff(maps, ref_pgc) <= TOL
    assert maxdiff(maps, ref_tc) <= TOL
    # On the raw-logit model, TorchCAM computes its channel-softmax variant: reproduce it from
    # camx's per-channel masked logits.
    from camx.cam.score import masked_scores

    act, _ = layer_grads(model, model.get_submodule(layer), x, targets)
    probs = masked_scores(model, x, act, targets)
    assert maxdiff(maps, normalise(torch.einsum("bk,bkhw->bhw", probs, act))) <= TOL
    raw_variant = normalise(tc_raw(tcm.ScoreCAM, model, layer, x, targets))
    logit_variant = _channel_softmax_of_logits(model, x, act, targets)
    assert maxdiff(raw_variant, normalise(torch.einsum("bk,bkhw->bhw", logit_variant, act))) <= TOL


def _channel_softmax_of_logits(model: nn.Module, x: Tensor, act: Tensor, targets: Tensor) -> Tensor:
    """softmax over channels of y_c(X ⊙ s(A_k)) (full-resolution masks), as pytorch-grad-cam/TorchCAM do."""
    b, c = act.shape[:2]
    flat = act.flatten(2)
    lo, hi = flat.amin(2, keepdim=True), flat.amax(2, keepdim=True)
    masks = ((flat - lo) / (hi - lo + 1e-8)).view_as(act)
    with torch.no_grad():
        logits = model((x[:, None] * masks[:, :, None]).flatten(0, 1)).view(b, c, -1)
    return torch.softmax(logits.gather(2, targets.view(b, 1, 1).expand(b, c, 1)).squeeze(2), dim=1)


def test_average_drop_and_increase_match_pytorch_grad_cam() -> None:
    """camx's AD/IC masks where the model sees the image, as pytorch-grad-cam's DropInConfidence does.

    pytorch-grad-cam multiplies the normalised input by the map and reports max(0, Y − O) and [O > Y];
    camx reports max(0, Y − O) / Y · 100 and 100 · [O > Y] of the same O.
    """
    from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence, IncreaseInConfidence
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    from camx.data.transforms import normalize
    from camx.metrics import average_drop_increase

    model = _model("cnn", fc_gain=30.0).eval()
    gen = torch.Generator().manual_seed(2)
    x01 = torch.rand(8, 3, 32, 32, generator=gen)
    maps = torch.rand(8, 32, 32, generator=gen)
    targets = torch.arange(8) % 4

    def forward(batch01: Tensor) -> Tensor:
        return model(normalize(batch01)).softmax(1)

    drop, inc = average_drop_increase(forward, x01, maps, targets)
    tg = [ClassifierOutputSoftmaxTarget(int(c)) for c in targets]
    x = normalize(x01)
    ref_drop = torch.as_tensor(DropInConfidence()(x, maps.numpy(), tg, model))
    ref_inc = torch.as_tensor(IncreaseInConfidence()(x, maps.numpy(), tg, model))
    with torch.no_grad():
        y = model(x).softmax(1).gather(1, targets[:, None])[:, 0]
    torch.testing.assert_close(drop * y / 100, ref_drop.reshape(-1), atol=1e-5, rtol=1e-4)
    assert torch.equal(inc / 100, ref_inc.reshape(-1))
    assert int((drop > 0).sum()) == 4 and int((inc > 0).sum()) == 4  # both cases are exercised
