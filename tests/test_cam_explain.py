"""The public API of camx.cam: explain()'s arguments and CamResult."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _cam_helpers import SmallCNN, camx_model, cnn_methods, images, seeded
from torch import nn

import camx
from camx.cam import REGISTRY, CamResult, explain, get_method
from camx.cam.base import minmax
from camx.errors import ConfigError, DataError
from camx.options.cam import METHODS
from camx.report.groups import BASELINES

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread per test


def _cnn() -> nn.Module:
    return seeded(SmallCNN(), seed=0)


def test_methods_registry_and_docs() -> None:
    # the torch-free view of the methods (camx.options.cam) is the registry's, in its order: twenty-two methods, three baselines
    assert tuple(REGISTRY) == METHODS and len(METHODS) == 25
    assert METHODS[-3:] == ("random", "center", "sobel") == BASELINES and {
        "scorecam",
        "gradpp_scorecam",
        "hirescam",
    } <= set(METHODS)
    for name in METHODS:
        cls = get_method(name)
        assert cls is REGISTRY[name] and cls.name == name
        assert cls.paper and cls.__doc__ and ("=" in cls.__doc__ or "~" in cls.__doc__), (
            name
        )  # states its formula


def test_every_cam_preset_builds_its_method() -> None:
    """The options of each generated ``cam=<id>`` preset, as the job passes them, are valid for its method."""
    from camx.cli.hydra_bridge import compose, group_choices

    from camx.cam.base import make_method
    from camx.options.cam import method_options

    presets = group_choices("cam")
    assert set(presets) == set(METHODS)
    for preset in presets:
        cfg = compose("explain", [f"cam={preset}"])
        assert make_method(get_method(cfg.cam.name), method_options(cfg, cfg.cam.name)).name == preset


def test_config_view_of_the_methods_is_the_registry_s() -> None:
    """There is one list of methods, the classes: the torch-free reader of their source (config validation,
    the ``cam=<id>`` presets) finds the same ids, in the same order, with the same option defaults as
    ``__init__``'s signature; a class without a ``name`` of its own (a subclass tweak) is not registered."""
    from camx.cam import GradCAM
    from camx.options.cam import builtin_methods

    assert list(builtin_methods()) == list(REGISTRY)
    for name, cls in REGISTRY.items():
        assert builtin_methods()[name] == cls.option_defaults(), name

    class Tweak(GradCAM):
        pass

    assert Tweak.name == "gradcam" and REGISTRY["gradcam"] is GradCAM
    with pytest.raises(ConfigError, match="already taken by camx.cam.gradient.GradCAM"):
        type("Clash", (GradCAM,), {"name": "gradcam"})
    assert camx.explain is explain  # the top-level lazy export


def test_result_fields_and_logits() -> None:
    model, x = _cnn(), images(batch=3)
    result = explain(model, x, "gradcam")
    assert isinstance(result, CamResult)
    assert result.maps.shape == (3, 32, 32) and result.maps.dtype == torch.float32
    assert result.targets.dtype == torch.long and result.targets.shape == (3,)
    with torch.no_grad():
        logits = model(x)
    assert torch.allclose(result.logits, logits, atol=1e-5)
    assert torch.allclose(result.probs, torch.softmax(logits, dim=1), atol=1e-6)
    assert torch.equal(result.targets, logits.argmax(1))
    assert result.method == "gradcam" and result.target_layer == "features"  # auto-detected
    assert float(result.maps.min()) == 0.0 and float(result.maps.max()) == 1.0


