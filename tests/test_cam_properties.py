"""Properties every CAM method must have: batch independence, targets, degenerate inputs, model state,
camx's own architectures, Monte-Carlo sampling, errors, and Score-CAM's constant-channel shortcut."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _cam_helpers import (
    SmallCNN,
    TinyResNet,
    TwoLinearHead,
    assert_same_state,
    camx_model,
    cnn_methods,
    images,
    layer_grads,
    layer_pass,
    model_state,
    seeded,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from camx.cam import explain, get_method
from camx.cam.base import minmax
from camx.cam.score import GradPlusPlusScoreCAM, masked_scores
from camx.errors import ConfigError
from camx.models.attention import AttentionHead, DropKey
from camx.models.build import build_model
from camx.options.cam import METHODS as ALL_METHODS

METHODS = cnn_methods()  # legrad needs a ViT: tests/test_cam_legrad.py

# fast settings for the expensive methods
FAST: dict[str, dict[str, object]] = {
    "smoothgradcampp": {"n_samples": 2},
    "scorecam": {"top_k": 6},
    "gradpp_scorecam": {"top_k": 6},
    "ablationcam": {"top_k": 6},
    "sscam": {"n_samples": 1, "top_k": 6},
    "iscam": {"n_steps": 2, "top_k": 6},
}
CLASS_AGNOSTIC = ("eigencam", "kpcacam", "fem", "random", "center", "sobel")
CLASS_DEPENDENT = [m for m in METHODS if m not in CLASS_AGNOSTIC]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


def _cnn(fc_gain: float = 1.0) -> nn.Module:
    return seeded(SmallCNN(), seed=0, fc_gain=fc_gain)


# ------------------------------------------------------------------------------------ batch & targets


@pytest.mark.parametrize("method", METHODS)
def test_batch_of_three_equals_three_singles(method: str) -> None:
    model, x = _cnn(), images(batch=3)
    opts = FAST.get(method, {})
    batch = explain(model, x, method, chunk_size=5, **opts)
    for i in range(3):
        single = explain(model, x[i : i + 1], method, chunk_size=5, **opts)
        assert torch.allclose(batch.maps[i], single.maps[0], atol=1e-5), method
        assert torch.allclose(batch.logits[i], single.logits[0], atol=1e-5)
        assert batch.targets[i] == single.targets[0]


@pytest.mark.parametrize("method", CLASS_DEPENDENT)
def test_target_class_is_honoured(method: str) -> None:
    model = _cnn(fc_gain=20.0)  # confident logits: an untrained net's near-uniform softmax blurs Score-CAM
    x = images(batch=1).expand(2, -1, -1, -1).contiguous()  # the same image twice
    opts = FAST.get(method, {})
    both = explain(model, x, method, targets=[1, 3], **opts)
    assert both.targets.tolist() == [1, 3]
    assert float((both.maps[0] - both.maps[1]).abs().max()) > 1e-3  # different classes, different maps
    for i, target in enumerate((1, 3)):
        single = explain(model, x[:1], method, targets=target, **opts)
        assert torch.allclose(both.maps[i], single.maps[0], atol=1e-5)


class ConstantFeatures(nn.Module):
    """The target layer outputs the same value everywhere (all weights zero, bias only)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6, 4)
        with torch.no_grad():
            self.features.weight.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", [m for m in METHODS if m not in ("random", "center", "sobel")])
def test_constant_activations_give_zero_maps(method: str) -> None:
    model = ConstantFeatures().eval()
    for size in ("input", None):
        result = explain(model, images(), method, size=size, **FAST.get(method, {}))
        assert torch.isfinite(result.maps).all()
        assert float(result.maps.abs().max()) == 0.0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=4, max_size=4),
    st.floats(1e-3, 1e3),
    st.floats(-1e3, 1e3),
)
def test_minmax_range_and_affine_invariance(values: list[float], scale: float, shift: float) -> None:
    raw = torch.tensor(values, dtype=torch.float64).view(1, 2, 2)
    moved = raw * scale + shift
    for x in (raw, moved):
        out = minmax(x)
        assert torch.isfinite(out).all() and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        span, size = float(x.max() - x.min()), float(x.abs().max())
        if span <= 1e-6 * size:  # constant up to rounding: zeros, not amplified noise
            assert float(out.abs().max()) == 0.0
        elif span > 1e-3 * size:
            assert float(out.max()) == 1.0 and float(out.min()) == 0.0
    if all(float(x.max() - x.min()) > 1e-3 * float(x.abs().max()) for x in (raw, moved)):
        assert torch.allclose(minmax(moved), minmax(raw), atol=1e-6)


