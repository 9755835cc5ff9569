"""A new user's walkthrough of ``camx report`` and ``--fail-under`` on a real two-job eval sweep of the
shipped Lite0 over three scikit-image photos and one unreadable file: each mistake is one ``error:`` line
with the documented exit code, and the report keeps what the jobs wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli_messages import _invoke, _lite0, _one_error, _photos

EVAL = ["dataset=imagefolder", "dataset.ratios=[0,0,1]", "methods=[gradcam]", "baselines=[]", "perturb=none"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``camx eval -m`` over two image sizes; ``photos/tabby/broken.jpg`` is not an image."""
    from camx.cli.main import app
    from typer.testing import CliRunner

    work = tmp_path_factory.mktemp("walk")
    root = _photos(work / "photos")
    (root / "tabby" / "broken.jpg").write_text("not an image")
    args = ["eval", "-m", *_lite0(), *EVAL, f"dataset.root={root}", "dataset.image_size=64,96"]
    res = CliRunner().invoke(app, [*args, f"hydra.sweep.dir={work / 'SW'}"])
    assert res.exit_code == 0, res.output
    return work / "SW"


@pytest.mark.parametrize(
    ("out", "code", "needle"),
    [
        ("/", 2, "--out / is the file-system root"),
        ("/proc/camx-nope", 3, "/proc/camx-nope: cannot create the report folder"),
        ("{sweep}/0/metrics.json/x", 2, "metrics.json is a file, not a folder"),
    ],
)
def test_report_refuses_an_out_folder_it_cannot_use(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, code: int, needle: str
) -> None:
    if out.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc")
    res = _invoke(tmp_path, monkeypatch, "report", str(sweep), "--out", out.format(sweep=sweep))
    _one_error(res, code, needle)
    assert not Path("/metrics.json").exists() and not Path("/report.html").exists()


def test_report_takes_no_overrides_and_says_where_figure_settings_come_from(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = _invoke(tmp_path, monkeypatch, "report", str(sweep), "figure.format=pdf")
    line = _one_error(res, 2, "camx report takes no config overrides (got figure.format=pdf)")
    assert "the sweep jobs' own figure settings" in line


def test_report_keeps_the_jobs_skipped_images(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rep"
    res = _invoke(tmp_path, monkeypatch, "report", str(sweep), "--out", str(out))
    assert res.exit_code == 0, res.output
    (skipped,) = json.loads((out / "metrics.json").read_text())["skipped_images"]
    assert skipped["path"].endswith("tabby/broken.jpg") and skipped["jobs"] == ["0", "1"]
    assert "1 unreadable image(s) left out (jobs 0, 1): broken.jpg" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("gate", "needle"),
    [
        ("layercam.stability_pearson=0.5", "methods=[gradcam] and baselines leave out layercam"),
        ("fogg.accuracy=0.5", "fogg is no method, head or perturbation of this run"),
        ("Gradcam.complexity=1", "did you mean gradcam?"),
        ("Dropkey.confidence=0.5", "did you mean dropkey?"),
        ("blur.accuracy=0.5", "blur is not among this run's conditions (none)"),
        ("gradcam.accuracy=0.5", "accuracy is scored once per model and condition, not per CAM method"),
    ],
)
def test_gate_qualifiers_the_config_rules_out_are_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gate: str, needle: str
) -> None:
    args = ["eval", *_lite0(), *EVAL, f"dataset.root={tmp_path / 'none'}", "--fail-under", gate]
    res = _invoke(tmp_path, monkeypatch, *args)
    _one_error(res, 2, needle)
    assert "run dir:" not in res.stdout and not (tmp_path / "outputs").exists()


def test_a_gate_no_record_matches_says_accuracy_has_no_method_and_the_table_is_whole(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Post-run, ``accuracy`` records carry no method by design: the line says so, and names the run's
    CAM methods instead of "methods none"."""
    args = ["eval", *_lite0(), *EVAL, f"dataset.root={sweep.parent / 'photos'}", "dataset.image_size=64"]
    res = _invoke(tmp_path, monkeypatch, *args, "figures=false", "--fail-under", "other.accuracy=0.5")
    line = _one_error(res, 1, "no accuracy result has other")
    assert "no method (accuracy records are per model, method null; the run's CAM methods: gradcam)" in line
    # the console table at 200 columns: the shared model in its title, no name cut to "…"
    assert "evaluation (mean, 95% CI in metrics.json): model timm/tf_efficientnet_lite0" in res.stdout
    assert "…" not in res.stdout and "incr_conf = increase_in_confidence" in res.stdout


def test_the_map_gallery_names_its_rows_by_file_and_spreads_over_the_classes(sweep: Path) -> None:
    from camx.jobs.eval_examples import spread

    assert spread([0, 0, 0, 1, 2, 1], 3) == [0, 3, 4] and spread([5, 5], 4) == [0, 1]
    page = (sweep / "0" / "report.html").read_text()
    assert "· espresso/0.jpg</td>" in page and "· tabby/0.jpg</td>" in page and " · #0</td>" not in page
