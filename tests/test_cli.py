"""End to end through the real CLI: train → explain → eval on the smoke preset, sweeps, and user errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import camx

from camx.checkpoint import load_checkpoint
from camx.runs import find_runs


def test_sweep_trained_two_heads_with_checkpoints_and_configs(trained: Path) -> None:
    runs = find_runs(trained / "outputs", arch="resnet50")
    assert sorted(r["head"] for r in runs) == ["dropkey", "plain"]
    sweep = next(p for p in (trained / "outputs" / "multirun").iterdir() if "_train_" in p.name)
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2
    for job in jobs:
        assert (job / ".hydra" / "config.yaml").is_file()
        assert (job / "checkpoints" / "best.pt").is_file() and (job / "checkpoints" / "last.pt").is_file()
    model, meta = load_checkpoint(runs[0]["checkpoint"])
    assert meta["num_classes"] == 4 and meta["class_names"][:2] == ["circle", "square"]
    assert meta["camx_version"] and meta["config"]["dataset"]["image_size"] == 32
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 4)


def test_explain_writes_panels_grid_and_prints_predictions(trained: Path, tmp_path: Path) -> None:
    from camx.data.shapes import export_samples
    from camx.options.dataset import ShapesSpec

    images = export_samples(str(tmp_path / "imgs"), 2, spec=ShapesSpec(image_size=32, num_classes=4))
    # --target None is unset (camx.options.is_unset): the predicted class, in the captions too
    res = camx(
        "explain",
        *images,
        "experiment=smoke",
        "--method",
        "gradcam,gradcampp",
        "--target",
        "None",
        cwd=trained,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "probability" in out and "run dir:" in out
    run_dir = Path(out.split("run dir:")[1].split()[0])
    pngs = sorted(p.name for p in run_dir.glob("*.png"))
    stems = [Path(i).stem for i in images]
    for stem in stems:
        assert f"{stem}_plain.png" in pngs
        assert f"{stem}_grid.png" in pngs  # two heads trained → methods × heads grid
    assert (run_dir / ".hydra" / "config.yaml").is_file()


def test_eval_noise_writes_long_format_metrics(trained: Path) -> None:
    res = camx("eval", "experiment=smoke", "--noise", "0.6", cwd=trained)
    assert res.returncode == 0, res.stdout + res.stderr
    run_dir = Path(res.stdout.split("run dir:")[1].split()[0])
    doc = json.loads((run_dir / "metrics.json").read_text())
    records = doc["records"]
    keys = {
        "model",
        "head",
        "run",
        "seed",
        "mask_ratio",
        "checkpoint",
        "method",
        "perturbation",
        "level",
        "levels",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "n",
    }
    assert all(set(r) == keys for r in records)
    assert all(r["levels"] is None for r in records)  # set only on compose=true chains
    heads = {r["head"] for r in records}
    assert heads == {"plain", "dropkey"}
    assert all(r["run"] == r["head"] and r["seed"] == 0 for r in records)  # latest checkpoint of each head
    assert {r["mask_ratio"] for r in records if r["head"] == "plain"} == {None}
    conds = {(r["perturbation"], r["level"]) for r in records}
    assert conds == {("none", 0.0), ("noise", 0.6)}
    acc = [r for r in records if r["metric"] == "accuracy"]
    assert all(r["method"] is None and 0 <= r["value"] <= 1 and r["n"] == 8 for r in acc)
    assert {r["metric"] for r in records} >= {
        "accuracy",
        "confidence",
        "confidence_pred",
        "pointing_game",
        "iou",
    }
    assert (run_dir / "metrics.csv").is_file() and (run_dir / "metrics.md").is_file()
    assert "accuracy" in res.stdout


def test_eval_names_the_checkpoint_a_method_refuses(trained: Path) -> None:
    """`cam` is defined for the plain head (GAP → fc) but not for the dropkey head: the eval stops with one
    line naming the dropkey checkpoint, exit code 2, and leaves no run dir behind."""
    before = (
        set((trained / "outputs" / "eval").glob("*")) if (trained / "outputs" / "eval").is_dir() else set()
    )
    res = camx("eval", "experiment=smoke", "perturb=none", "methods=[cam]", cwd=trained)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert "resnet50-dropkey" in line and "best.pt: method 'cam' needs" in line and "use 'gradcam'" in line
    after = (
        set((trained / "outputs" / "eval").glob("*")) if (trained / "outputs" / "eval").is_dir() else set()
    )
    assert after == before


def test_fail_under_exit_codes(trained: Path, tmp_path: Path) -> None:
    ok = camx(
        "eval",
        "experiment=smoke",
        "map_metrics=false",
        "perturb=none",
        "--fail-under",
        "accuracy=0",
        cwd=trained,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a sweep whose job runs in a joblib worker process still fails the command
    bad = camx(
        "eval",
        "-m",
        "experiment=smoke",
        "map_metrics=false",
        "perturb=none",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=1",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "--fail-under",
        "dropkey.confidence=1.01",
        cwd=trained,
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "dropkey.confidence" in bad.stderr
    assert not list(trained.glob(".camx-gates-*"))  # the jobs' threshold files are cleaned up
    typo = camx("eval", "experiment=smoke", "--fail-under", "confidance=0.5", cwd=trained)
    assert typo.returncode == 2 and "confidance" in typo.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "model=resnet18"], "choose one of: alexnet, resnet50, vgg16, vgg16_bn"),
        (["train", "model.head=dropkeyy"], "model.head"),
        (["train", "trainer.batch_size=0"], "trainer.batch_size"),
        (["train", "model.mask_ratio=1.5"], "mask_ratio"),
        (["train", "trainer.epochs=3", "trainer.foo=1"], "trainer.foo"),
        (["train", "dataset.image_size=16", "model.output_stride=32"], "too small"),
        (["eval", "--noise", "-1"], "variance"),
        (["eval", "perturb=contrast", "perturb.contrast.factor=[0]"], "contrast"),
        (["eval", "cam=nosuchcam"], "choose one of"),
        (["eval", "cam.chunk_size=big"], "cam.chunk_size"),
        (["eval", "average_drop=maybe"], "average_drop"),
        (["eval", "perturb=stretch", "perturb.stretch.axis=diagonal"], "perturb.stretch.axis"),
        (["eval", "perturb=noise", "perturb.noise.space=uint8"], "perturb.noise.space"),
        (["sanity", "x.png", "modes=[sideways]"], "modes"),
        (["train", "model.init_backbone=missing.pt"], "missing.pt"),
        (["explain", "nosuch.jpg", "experiment=smoke"], "nosuch.jpg"),
        (["explain", "x.jpg", "--checkpoint", "missing.pt"], "missing.pt"),
    ],
)
def test_user_errors_are_one_line_exit_2_no_traceback(tmp_path: Path, args: list[str], needle: str) -> None:
    res = camx(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) <= 2
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or not any(outputs.rglob("*.pt")) and not any(outputs.rglob("*.png"))


def _imported_top_level(importtime_stderr: str) -> set[str]:
    """Top-level packages named in ``-X importtime`` (PYTHONPROFILEIMPORTTIME) output."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


