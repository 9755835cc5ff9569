"""Vision Transformers: token (ViT/DeiT) and NHWC (Swin) target layers become maps, equal to
pytorch-grad-cam's with its ``reshape_transform`` for every shared deterministic method.

Models are timm's own ViT and Swin classes, shrunk (32 px input, two blocks, random weights, head
scaled by 1e5 so pytorch-grad-cam's ε in the Grad-CAM++ denominator is negligible), explained at
the last block's first LayerNorm — the layer the peers document for ViT and Swin.
"""

from __future__ import annotations

import pytest
import torch
from _cam_helpers import PGC_SAME, normalise
from torch import Tensor, nn

from camx.cam import explain
from camx.cam.reshape import token_grid
from camx.errors import ConfigError

timm = pytest.importorskip("timm", reason="timm (the `timm` extra) is needed for its ViT and Swin")
pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

TOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


def _scaled(model: nn.Module, head: nn.Linear, gain: float) -> nn.Module:
    with torch.no_grad():
        head.weight.mul_(gain)
    return model.eval()


def tiny_vit(**kw: object) -> nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5, **kw
    )
    return _scaled(model, model.head, gain=1e5)


def tiny_swin() -> nn.Module:
    from timm.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    model = SwinTransformer(
        img_size=32, patch_size=4, window_size=4, embed_dim=16, depths=(1, 1), num_heads=(1, 1), num_classes=5
    )
    return _scaled(model, model.head.fc, gain=1e5)


def _x(seed: int = 1) -> Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _vit_reshape(tokens: Tensor) -> Tensor:  # pytorch-grad-cam's documented ViT transform
    b, n, c = tokens.shape
    side = int((n - 1) ** 0.5)
    return tokens[:, 1:, :].reshape(b, side, side, c).permute(0, 3, 1, 2)


def _swin_reshape(x: Tensor) -> Tensor:  # timm Swin blocks are NHWC
    return x.permute(0, 3, 1, 2)


def pgc_raw(cls_name: str, model: nn.Module, layer: nn.Module, x: Tensor, targets: Tensor, reshape) -> Tensor:
    cam = getattr(pgc, cls_name)(model=model, target_layers=[layer], reshape_transform=reshape)
    try:
        tg = [ClassifierOutputTarget(int(c)) for c in targets]
        cam(input_tensor=x, targets=tg)
        store = cam.activations_and_grads
        acts, grads = store.activations[0].numpy(), store.gradients[0].numpy()
        return torch.as_tensor(cam.get_cam_image(x, layer, tg, acts, grads, False))
    finally:
        cam.activations_and_grads.release()


CASES = {
    "vit": (tiny_vit, "blocks.1.norm1", _vit_reshape),
    "swin": (tiny_swin, "layers.1.blocks.0.norm1", _swin_reshape),
}


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize(("method", "cls_name"), PGC_SAME)
def test_transformer_maps_match_pytorch_grad_cam(kind: str, method: str, cls_name: str) -> None:
    build, layer, reshape = CASES[kind]
    model, x = build(), _x()
    # camx reshapes automatically: tokens for ViT (the class token dropped), 'nhwc' named for Swin
    auto = "auto" if kind == "vit" else "nhwc"
    res = explain(model, x, method, target_layer=layer, size=None, reshape=auto)
    ref = normalise(pgc_raw(cls_name, model, model.get_submodule(layer), x, res.targets, reshape))
    assert res.maps.shape == ref.shape == (2, 4, 4)
    assert float((res.maps - ref).abs().max()) <= TOL


def test_callable_reshape_equals_auto_and_module_path_resolves() -> None:
    model, x = tiny_vit(), _x()
    auto = explain(model, x, "gradcam", target_layer="blocks.1.norm1", size=None)
    given = explain(model, x, "gradcam", target_layer="blocks.1.norm1", size=None, reshape=_vit_reshape)
    named = explain(
        model, x, "gradcam", target_layer="blocks.1.norm1", size=None, reshape="test_cam_reshape:_vit_reshape"
    )
    assert torch.equal(auto.maps, given.maps) and torch.equal(auto.maps, named.maps)


def test_register_tokens_are_dropped_by_the_grid() -> None:
    assert token_grid(197, (224, 224)) == (1, 14, 14)
    assert token_grid(16 + 5, (32, 32)) == (5, 4, 4)  # class + 4 registers
    assert token_grid(1 + 8 * 4, (64, 32)) == (1, 8, 4)
    model = tiny_vit(reg_tokens=4)
    res = explain(model, _x(), "gradcam", target_layer="blocks.1.norm1", size=None)
    assert res.maps.shape == (2, 4, 4) and torch.isfinite(res.maps).all()


@pytest.mark.parametrize("method", ["scorecam", "gradpp_scorecam", "eigencam", "smoothgradcampp", "center"])
def test_other_families_run_on_tokens(method: str) -> None:
    model, x = tiny_vit(), _x()
    opts = {"score_size": "input"} if method == "gradpp_scorecam" else {}
    res = explain(model, x, method, target_layer="blocks.1.norm1", size="input", **opts)
    assert res.maps.shape == (2, 32, 32)
    assert float(res.maps.min()) >= 0.0 and float(res.maps.max()) <= 1.0


def test_fixed_size_model_refuses_smaller_score_inputs_in_one_line() -> None:
    with pytest.raises(ConfigError, match="cannot classify the 16×16 masked inputs"):
        explain(tiny_vit(), _x(), "gradpp_scorecam", target_layer="blocks.1.norm1", score_size=16)


def test_cam_refuses_a_transformer_with_its_reason() -> None:
    with pytest.raises(ConfigError, match="global average pooling"):
        explain(tiny_vit(), _x(), "cam", target_layer="blocks.1.norm1")


def test_reshape_config_option_reaches_explain(tmp_path) -> None:
    from conftest import camx

    from camx.cam.reshape import CHOICES
    from camx.options.model import RESHAPES

    assert CHOICES == RESHAPES
    res = camx("explain", "x.png", "model.reshape=sideways", f"outputs_dir={tmp_path}", cwd=tmp_path)
    assert res.returncode == 2 and "model.reshape='sideways' is not valid" in res.stderr


def test_wrong_reshape_is_one_clear_error() -> None:
    model, x = tiny_vit(), _x()
    with pytest.raises(ConfigError, match="reshape='nhwc' needs"):
        explain(model, x, "gradcam", target_layer="blocks.1.norm1", reshape="nhwc")
    with pytest.raises(ConfigError, match="cannot import"):
        explain(model, x, "gradcam", target_layer="blocks.1.norm1", reshape="no_such_module:f")
    with pytest.raises(ConfigError, match="must return"):
        explain(model, x, "gradcam", target_layer="blocks.1.norm1", reshape=lambda t: t)