# --------------------------------------------------------------------------------------- model state


@pytest.mark.parametrize("method", METHODS)
def test_model_state_is_restored(method: str) -> None:
    model = _cnn()
    model.train()  # a model left in training mode, with a mix of flags, a hook and a .grad buffer
    model.features[0].weight.requires_grad_(False)
    model.fc.weight.grad = torch.full_like(model.fc.weight, 0.5)
    handle = model.features.register_forward_hook(lambda *_: None)
    try:
        before = model_state(model)
        result = explain(model, images(), method, **FAST.get(method, {}))
        assert_same_state(before, model_state(model))
        assert model.training and model.features[0].training
        # and the maps were computed in eval mode, whatever the model's mode
        model.eval()
        again = explain(model, images(), method, **FAST.get(method, {}))
        assert torch.allclose(result.maps, again.maps, atol=1e-6)
    finally:
        handle.remove()


@pytest.mark.parametrize(
    "method", ["gradcam", "gradcampp", "xgradcam", "layercam", "hirescam", "gradpp_scorecam"]
)
def test_one_batched_pass_and_no_backbone_graph(method: str) -> None:
    """B images: one forward and one backward pass; the backward stops at the target layer."""
    model, x = _cnn(), images(batch=3)
    calls: list[int] = []
    backward: list[int] = []
    first_conv_needs_grad: list[bool] = []
    handles = [
        model.register_forward_pre_hook(lambda _m, inp: calls.append(inp[0].shape[0])),
        model.fc.register_full_backward_hook(lambda *_: backward.append(1)),
        model.features[0].register_forward_hook(
            lambda _m, _i, out: first_conv_needs_grad.append(out.requires_grad)
        ),
    ]
    try:
        explain(model, x, method, target_layer="features.3", **({"top_k": 2} if "score" in method else {}))
    finally:
        for handle in handles:
            handle.remove()
    assert calls[0] == 3 and len(backward) == 1
    assert first_conv_needs_grad[0] is False  # the backbone before the target layer records no graph
    if "score" not in method:
        assert calls == [3]
    assert all(p.grad is None for p in model.parameters())


def test_model_state_is_restored_after_an_error() -> None:
    model = _cnn().train()
    before = model_state(model)
    with pytest.raises(ConfigError):
        explain(model, images(), "gradcam", target_layer="fc")  # a 2-D output, not a feature map
    assert_same_state(before, model_state(model))


# ------------------------------------------------------------------------ camx's models and others

CAMX_MODELS = [("resnet50", "plain"), ("vgg16", "plain"), ("alexnet", "plain"), ("alexnet", "dropkey")]
# big backbones on 2 busy cores: the fewest passes that still exercise every code path
BIG: dict[str, dict[str, object]] = {
    "smoothgradcampp": {"n_samples": 1},
    "scorecam": {"top_k": 2},
    "gradpp_scorecam": {"top_k": 2},
    "ablationcam": {"top_k": 2},
    "sscam": {"n_samples": 1, "top_k": 2},
    "iscam": {"n_steps": 2, "top_k": 2},
}


