"""The class-token tail of torchvision's ViT (camx.cam.token_tail): the gradient pass that runs the model in
inference mode and only the last block's class-token path in grad mode gives the ordinary split pass's
logits, gradients and maps."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.vision_transformer import VisionTransformer

import camx.cam.hooks as hooks
from camx.cam import explain
from camx.cam.token_tail import class_token_tail

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vit() -> VisionTransformer:
    torch.manual_seed(0)
    model = VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64
    )
    torch.nn.init.normal_(model.heads.head.weight, std=0.5)  # torchvision starts the head at zero
    return model.eval()


def _pass(model: VisionTransformer, x: torch.Tensor, monkeypatch: pytest.MonkeyPatch, tail: bool):
    if not tail:
        monkeypatch.setattr(hooks, "class_token_tail", lambda *_args: None)
    layer = model.encoder.layers[-1].ln_1
    with hooks.Probe(model, layer, gradients=True) as probe:
        result = probe.run(x)
    monkeypatch.undo()
    return result


def test_tail_pass_equals_the_split_pass(vit: VisionTransformer, monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(3, 3, 32, 32)
    fast, slow = _pass(vit, x, monkeypatch, True), _pass(vit, x, monkeypatch, False)
    assert fast.logits.shape == slow.logits.shape == (3, 1000)
    assert (fast.logits - slow.logits).abs().max() < 1e-5
    targets = slow.logits.argmax(1)
    g_fast, g_slow = fast.gradients(targets), slow.gradients(targets)
    assert g_slow.abs().max() > 0
    assert (g_fast - g_slow).abs().max() <= 1e-5 * g_slow.abs().max()
    assert torch.equal(fast.activation, slow.activation)


@pytest.mark.parametrize("method", ["gradcam", "gradcampp", "layercam"])
def test_maps_do_not_change(vit: VisionTransformer, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    x = torch.randn(2, 3, 32, 32)
    layer = "encoder.layers.encoder_layer_1.ln_1"
    fast = explain(vit, x, method, target_layer=layer, size=None).maps
    monkeypatch.setattr(hooks, "class_token_tail", lambda *_args: None)
    slow = explain(vit, x, method, target_layer=layer, size=None).maps
    assert (fast - slow).abs().max() < 1e-5


def test_only_for_the_last_ln_1_in_eval_mode(vit: VisionTransformer) -> None:
    assert class_token_tail(vit, vit.encoder.layers[-1].ln_1) is not None
    assert class_token_tail(vit, vit.encoder.layers[0].ln_1) is None
    assert class_token_tail(vit, vit.encoder.layers[-1].ln_2) is None
    vit.encoder.layers[-1].dropout.train()  # Monte-Carlo sampling: the ordinary pass
    try:
        assert class_token_tail(vit, vit.encoder.layers[-1].ln_1) is None
    finally:
        vit.eval()


def test_timm_vit_tail_equals_the_split_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """timm's VisionTransformer (class token pooling, one register token too): same logits and gradients."""
    timm_vit = pytest.importorskip("timm.models.vision_transformer", reason="timm (the `timm` extra)")
    torch.manual_seed(0)
    model = timm_vit.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10, reg_tokens=1
    ).eval()
    torch.nn.init.normal_(model.head.weight, std=0.5)
    layer = model.blocks[-1].norm1
    assert (
        class_token_tail(model, layer) is not None and class_token_tail(model, model.blocks[0].norm1) is None
    )
    x = torch.randn(2, 3, 32, 32)
    with hooks.Probe(
        model, layer, gradients=True, reshape=lambda t: t[:, 2:].reshape(2, 4, 4, 32).permute(0, 3, 1, 2)
    ) as probe:
        fast = probe.run(x)
    monkeypatch.setattr(hooks, "class_token_tail", lambda *_args: None)
    with hooks.Probe(
        model, layer, gradients=True, reshape=lambda t: t[:, 2:].reshape(2, 4, 4, 32).permute(0, 3, 1, 2)
    ) as probe:
        slow = probe.run(x)
    with torch.no_grad():
        assert (fast.logits - model(x)).abs().max() < 1e-5
    targets = slow.logits.argmax(1)
    g_fast, g_slow = fast.gradients(targets), slow.gradients(targets)
    assert g_slow.abs().max() > 0
    assert (g_fast - g_slow).abs().max() <= 1e-5 * g_slow.abs().max()