#: What every entry point says for a checkpoint path with nothing there (camx.errors.check_checkpoint_file).
MISSING = (
    "missing.pt: no such checkpoint file (nothing is there); check the path, or train one with `camx train`"
)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "model.head=bogus"], "model.head"),
        (["eval", "--noise", "-1"], "variance"),
        (["eval", "--fail-under", "confidance=0.5"], "confidance"),
        (["explain", "x.jpg", "--method", "gradcm"], "gradcm"),
        # the file-system checks (preflight): missing inputs and checkpoints, nothing trained yet
        (["explain", "nosuch.jpg"], "nosuch.jpg: no such file or directory"),
        (["explain", "img.png", "--checkpoint", "missing.pt"], MISSING),
        (["eval", "checkpoints=[missing.pt]"], MISSING),
        (["explain", "img.png", "outputs_dir={tmp}"], "no trained resnet50/plain checkpoint"),
        (["eval", "outputs_dir={tmp}"], "no trained resnet50 checkpoint"),
        (["train", "model.init_backbone=missing.pt"], MISSING),
    ],
)
def test_bad_configuration_is_reported_without_importing_torch(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """Config validation and the checks for missing files are torch-free, so a typo costs well under a
    second instead of torch's import. ``img.png`` exists; ``{tmp}`` is an empty outputs_dir."""
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "img.png")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = camx(*args, cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert res.returncode == 2, res.stdout + res.stderr
    assert "error:" in res.stderr and needle in res.stderr
    imported = _imported_top_level(res.stderr)
    assert "camx" in imported and "hydra" in imported  # the profile covers the CLI's imports
    assert not imported & {"torch", "torchvision"}


def test_validate_runs_every_check_without_torch(tmp_path: Path) -> None:
    """camx.config.validate on valid configs of each task (every branch taken) imports neither torch nor torchvision."""
    code = """
import sys
from camx.cli.hydra_bridge import compose
from camx.config import validate

for task, overrides in [
    ("train", ["dataset=shapes", "dataset.num_classes=4", "trainer.sizes=[32,48]"]),
    ("explain", ["methods=[gradcam,scorecam]", "cam.chunk_size=8"]),
    ("eval", ["perturb=paper", "baselines=[random,center]", "++fail_under.dropkey.confidence=0.5"]),
]:
    validate(compose(task, overrides))
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))
assert not leaked, leaked[:5]
"""
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_explain_without_trained_model_says_how_to_get_one(tmp_path: Path) -> None:
    from camx.data.shapes import export_samples

    (img,) = export_samples(str(tmp_path / "i"), 1)
    res = camx("explain", img, cwd=tmp_path)
    assert res.returncode == 2
    assert "camx train" in res.stderr
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*.png"))


def test_train_banner_counts_epochs_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "for 1 epoch", "for 6 epochs" (camx.errors.plural), not "for 1 epochs"."""
    from camx.cli import tasks
    from omegaconf import OmegaConf

    import camx.jobs.train as train_job
    from camx.errors import plural

    assert (plural(1, "epoch"), plural(6, "epoch"), plural(0, "run")) == ("1 epoch", "6 epochs", "0 runs")
    assert plural(1, "entry", "entries") == "1 entry" and plural(2, "entry", "entries") == "2 entries"

    class Started(Exception):
        pass

    def started(*args, **kwargs):
        raise Started

    monkeypatch.setattr(train_job, "train", started)
    for epochs, words in ((1, "for 1 epoch\n"), (6, "for 6 epochs\n")):
        cfg = OmegaConf.create(
            {"model": {"arch": "resnet50", "head": "plain"}, "dataset": {"name": "shapes", "image_size": 32}}
        )
        cfg.trainer = {"epochs": epochs}
        with pytest.raises(Started):
            tasks._train(cfg, tmp_path)
        assert words in capsys.readouterr().out


def test_help_lists_groups_and_examples(tmp_path: Path) -> None:
    res = camx("train", "--help", cwd=tmp_path)
    assert res.returncode == 0
    assert "resnet50" in res.stdout and "dropkey" in res.stdout and "Examples" in res.stdout
    res = camx("eval", "--help", cwd=tmp_path)
    assert "noise_sweep" in res.stdout and "--fail-under" in res.stdout


def test_configs_found_from_any_working_directory(tmp_path: Path) -> None:
    res = camx("train", "--cfg", "job", "model=vgg16", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "arch: vgg16" in res.stdout


def test_report_aggregates_a_sweep_and_lists_missing_jobs(trained: Path, tmp_path: Path) -> None:
    res = camx(
        "eval",
        "-m",
        "experiment=smoke",
        "map_metrics=false",
        "perturb=none",
        "heads=[plain],[dropkey]",
        cwd=trained,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    sweep = max((trained / "outputs" / "multirun").glob("*_eval_*"))
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    jobs = sorted(p for p in copy.iterdir() if p.is_dir())
    (jobs[1] / "metrics.json").unlink()  # a failed job
    rep = camx("report", str(copy), cwd=tmp_path)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "missing" in rep.stderr and jobs[1].name in rep.stderr
    doc = json.loads((copy / "report" / "metrics.json").read_text())
    assert {r["metric"] for r in doc["records"]} == {"accuracy", "confidence", "confidence_pred"}
    assert (copy / "report" / "metrics.md").is_file()
    page = (copy / "report" / "report.html").read_text()  # one page: the jobs' records and what is missing
    assert '<table class="sortable">' in page and f"missing: {jobs[1]}" in page
    assert "report of" in rep.stdout and "report.html" in rep.stdout


def test_mask_ratio_sweep_gives_fig8(tmp_path: Path) -> None:
    res = camx(
        "train", "-m", "experiment=smoke", "model.head=dropkey", "model.mask_ratio=0.1,0.3", cwd=tmp_path
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(list((tmp_path / "outputs").rglob("best.pt"))) == 2
    sweep = next((tmp_path / "outputs" / "multirun").iterdir())  # the sweep folder stands for its two runs
    res = camx(
        "eval", "experiment=smoke", "perturb=none", f"checkpoints=[{sweep}]", "timing=true", cwd=tmp_path
    )
    assert res.returncode == 0, res.stdout + res.stderr
    run_dir = Path(res.stdout.split("run dir:")[1].split()[0])
    assert (run_dir / "fig8_mask_ratio.png").stat().st_size > 1000
    records = json.loads((run_dir / "metrics.json").read_text())["records"]
    assert {(r["head"], r["mask_ratio"]) for r in records} == {("dropkey", 0.1), ("dropkey", 0.3)}
    assert {r["run"] for r in records} == {"0_resnet50-dropkey", "1_resnet50-dropkey"}  # run folder names
    timed = [r for r in records if r["metric"] == "seconds_per_image"]
    assert {r["method"] for r in timed} == {"gradcam", "random", "center"} and all(
        r["value"] > 0 for r in timed
    )


def test_samples_draws_the_presets_images(tmp_path: Path) -> None:
    from camx.cli.main import app
    from PIL import Image
    from typer.testing import CliRunner

    def export_main(args: list[str]) -> int:  # camx samples DIR --count N OVERRIDES...
        return CliRunner().invoke(app, ["samples", args[0], "--count", *args[1:]]).exit_code

    assert export_main([str(tmp_path / "s"), "2", "experiment=smoke"]) == 0
    files = sorted((tmp_path / "s").glob("*.png"))
    assert len(files) == 2 and Image.open(files[0]).size == (32, 32)  # smoke draws 32 px images
    assert export_main([str(tmp_path / "t"), "1", "dataset.min_scale=7"]) == 2
    assert not (tmp_path / "t").exists()


def test_demo_summary_reports_targets_from_eval_records(tmp_path: Path) -> None:
    from camx.errors import DataError
    from camx.report.demo import write_summary

    def rec(head: str, metric: str, perturbation: str, level: float, value: float) -> dict:
        return {
            "model": "resnet50", "head": head, "checkpoint": "x", "method": None, "perturbation": perturbation,
            "level": level, "metric": metric, "value": value, "ci_low": value - 0.01, "ci_high": value + 0.01,
            "n": 400,
        }  # fmt: skip

    records = []
    for head, acc, conf10 in (("plain", 0.95, 0.5), ("dropkey", 0.88, 0.8)):
        records += [
            rec(head, "accuracy", "none", 0, acc),
            rec(head, "confidence", "none", 0, 0.9),
            rec(head, "accuracy", "noise", 0.6, acc - 0.2),
            rec(head, "confidence", "noise", 0.6, 0.7),
            rec(head, "confidence", "noise", 1.0, conf10),
        ]
    run = tmp_path / "eval" / "2026-01-01_00-00-00_resnet50_1"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"records": records}))
    res = camx("report", str(tmp_path), "--demo", "600", cwd=tmp_path)
    assert res.returncode == 0 and "written to" in res.stdout
    text = (tmp_path / "summary.md").read_text()
    assert text in res.stdout
    assert "| plain | 0.950 [0.940, 0.960] |" in text
    assert "| 10.0 min | met |" in text
    assert "lowest 0.880 | **not met** |" in text  # dropkey below 90%
    assert "| 0.400 | met |" in text  # plain: 0.9 − 0.5
    with pytest.raises(DataError, match="no eval results under"):
        write_summary(tmp_path / "nothing", 1)