@pytest.mark.parametrize(("arch", "head"), CAMX_MODELS)
def test_every_method_on_camx_models(arch: str, head: str) -> None:
    model = camx_model(arch, head)
    x = images(batch=2, size=64)
    before = model_state(model)
    with torch.no_grad():
        logits = model(x)
    informative = 0
    for method in METHODS:
        opts = dict(BIG.get(method, {}))
        if method == "cam" and (arch, head) != ("resnet50", "plain"):
            # VGG16/AlexNet classifiers have 3 Linear layers, the attention head has several
            with pytest.raises(ConfigError, match="'cam'"):
                explain(model, x, method)
            continue
        if method == "gradpp_scorecam" and arch == "alexnet":
            # AlexNet needs ≥ 63 px: an explicit 32 px score size is refused (the default "half" is raised to 63)
            with pytest.raises(ConfigError, match="score_size=32"):
                explain(model, x, method, **opts, score_size=32)
        result = explain(model, x, method, chunk_size=4, **opts)
        assert result.maps.shape == (2, 64, 64) and result.maps.dtype == torch.float32
        assert torch.isfinite(result.maps).all()
        assert float(result.maps.min()) >= 0.0 and float(result.maps.max()) <= 1.0
        # a real map, or zeros when the ReLU removes everything (possible with random weights)
        assert float(result.maps.max()) in (0.0, 1.0), method
        informative += float(result.maps.max()) == 1.0
        assert result.target_layer == model.cam_target_layer
        assert torch.allclose(result.logits, logits, atol=1e-4)
        assert_same_state(before, model_state(model))
    assert informative >= len(METHODS) - 4


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_a_foreign_model(method: str) -> None:
    """A model camx did not build: BatchNorm, a residual add into an in-place ReLU, functional ops,
    no ``cam_target_layer``: the target layer is found during the forward pass."""
    model = seeded(TinyResNet(), seed=3)
    result = explain(model, images(), method, **FAST.get(method, {}))
    assert result.target_layer == "down"  # the last module with a 4-D output larger than 1×1
    assert result.maps.shape == (2, 32, 32) and float(result.maps.max()) == 1.0
    pinned = explain(model, images(), method, target_layer="down", **FAST.get(method, {}))
    assert torch.allclose(result.maps, pinned.maps, atol=1e-6)


def test_cam_rejects_two_linear_layers() -> None:
    model = seeded(TwoLinearHead(), seed=0)
    with pytest.raises(ConfigError, match="'cam'") as info:
        explain(model, images(), "cam")
    assert "\n" not in str(info.value)
    explain(model, images(), "gradcam")  # gradient methods do not care


def test_cam_rejects_a_nonlinear_functional_head() -> None:
    class ReluAfterPool(SmallCNN):
        def forward(self, x: Tensor) -> Tensor:
            return self.fc(torch.relu(self.pool(self.features(x)).flatten(1) - 0.1))

    with pytest.raises(ConfigError, match="'cam'"):
        explain(seeded(ReluAfterPool(), seed=0), images(), "cam")


def test_unknown_method_and_option() -> None:
    with pytest.raises(ConfigError, match="gradcam, ") as info:
        explain(_cnn(), images(), "gradcam3")
    assert all(m in str(info.value) for m in ALL_METHODS)
    with pytest.raises(ConfigError, match="n_samples"):
        explain(_cnn(), images(), "smoothgradcampp", n_sample=3)
    with pytest.raises(ConfigError):
        get_method("nope")


# ------------------------------------------------------------------------------ Monte-Carlo DropKey


