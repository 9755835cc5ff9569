"""The attention heads and DropKey: the paper's mechanism, on tiny tensors."""

from __future__ import annotations

import pytest
import torch

from camx.errors import ConfigError
from camx.models import DropKey, build_model, resolve_layer
from camx.models.attention import AttentionHead, SelfAttention, layer_ratios


def test_dropkey_drops_expected_fraction_in_training_only() -> None:
    torch.manual_seed(0)
    drop = DropKey(0.3).train()
    logits = torch.randn(8, 4, 64, 64)
    out = drop(logits)
    dropped = (out == torch.finfo(out.dtype).min).float().mean().item()
    assert abs(dropped - 0.3) < 0.01
    assert torch.equal(drop.eval()(logits), logits)


def test_dropkey_uses_lowest_finite_value_in_half_precision() -> None:
    torch.manual_seed(0)
    out = DropKey(0.5).train()(torch.randn(2, 16, 16, dtype=torch.float16))
    assert torch.isfinite(out).all()
    assert (out == torch.finfo(torch.float16).min).any()


def test_row_with_every_key_dropped_gives_no_nan() -> None:
    drop = DropKey(0.999999).train()
    torch.manual_seed(0)
    logits = drop(torch.randn(1, 1, 4, 4))
    assert (logits == torch.finfo(logits.dtype).min).all()
    attn = logits.softmax(-1)
    assert torch.isfinite(attn).all()
    assert torch.allclose(attn.sum(-1), torch.ones(1, 1, 4))


def test_attention_rows_sum_to_one_with_dropkey() -> None:
    torch.manual_seed(0)
    attn = SelfAttention(16, 2, "dropkey", 0.5).train()
    x = torch.randn(3, 9, 16)
    captured = {}
    attn.drop_key.register_forward_hook(lambda m, i, o: captured.setdefault("logits", o))
    attn(x)
    weights = captured["logits"].softmax(-1)
    assert torch.allclose(weights.sum(-1), torch.ones_like(weights.sum(-1)), atol=1e-5)


def test_ratio_decreases_linearly_with_depth() -> None:
    assert layer_ratios(0.3, 3) == pytest.approx([0.3, 0.2, 0.1])
    head = AttentionHead(8, 3, dim=8, num_heads=2, depth=3, drop="dropkey", mask_ratio=0.3)
    assert [b.attn.drop_key.p for b in head.blocks] == pytest.approx([0.3, 0.2, 0.1])


def test_eval_mode_is_deterministic_and_training_is_not() -> None:
    torch.manual_seed(0)
    head = AttentionHead(8, 3, dim=8, num_heads=2, drop="dropkey", mask_ratio=0.5)
    fmap = torch.randn(2, 8, 4, 4)
    head.eval()
    assert torch.equal(head(fmap), head(fmap))
    head.train()
    assert not torch.equal(head(fmap), head(fmap))


@pytest.mark.parametrize("head", ["attention", "dropout", "dropkey"])
def test_gradients_reach_the_feature_map_through_the_head(head: str) -> None:
    model = build_model("resnet50", head, 4, dim=32, num_heads=2, output_stride=16).eval()
    layer = resolve_layer(model, model.cam_target_layer)
    store = {}
    layer.register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    logits = model(torch.randn(1, 3, 32, 32))
    (grad,) = torch.autograd.grad(logits[0, 1], store["a"])
    assert grad.shape == store["a"].shape
    assert grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("arch", "layer", "side"),
    [
        ("resnet50", "layer4", 2),
        ("vgg16", "features.29", 4),
        ("vgg16_bn", "features.42", 4),
        ("alexnet", "features.11", 3),
    ],
)
def test_default_target_layer_is_last_conv_map(arch: str, layer: str, side: int) -> None:
    model = build_model(arch, "plain", 5).eval()
    assert model.cam_target_layer == layer
    store = {}
    resolve_layer(model, layer).register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 5)
    assert store["a"].ndim == 4 and store["a"].shape[-1] == side