def test_size_options() -> None:
    model, x = _cnn(), images()
    feat = explain(model, x, "gradcam", size=None)
    assert feat.maps.shape == (2, 8, 8)  # the target layer's resolution
    full = explain(model, x, "gradcam", size="input")
    assert full.maps.shape == (2, 32, 32)
    # bilinear (align_corners=False) upsampling commutes with min–max, which is affine
    up = F.interpolate(feat.maps[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    assert torch.allclose(full.maps, minmax(up), atol=1e-5)
    odd = explain(model, x, "gradcam", size=(20, 45))
    assert odd.maps.shape == (2, 20, 45)
    wide = explain(model, images(size=32)[:, :, :24], "gradcam")  # non-square input
    assert wide.maps.shape == (2, 24, 32)
    for bad in ("feature", (0, 4), (3,), 7.5):
        with pytest.raises(ConfigError, match="size"):
            explain(model, x, "gradcam", size=bad)  # type: ignore[arg-type]


def test_target_forms() -> None:
    model, x = _cnn(), images(batch=3)
    ref = {t: explain(model, x, "gradcam", targets=t).maps for t in range(3)}
    forms = [[0, 1, 2], (0, 1, 2), torch.tensor([0, 1, 2]), np.array([0, 1, 2])]
    for form in forms:
        result = explain(model, x, "gradcam", targets=form)
        assert result.targets.tolist() == [0, 1, 2]
        for i in range(3):
            assert torch.allclose(result.maps[i], ref[i][i], atol=1e-6)
    for scalar in (2, torch.tensor(2), np.int64(2)):
        assert explain(model, x, "gradcam", targets=scalar).targets.tolist() == [2, 2, 2]
    for bad in (5, -1, [0, 1], [0.5, 1, 2], True, "cat"):
        with pytest.raises(ConfigError, match="targets"):
            explain(model, x, "gradcam", targets=bad)  # type: ignore[arg-type]


def test_dotted_target_layers_on_camx_models() -> None:
    x = images(batch=2, size=64)
    resnet = camx_model("resnet50")
    default = explain(resnet, x, "gradcam", size=None)
    assert default.target_layer == "layer4" and default.maps.shape == (2, 2, 2)
    by_path = explain(resnet, x, "gradcam", target_layer="layer4", size=None)
    by_module = explain(resnet, x, "gradcam", target_layer=resnet.layer4, size=None)
    assert torch.equal(default.maps, by_path.maps) and torch.equal(default.maps, by_module.maps)
    deeper = explain(resnet, x, "gradcam", target_layer="layer3.5", size=None)
    assert deeper.target_layer == "layer3.5" and deeper.maps.shape == (2, 4, 4)

    vgg = camx_model("vgg16")
    result = explain(vgg, x, "gradcam", target_layer="features.29", size=None)
    assert result.target_layer == "features.29" and result.maps.shape == (2, 4, 4)


def test_bad_target_layers() -> None:
    model, x = _cnn(), images()
    with pytest.raises(ConfigError, match="features"):  # lists valid names
        explain(model, x, "gradcam", target_layer="layer4")
    with pytest.raises(ConfigError, match="4-D"):
        explain(model, x, "gradcam", target_layer="fc")
    with pytest.raises(ConfigError, match="not part of the model"):
        explain(model, x, "gradcam", target_layer=nn.Conv2d(3, 3, 1))
    unused = _cnn()
    unused.spare = nn.Conv2d(3, 3, 1)
    with pytest.raises(ConfigError, match="did not run"):
        explain(unused, x, "gradcam", target_layer="spare")


def test_argument_validation() -> None:
    model, x = _cnn(), images()
    with pytest.raises(DataError):
        explain(model, x[0], "gradcam")
    with pytest.raises(DataError):
        explain(model, x.long(), "gradcam")
    for name in ("mc_samples", "chunk_size"):
        with pytest.raises(ConfigError, match=name):
            explain(model, x, "gradcam", **{name: 0})
    with pytest.raises(ConfigError, match="sigma"):
        explain(model, x, "smoothgradcampp", sigma=-1.0)


@pytest.mark.parametrize("method", ["gradcam", "gradpp_scorecam", "scorecam"])
def test_works_under_no_grad_and_inference_mode(method: str) -> None:
    model, x = _cnn(), images()
    opts = {"top_k": 4} if "score" in method else {}
    ref = explain(model, x, method, **opts)
    with torch.no_grad():
        assert torch.allclose(explain(model, x, method, **opts).maps, ref.maps, atol=1e-6)
    with torch.inference_mode():
        assert torch.allclose(explain(model, x, method, **opts).maps, ref.maps, atol=1e-6)


def test_chunk_size_does_not_change_score_maps() -> None:
    model, x = _cnn(), images()
    a = explain(model, x, "scorecam", chunk_size=1)
    b = explain(model, x, "scorecam", chunk_size=1000)
    assert torch.allclose(a.maps, b.maps, atol=1e-6)


def test_auto_chunk_size_is_sized_to_the_masked_inputs() -> None:
    from camx.cam.score import AUTO_CHUNK_PIXELS, chunk_for

    cpu = torch.device("cpu")
    assert chunk_for("auto", (224, 224), cpu) == AUTO_CHUNK_PIXELS // (224 * 224) == 5
    assert chunk_for("auto", (48, 48), cpu) == 113
    assert chunk_for("auto", (4096, 4096), cpu) == 1  # never 0
    assert chunk_for(7, (224, 224), cpu) == 7
    model, x = _cnn(), images()
    auto = explain(model, x, "scorecam")  # the default
    assert torch.allclose(auto.maps, explain(model, x, "scorecam", chunk_size=3).maps, atol=1e-6)
    with pytest.raises(ConfigError, match="chunk_size"):
        explain(model, x, "scorecam", chunk_size="big")


# ------------------------------------------------------------------------------- explain_many


def _options(method: str) -> dict:
    if method == "sscam":
        return {"top_k": 4, "n_samples": 2}
    if method == "iscam":
        return {"top_k": 4, "n_steps": 2}
    return {"top_k": 4} if "score" in method or method == "ablationcam" else {}


@pytest.mark.parametrize("targets", [None, [0, 2]])
def test_explain_many_gives_each_methods_own_maps(targets: list[int] | None) -> None:
    model, x = _cnn(), images()
    methods = cnn_methods()  # legrad needs a ViT (tests/test_cam_legrad.py)
    many = camx.explain_many(model, x, methods, targets=targets, options={m: _options(m) for m in methods})
    assert list(many) == list(methods)
    for method in methods:
        alone = explain(model, x, method, targets=targets, **_options(method))
        got = many[method]
        assert got.method == alone.method == method and got.target_layer == alone.target_layer
        assert torch.equal(got.targets, alone.targets)
        assert torch.allclose(got.probs, alone.probs, atol=1e-6)
        assert torch.allclose(got.maps, alone.maps, atol=1e-6), method


def test_explain_many_shares_one_forward_and_one_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    model, x = _cnn(), images()
    forwards, backwards = [], []
    model.register_forward_hook(lambda _m, inputs, _o: forwards.append(int(inputs[0].shape[0])))
    real_grad = torch.autograd.grad

    def counting_grad(*args, **kwargs):  # noqa: ANN002, ANN003
        backwards.append(1)
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    shared = [
        "gradcam",
        "gradcampp",
        "xgradcam",
        "layercam",
        "hirescam",
        "cam",
        "eigencam",
        "random",
        "center",
    ]
    camx.explain_many(model, x, shared)
    # the batch once, after one image that locates the default layer (Probe._locate)
    assert (forwards, len(backwards)) == ([1, len(x)], 1)
    forwards.clear(), backwards.clear()
    for method in shared:
        explain(model, x, method)
    assert (forwards.count(len(x)), len(backwards)) == (len(shared), 5)  # what the shared pass saves


def test_explain_many_monte_carlo_matches_explain() -> None:
    model, x = camx_model("resnet50", "dropkey"), images(batch=2, size=64)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        many = camx.explain_many(model, x, ["gradcam", "layercam"], targets=[0, 1], mc_samples=3)
        for method in ("gradcam", "layercam"):
            torch.manual_seed(3)  # the same stochastic passes
            alone = explain(model, x, method, targets=[0, 1], mc_samples=3)
            assert torch.allclose(many[method].maps, alone.maps, atol=1e-6)
            assert torch.allclose(many[method].probs, alone.probs, atol=1e-6)


def test_explain_many_argument_validation() -> None:
    model, x = _cnn(), images()
    with pytest.raises(ConfigError, match="empty"):
        camx.explain_many(model, x, [])
    with pytest.raises(ConfigError, match="'gradcam' more than once"):
        camx.explain_many(model, x, ["gradcam", "layercam", "gradcam"])
    with pytest.raises(ConfigError, match="'scorecam'"):
        camx.explain_many(model, x, ["gradcam"], options={"scorecam": {"top_k": 2}})
    with pytest.raises(ConfigError, match="unknown|not a|method"):
        camx.explain_many(model, x, ["gradcam", "nocam"])


# ------------------------------------------------- gradient passes: body in inference mode, head in grad mode


class _ModeSpy(nn.Module):
    """Identity that records, per call, whether it ran under inference mode and with grad enabled."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        return x


class _SpiedCNN(nn.Module):
    """conv → spy → conv (target) → spy → GAP → Linear; with ``reuse`` the head multiplies the target
    layer's output by an earlier tensor, which autograd must save for the backward pass."""

    def __init__(self, reuse: bool = False) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.body_spy, self.head_spy = _ModeSpy(), _ModeSpy()
        self.target = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 3)
        self.reuse = reuse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.body_spy(self.stem(x))
        f = self.head_spy(self.target(a))
        if self.reuse:
            f = f * a
        return self.fc(f.mean(dim=(2, 3)))


def _manual_gradcam(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM the long way: a plain grad-mode forward, autograd down to the target layer's output."""
    kept = {}
    handle = model.target.register_forward_hook(lambda _m, _i, out: kept.setdefault("a", out))
    with torch.enable_grad():
        x = x.clone().requires_grad_(True)  # so the target layer's output is part of the graph
        score = model(x).gather(1, targets.view(-1, 1)).sum()
        (grads,) = torch.autograd.grad(score, kept["a"])
    handle.remove()
    act = kept["a"].detach()
    maps = (grads.mean(dim=(2, 3), keepdim=True) * act).sum(1).clamp_min(0)
    return minmax(F.interpolate(maps[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0])


@pytest.mark.parametrize("reuse", [False, True])
def test_gradient_pass_runs_the_body_without_autograd(reuse: bool) -> None:
    model, x = seeded(_SpiedCNN(reuse)).eval(), images(batch=2, size=16)
    targets = torch.tensor([0, 2])
    expected = _manual_gradcam(model, x, targets)
    for call in range(2):
        model.body_spy.calls.clear(), model.head_spy.calls.clear()
        result = explain(model, x, "gradcam", target_layer="target", targets=targets)
        assert torch.allclose(result.maps, expected, atol=1e-5)
        if not reuse:  # the body under inference_mode, the head in grad mode
            assert model.body_spy.calls == [(True, False)]
        elif call == 0:  # the head needs the body's tensor for backward: found out, then a grad-mode pass
            assert model.body_spy.calls == [(True, False), (False, True)]
        else:  # remembered for this target layer
            assert model.body_spy.calls == [(False, True)]
        assert model.head_spy.calls[-1] == (False, True)


def test_cam_package_stands_alone() -> None:
    """camx.cam imports only camx.errors of camx: what it needs of a model comes through the
    documented optional attributes of camx.cam.protocol, never from camx.models, jobs, options or the CLI."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    cam_dir = Path(camx.__file__).parent / "cam"
    for path in sorted(cam_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                if name.startswith("camx"):
                    assert name.startswith(("camx.cam", "camx.errors")), (path.name, name)
    code = "import sys, camx.cam; print(sorted({m for m in sys.modules if m.startswith('camx.')}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "camx.cam.registry" in loaded
    assert not any(f"'camx.{p}" in loaded for p in ("models", "jobs", "options", "cli", "config"))