class DropKeyNet(nn.Module):
    """conv + BatchNorm backbone → DropKey attention head (like camx's dropkey head, small)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=4, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout2d(0.2)
        )
        self.head = AttentionHead(16, 4, dim=16, num_heads=2, drop="dropkey", mask_ratio=0.5)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _mc_modes(model: nn.Module) -> None:
    model.eval()
    for m in model.modules():
        if isinstance(m, (nn.Dropout2d, DropKey)):
            m.train()


def test_mc_samples_average_maps_and_probs() -> None:
    model, x = seeded(DropKeyNet(), seed=2), images()
    layer = model.features
    one = explain(model, x, "gradcam", target_layer="features")
    assert torch.equal(
        one.maps, explain(model, x, "gradcam", target_layer="features").maps
    )  # N=1: deterministic

    seen: list[tuple[bool, bool]] = []
    bn, dk = model.features[1], model.head.blocks[0].attn.drop_key
    handle = model.register_forward_pre_hook(lambda *_: seen.append((bn.training, dk.training)))
    try:
        torch.manual_seed(123)
        mc = explain(model, x, "gradcam", target_layer="features", targets=[0, 1], mc_samples=4)
    finally:
        handle.remove()
    assert seen == [(False, True)] * 4  # BatchNorm in eval, DropKey in train, one pass per sample
    assert not model.training and not dk.training  # restored
    assert float((mc.maps - one.maps).abs().max()) > 1e-3
    assert float((mc.probs - one.probs).abs().max()) > 1e-4

    # reproduce: the same random stream, per-sample softmax and raw (ReLU'd) maps averaged, then min–max
    targets = torch.tensor([0, 1])
    torch.manual_seed(123)
    _mc_modes(model)
    probs, raws = [], []
    try:
        for _ in range(4):
            act, grad, logits = layer_pass(model, layer, x, targets)
            probs.append(torch.softmax(logits, dim=1))
            raws.append(torch.einsum("bk,bkhw->bhw", grad.mean(dim=(2, 3)), act).clamp_min(0))
    finally:
        model.eval()
    expected = F.interpolate(
        torch.stack(raws).mean(0)[:, None], size=(32, 32), mode="bilinear", align_corners=False
    )
    assert torch.allclose(mc.maps, minmax(expected[:, 0]), atol=1e-5)
    assert torch.allclose(mc.probs, torch.stack(probs).mean(0), atol=1e-6)

    auto = explain(model, x, "gradcam", target_layer="features", mc_samples=3)
    assert torch.equal(auto.targets, auto.probs.argmax(1))


# ------------------------------------------------------------------------------ score methods


class HalfDeadCNN(SmallCNN):
    """SmallCNN whose last conv has 8 of 16 channels constant (zero weights): Score-CAM's shortcut applies."""

    def __init__(self) -> None:
        super().__init__()
        with torch.no_grad():
            self.features[4].weight[::2].zero_()


