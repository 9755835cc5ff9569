"""A user's own CAM method: a CamMethod subclass in the user's module, used by class, by
``"package.module:Class"`` and on the CLI, with its options, and no edit to camx."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from _cam_helpers import SmallCNN, images, seeded, single_thread

import camx
from camx.cam import REGISTRY, GradCAM
from camx.errors import ConfigError

#: Grad-CAM with signed-power channel weights: w_k = sign(ḡ_k)·|ḡ_k|^power, L = ReLU(Σ_k w_k A_k).
USER_MODULE = '''
from camx.cam import GradCAM


class Sharpened(GradCAM):
    """Grad-CAM with weights w_k = sign(g_k)·|g_k|^power, g_k the spatial mean of ∂y^c/∂A_k."""

    def __init__(self, *, power: float = 2.0) -> None:
        self.power = float(power)

    def weights(self, run):
        w = super().weights(run)
        return w.sign() * w.abs().pow(self.power)


class Named(Sharpened):
    """Sharpened, registered under an id of its own."""

    name = "usercams_named"
'''


@pytest.fixture
def user_module(tmp_path: Path) -> Iterator[str]:
    """``usercams`` importable from a tmp dir on sys.path; unloaded and unregistered afterwards."""
    (tmp_path / "usercams.py").write_text(textwrap.dedent(USER_MODULE), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        with single_thread():
            yield str(tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("usercams", None)
        REGISTRY.pop("usercams_named", None)


def test_user_method_by_class_and_by_import_path(user_module: str) -> None:
    model, x = seeded(SmallCNN(), seed=0), images(batch=2)
    from usercams import Sharpened

    plain = camx.explain(model, x, "gradcam")
    same = camx.explain(model, x, method=Sharpened, power=1.0)  # power 1 is Grad-CAM itself
    assert same.method == "Sharpened" and torch.allclose(same.maps, plain.maps, atol=1e-6)
    cubed = camx.explain(model, x, method="usercams:Sharpened", power=3.0)
    assert cubed.method == "Sharpened" and not torch.allclose(cubed.maps, plain.maps, atol=1e-3)
    assert torch.equal(cubed.maps, camx.explain(model, x, method=Sharpened, power=3.0).maps)
    many = camx.explain_many(
        model, x, ["gradcam", "usercams:Sharpened"], options={"usercams:Sharpened": {"power": 3.0}}
    )
    assert list(many) == ["gradcam", "usercams:Sharpened"]
    assert torch.equal(many["usercams:Sharpened"].maps, cubed.maps)
    assert torch.equal(many["gradcam"].maps, plain.maps)
    assert (
        REGISTRY["gradcam"] is GradCAM and "Sharpened" not in REGISTRY
    )  # no name of its own: not registered
    assert camx.explain(model, x, method="usercams_named").method == "usercams_named"  # registered on import


def test_user_method_errors_are_one_clear_line(user_module: str) -> None:
    model, x = seeded(SmallCNN(), seed=0), images(batch=1)
    with pytest.raises(ConfigError, match="method 'Sharpened' has no option 'bogus'; its options are: power"):
        camx.explain(model, x, method="usercams:Sharpened", bogus=1)
    with pytest.raises(ConfigError, match="cannot import it"):
        camx.explain(model, x, method="usercams:Nope")
    with pytest.raises(ConfigError, match="not a CamMethod subclass"):
        camx.explain(model, x, method="torch.nn:Linear")
    with pytest.raises(ConfigError, match="not a CamMethod subclass"):
        camx.explain(model, x, method=torch.nn.Linear)  # type: ignore[arg-type]


def _run_dirs(work: Path) -> set[Path]:
    return set((work / "outputs" / "explain").glob("*")) if (work / "outputs" / "explain").is_dir() else set()


def test_user_method_and_per_method_options_on_the_cli(trained: Path, tmp_path: Path) -> None:
    """``--method``, ``methods=[…]`` and ``cam=`` take ``package.module:Class`` (found in the working
    directory); ``cam.options.<method>.<option>`` reaches every method of the list; a wrong option of
    any of them is one line, exit 2, before any run dir exists."""
    from conftest import camx as run_camx
    from omegaconf import OmegaConf

    from camx.data.shapes import export_samples
    from camx.options.dataset import ShapesSpec

    (img,) = export_samples(str(tmp_path / "imgs"), 1, spec=ShapesSpec(image_size=32, num_classes=4))
    env = {"PYTHONPATH": ""}
    (trained / "usercams.py").write_text(textwrap.dedent(USER_MODULE), encoding="utf-8")
    try:
        ok = run_camx(
            "explain", img, "experiment=smoke", "--method", "gradcam,usercams:Sharpened,smoothgradcampp",
            "cam.options.Sharpened.power=3", "cam.options.smoothgradcampp.n_samples=2", cwd=trained, env=env,
        )  # fmt: skip
        assert ok.returncode == 0, ok.stdout + ok.stderr
        run_dir = Path(ok.stdout.split("run dir:")[1].split()[0])
        assert (run_dir / f"{Path(img).stem}_plain.png").is_file()
        cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
        assert cfg.cam.options.Sharpened.power == 3 and cfg.cam.options.smoothgradcampp.n_samples == 2
        alone = run_camx("explain", img, "experiment=smoke", "cam=usercams:Sharpened", cwd=trained, env=env)
        assert alone.returncode == 0, alone.stdout + alone.stderr
        before = _run_dirs(trained)
        for bad, needle in [
            (
                "cam.options.Sharpened.bogus=1",
                "method 'Sharpened' has no option 'bogus'; its options are: power",
            ),
            ("cam.options.smoothgradcampp.n_samples=0", "n_samples=0 must be a positive integer"),
            ("cam.options.sharpened.power=2", "'sharpened' is not a method of this job"),
        ]:
            res = run_camx(
                "explain", img, "experiment=smoke", "methods=[gradcam,usercams:Sharpened,smoothgradcampp]", bad,
                cwd=trained, env=env,
            )  # fmt: skip
            assert res.returncode == 2, res.stdout + res.stderr
            (line,) = [ln for ln in res.stderr.splitlines() if ln.strip()]
            assert needle in line and "Traceback" not in res.stderr
        assert _run_dirs(trained) == before
    finally:
        (trained / "usercams.py").unlink()