@pytest.mark.parametrize(
    ("arch", "layer"), [("vgg16", "features.29"), ("vgg16_bn", "features.42"), ("alexnet", "features.11")]
)
def test_gap_classifier_is_mean_then_fc_of_the_target_layer(arch: str, layer: str) -> None:
    """classifier="gap" (the CAM paper's -GAP net): logits = fc(mean of the target layer), so CAM is
    defined and equals Grad-CAM's map; the full classifier refuses CAM; most parameters go away."""
    from camx.cam import explain

    torch.manual_seed(0)
    gap = build_model(arch, "plain", 5, classifier="gap").eval()
    full = build_model(arch, "plain", 5).eval()
    assert sum(p.numel() for p in gap.parameters()) * 4 < sum(p.numel() for p in full.parameters())
    assert gap.cam_target_layer == layer
    store = {}
    resolve_layer(gap, layer).register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    x = torch.randn(2, 3, 64, 64)
    logits = gap(x)
    fc = gap.head.fc
    assert torch.allclose(logits, fc(store["a"].mean(dim=(2, 3))), atol=1e-5)
    cls = logits.argmax(1)
    raw = torch.einsum("bk,bkhw->bhw", fc.weight[cls], store["a"]).detach()
    lo, hi = raw.amin(dim=(1, 2), keepdim=True), raw.amax(dim=(1, 2), keepdim=True)
    cam = explain(gap, x, "cam", size=None).maps
    assert torch.allclose(cam, (raw - lo) / (hi - lo), atol=1e-4)  # Zhou et al. 2016, Eq. 1, min–max
    with pytest.raises(ConfigError, match="gradcam"):
        explain(full, x, "cam")


@pytest.mark.parametrize("arch", ["alexnet", "vgg16", "vgg16_bn"])
def test_gap_attention_heads_read_the_target_layer_map(arch: str) -> None:
    """With classifier="gap" the backbone ends at the target layer for every head, so an attention head
    sees its 3×3 (AlexNet) / 4×4 (VGG16) map at 64 px, not the 1×1 / 2×2 left by the final max-pool."""
    gap = build_model(arch, "dropkey", 5, classifier="gap").eval()
    full = build_model(arch, "dropkey", 5).eval()
    seen: dict[str, tuple[int, ...]] = {}
    for name, model in (("gap", gap), ("full", full)):
        model.head.register_forward_pre_hook(
            lambda m, args, k=name: seen.update({k: tuple(args[0].shape[-2:])})
        )
        model(torch.randn(1, 3, 64, 64))
    assert seen["gap"] == {"alexnet": (3, 3)}.get(arch, (4, 4))
    assert seen["full"] == {"alexnet": (1, 1)}.get(arch, (2, 2))
    assert gap.state_dict().keys() == full.state_dict().keys()  # a gap backbone loads into either


def test_output_stride_16_doubles_cam_resolution() -> None:
    store = {}
    for os_ in (32, 16):
        model = build_model("resnet50", "plain", 3, output_stride=os_).eval()
        model.layer4.register_forward_hook(lambda m, i, o, k=os_: store.update({k: o.shape[-1]}))
        model(torch.randn(1, 3, 64, 64))
    assert store == {32: 2, 16: 4}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"arch": "resnet18"}, "model.arch"),
        ({"head": "foo"}, "model.head"),
        ({"mask_ratio": 1.0}, "mask_ratio"),
        ({"mask_ratio": -0.1}, "mask_ratio"),
        ({"arch": "vgg16", "output_stride": 16}, "output_stride"),
        ({"weights": "laion"}, "model.weights"),
        ({"arch": "vgg16", "classifier": "mlp"}, "model.classifier"),
        ({"dim": 30, "num_heads": 4, "head": "dropkey"}, "divisible"),
    ],
)
def test_bad_model_options_are_one_line_config_errors(kwargs: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        build_model(**{"arch": "resnet50", "head": "plain", "num_classes": 3, **kwargs})
    assert "\n" not in str(info.value)


def test_unknown_target_layer_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="layer4"):
        build_model("resnet50", "plain", 3, target_layer="layer9")


def test_inference_copy_folds_batchnorm_and_follows_weight_changes() -> None:
    from camx.cam.inference import inference_copy

    torch.manual_seed(0)
    model = build_model("resnet50", "plain", 4)
    # give BatchNorm non-trivial statistics, then freeze
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 48, 48))
    model.eval()
    x = torch.randn(2, 3, 48, 48)
    hook_calls: list[int] = []
    handle = model.layer4.register_forward_hook(lambda *_: hook_calls.append(1))
    try:
        fast = inference_copy(model)
        assert fast is not model and inference_copy(model) is fast  # cached
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
        with torch.no_grad():
            ref, got = model(x), fast(x)
        assert torch.allclose(ref, got, rtol=1e-4, atol=1e-4)
        assert len(hook_calls) == 1  # the original's hooks are not copied
        with torch.no_grad():
            model.head.fc.bias.add_(1.0)  # an in-place update invalidates the cached copy
        again = inference_copy(model)
        assert again is not fast
        with torch.no_grad():
            assert torch.allclose(model(x), again(x), rtol=1e-4, atol=1e-4)
    finally:
        handle.remove()
    model.train()
    assert inference_copy(model) is model  # training (or Monte-Carlo) mode uses the model itself