def _plain_scorecam(model: nn.Module, x: Tensor, act: Tensor, targets: Tensor) -> Tensor:
    """Score-CAM weights by a plain loop over every (image, channel), no shortcut."""
    b, c = act.shape[:2]
    weights = torch.zeros(b, c)
    for i in range(b):
        for k in range(c):
            m = F.interpolate(act[i, k][None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[
                0, 0
            ]
            span = m.max() - m.min()
            # an upsampled constant map is constant only up to rounding: min–max must not blow that up
            m = (m - m.min()) / span if span > 1e-6 * m.abs().max() else torch.zeros_like(m)
            with torch.no_grad():
                weights[i, k] = torch.softmax(model(x[i : i + 1] * m), dim=1)[0, targets[i]]
    return weights


def _count_forwards(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batch sizes of the masked forward passes masked_scores makes."""
    import camx.cam.score as score

    counted: list[int] = []
    original = score._forward_probs

    def counting(model: torch.nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
        counted.append(int(x.shape[0]))
        return original(model, x, what)

    monkeypatch.setattr(score, "_forward_probs", counting)
    return counted


def test_scorecam_constant_channel_shortcut_matches_plain_computation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = seeded(HalfDeadCNN(), seed=0)
    with torch.no_grad():
        model.features[4].weight[::2].zero_()  # seeded() re-initialised it
    x = images()
    targets = torch.tensor([2, 0])
    act, _ = layer_grads(model, model.features, x, targets)
    flat = act.flatten(2)
    constant = flat.amax(2) == flat.amin(2)
    n_const = int(constant.sum())
    assert n_const >= 16  # the 8 zeroed channels per image, plus any channel the ReLU kills everywhere

    counted = _count_forwards(monkeypatch)
    fast = masked_scores(model, x, act, targets, chunk_size=5)
    n_fast = sum(counted)
    counted.clear()
    slow = masked_scores(model, x, act, targets, chunk_size=5, dedup=False)
    n_slow = sum(counted)
    assert torch.allclose(fast, slow, atol=1e-6)
    assert n_slow == 32 and n_fast == 32 - n_const + 1  # one zero image replaces all constant-channel masks
    assert max(counted) <= 5  # chunked
    reference = _plain_scorecam(model, x, act, targets)
    assert torch.allclose(fast, reference, atol=1e-5)
    result = explain(model, x, "scorecam", targets=targets, size=None)
    expected = minmax(torch.einsum("bk,bkhw->bhw", reference, act).clamp_min(0))
    assert torch.allclose(result.maps, expected, atol=1e-5)


def test_scorecam_channels_with_equal_normalised_maps_share_one_forward(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = seeded(HalfDeadCNN(), seed=0)
    x = images()
    targets = torch.tensor([2, 0])
    act, _ = layer_grads(model, model.features, x, targets)
    act = act.clone()
    # channels 1–3 of image 0 normalise to channel 0's map (scaled by powers of two, or, for channels
    # active at one position only, any scale): one masked image for the four
    act[0, 0] = 0.0
    act[0, 0, 1, 2] = 0.7
    act[0, 1] = act[0, 0] * 2.0
    act[0, 2] = act[0, 0] * 0.5
    act[0, 3] = act[0, 0] * 3.1
    # image 1 gets channel 0's map of image 0: a different image, so it is forwarded separately
    act[1, 0] = act[0, 0]
    constant = act.flatten(2).amax(2) == act.flatten(2).amin(2)
    live, zero_image = int((~constant).sum()), int(bool(constant.any()))

    counted = _count_forwards(monkeypatch)
    fast = masked_scores(model, x, act, targets, chunk_size=4)
    n_fast = sum(counted)
    counted.clear()
    slow = masked_scores(model, x, act, targets, chunk_size=4, dedup=False)
    assert n_fast == live - 3 + zero_image
    assert torch.allclose(fast, slow, atol=1e-5)
    assert torch.allclose(fast[0, :4], fast[0, :1].expand(4), atol=1e-5)


def test_gradpp_scorecam_options() -> None:
    model, x = _cnn(fc_gain=20.0), images()
    channels = 16
    # all channels at input resolution: the Score-CAM weights on every channel, hence Score-CAM's map
    full = explain(model, x, "gradpp_scorecam", top_k=channels, score_size="input", groups=None)
    assert torch.allclose(full.maps, explain(model, x, "scorecam").maps, atol=1e-5)
    full = explain(model, x, "gradpp_scorecam", channels="all", groups=None)  # every channel: Score-CAM
    assert torch.allclose(full.maps, explain(model, x, "scorecam").maps, atol=1e-5)
    # channels="positive" keeps exactly the channels with a positive Grad-CAM++ weight
    act, grad = layer_grads(model, model.features, x, full.targets)
    g2 = grad.pow(2)
    den = 2 * g2 + act.sum(dim=(2, 3), keepdim=True) * g2 * grad
    w = (torch.where(den != 0, g2 / den, torch.zeros_like(den)) * grad.clamp_min(0)).sum(dim=(2, 3))
    small = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    alpha = masked_scores(model, small, act, full.targets, select=w > 0)
    expected = minmax(F.interpolate(torch.einsum("bk,bkhw->bhw", alpha, act).clamp_min(0)[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0])  # fmt: skip
    positive = explain(model, x, "gradpp_scorecam", channels="positive", score_size="half", groups=None)
    assert torch.allclose(positive.maps, expected, atol=1e-5)
    # the literal reading (input downsized to the 8×8 activation) and the baseline subtraction run and differ
    literal = explain(model, x, "gradpp_scorecam", score_size="activation")
    with_baseline = explain(model, x, "gradpp_scorecam", baseline=True)
    default = explain(model, x, "gradpp_scorecam")
    assert float((literal.maps - default.maps).abs().max()) > 1e-3
    assert float((with_baseline.maps - default.maps).abs().max()) > 1e-3
    bad_options = (
        {"top_k": 0},
        {"score_size": "quarter"},
        {"score_size": (0, 4)},
        {"channels": "some"},
        {"soft": -1},
    )
    for bad in bad_options:
        with pytest.raises(ConfigError):
            explain(model, x, "gradpp_scorecam", **bad)


def test_gradpp_scorecam_half_size_is_raised_to_the_architecture_minimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """score_size="half" never goes below the model's smallest side (camx.options.model.MIN_SIDE) nor above
    the input; explicit sizes do not move."""
    assert GradPlusPlusScoreCAM().resolve_size((64, 64), (3, 3), 63, "alexnet") == (64, 64)  # default: input
    half = GradPlusPlusScoreCAM(score_size="half")
    assert half.resolve_size((64, 64), (3, 3), 63, "alexnet") == (63, 63)  # 32 px is too small for AlexNet
    assert half.resolve_size((48, 80), (1, 2), 32, "vgg16") == (32, 40)  # per side: 24 → 32, 40 stays
    assert half.resolve_size((50, 50), (1, 1), 63, "alexnet") == (50, 50)  # never above the input itself
    assert half.resolve_size((64, 64), (8, 8)) == (32, 32)  # no smallest side known: plain half
    with pytest.raises(ConfigError, match=r"score_size=32 forms 32×32 .* the 63 px alexnet can classify"):
        GradPlusPlusScoreCAM(score_size=32).resolve_size((64, 64), (3, 3), 63, "alexnet")
    with pytest.raises(ConfigError, match=r"score_size='activation' forms 3×3"):
        GradPlusPlusScoreCAM(score_size="activation").resolve_size((64, 64), (3, 3), 63, "alexnet")
    # the smallest sides camx's models carry: the -GAP nets have no last max-pool to fill
    models = {(a, c): build_model(a, "plain", 3, classifier=c).eval() for a in ("alexnet", "vgg16") for c in ("full", "gap")}  # fmt: skip
    sizes = {key: model.min_side for key, model in models.items()}
    assert sizes == {
        ("alexnet", "full"): 63,
        ("alexnet", "gap"): 31,
        ("vgg16", "full"): 32,
        ("vgg16", "gap"): 16,
    }
    assert build_model("resnet50", "plain", 3).min_side == 1
    for key, side in sizes.items():  # each is the smallest input its network classifies
        model = models[key]
        with torch.no_grad():
            assert model(torch.rand(1, 3, side, side)).shape == (1, 3)
            with pytest.raises(RuntimeError):
                model(torch.rand(1, 3, side - 1, side - 1))
    # end to end on AlexNet at 64 px: every masked forward pass sees 63 px inputs
    import camx.cam.score as score

    sides: list[int] = []
    forward = score._forward_probs

    def recording(model: nn.Module, x: Tensor, what: str) -> Tensor:
        sides.append(int(x.shape[-1]))
        return forward(model, x, what)

    monkeypatch.setattr(score, "_forward_probs", recording)
    result = explain(
        camx_model("alexnet"), images(batch=1, size=64), "gradpp_scorecam", top_k=2, score_size="half"
    )
    assert sides and set(sides) == {63} and result.maps.shape == (1, 64, 64)
    sides.clear()  # AlexNet-GAP reads 31 px: "half" of 64 px stays 32
    gap = build_model("alexnet", "plain", 3, classifier="gap").eval()
    explain(gap, images(batch=1, size=64), "gradpp_scorecam", top_k=2, score_size="half")
    assert sides and set(sides) == {32}


def test_random_and_center_baselines() -> None:
    model, x = _cnn(), images(batch=3)
    a = explain(model, x, "random", seed=5)
    assert torch.equal(a.maps, explain(model, x, "random", seed=5).maps)  # deterministic for a seed
    assert not torch.equal(a.maps, explain(model, x, "random", seed=6).maps)
    assert not torch.allclose(a.maps[0], a.maps[1])  # differs between images
    c = explain(model, x, "center", size=(31, 41))
    peak = torch.nonzero(c.maps[0] == 1.0)
    assert peak.tolist() == [[15, 20]]  # centred
    assert torch.allclose(c.maps[0], c.maps[0].flip(0)) and torch.allclose(c.maps[0], c.maps[0].flip(1))


def test_gradpp_scorecam_groups_equal_per_channel_scores_when_each_channel_is_a_group() -> None:
    """groups ≥ the kept channels: each group is one channel, its own medoid, so the grouped α equal
    the per-channel α; fewer groups: a map independent of the batch."""
    model, x = _cnn(fc_gain=20.0), images(batch=3)
    exact = explain(model, x, "gradpp_scorecam", groups=None)
    grouped = explain(model, x, "gradpp_scorecam", groups=10_000)
    assert torch.allclose(exact.maps, grouped.maps, atol=1e-5)
    few = explain(model, x, "gradpp_scorecam", groups=4)
    alone = explain(model, x[1:2], "gradpp_scorecam", groups=4)
    assert torch.allclose(few.maps[1], alone.maps[0], atol=1e-5)
    assert float((few.maps - exact.maps).abs().max()) > 0  # an approximation, not a copy
    with pytest.raises(ConfigError):
        explain(model, x, "gradpp_scorecam", groups=0)
