"""Determinism and numerics: same command, same numbers; degenerate maps and logits never become NaN tables."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from conftest import camx as run_camx
from torch import nn

import camx
from camx.checkpoint import read_checkpoint, save_checkpoint
from camx.errors import DataError
from camx.runs import find_runs

os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)
ENV = {"OMP_NUM_THREADS": "1"}


def _run_dir(stdout: str) -> Path:
    return Path(stdout.split("run dir:")[1].split()[0])


def test_same_eval_twice_gives_identical_metrics(trained: Path) -> None:
    args = [
        "eval",
        "experiment=smoke",
        "--noise",
        "0.6",
        "heads=[dropkey]",
        "methods=[gradcam,gradcampp]",
        "cam.mc_samples=2",
        "figures=false",
    ]  # DropKey Monte-Carlo samples draw from the seeded global RNG
    docs, csvs = [], []
    for _ in range(2):
        res = run_camx(*args, cwd=trained, env=ENV)
        assert res.returncode == 0, res.stdout + res.stderr
        run_dir = _run_dir(res.stdout)
        doc = json.loads((run_dir / "metrics.json").read_text())
        assert doc.pop("created")
        docs.append(doc)
        csvs.append((run_dir / "metrics.csv").read_text())
    assert docs[0] == docs[1]
    assert csvs[0] == csvs[1]
    records = docs[0]["records"]
    methods = {r["method"] for r in records}
    assert {"gradcam", "gradcampp", "random", "center", None} <= methods  # random baseline included
    assert all(r["value"] is None or math.isfinite(r["value"]) for r in records)


def test_eval_shared_passes_and_average_drop_off_change_no_figure(trained: Path) -> None:
    """The default explains every method from one shared pass (camx.explain_many); timing=true explains
    each method alone. average_drop=false leaves out AD/IC and nothing else."""
    values = []
    for extra in (["timing=false"], ["timing=true", "average_drop=false"]):
        res = run_camx(
            "eval",
            "experiment=smoke",
            "--noise",
            "0.6",
            "heads=[plain]",
            "methods=[gradcam,gradcampp,layercam]",
            "figures=false",
            *extra,
            cwd=trained,
            env=ENV,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        records = json.loads((_run_dir(res.stdout) / "metrics.json").read_text())["records"]
        values.append(
            {
                (r["method"], r["perturbation"], r["level"], r["metric"]): r["value"]
                for r in records
                if r["metric"] != "seconds_per_image"
            }
        )
    shared, alone = values
    dropped = {k for k in shared if k[3] in ("average_drop", "increase_in_confidence")}
    assert dropped and set(alone) == set(shared) - dropped
    assert {k[0] for k in alone} >= {"gradcam", "layercam", "random", "center"}
    for key, value in alone.items():
        assert value == pytest.approx(shared[key], abs=1e-6), key


# ------------------------------------------------------------------------------------------- numerics


class _Tiny(nn.Module):
    """conv → ReLU → GAP → linear; ``mode`` corrupts the logits."""

    def __init__(self, mode: str = "") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="replicate")  # flat in → flat out
        self.fc = nn.Linear(4, 3)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(torch.relu(self.conv(x)).mean((2, 3)))
        if self.mode == "nan":
            return out * float("nan")
        if self.mode == "inf":
            return out + float("inf")
        if self.mode == "zero":
            return out * 0.0  # logits do not depend on the features: all-zero gradients
        return out


@pytest.mark.parametrize("method", ["gradcam", "gradcampp", "xgradcam", "layercam", "hirescam", "eigencam"])
def test_all_zero_gradients_and_constant_inputs_give_zero_maps(method: str) -> None:
    images = torch.rand(2, 3, 16, 16)
    out = camx.explain(_Tiny("zero"), images, method=method)
    assert torch.isfinite(out.maps).all()
    if method != "eigencam":  # gradient-free: its map comes from the activations only
        assert (out.maps == 0).all()
    flat = camx.explain(_Tiny(), torch.full((2, 3, 16, 16), 0.5), method=method)
    assert torch.isfinite(flat.maps).all() and (flat.maps == 0).all()  # constant map → zeros


def test_minmax_of_constant_and_tiny_range_maps_is_zero() -> None:
    from camx.cam.base import minmax

    maps = torch.stack([torch.full((5, 5), 3.0), torch.full((5, 5), 1e-30), torch.zeros(5, 5)])
    maps[1, 0, 0] = 1.0000001e-30
    out = minmax(maps)
    assert torch.isfinite(out).all() and (out == 0).all()


@pytest.mark.parametrize("mode", ["nan", "inf"])
def test_library_explain_refuses_non_finite_logits(mode: str) -> None:
    with pytest.raises(DataError, match="NaN or infinite logits"):
        camx.explain(_Tiny(mode), torch.rand(2, 3, 16, 16), method="gradcam")


@pytest.fixture(scope="module")
def diverged(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke resnet50/plain checkpoint with NaN classifier weights (what a diverged run leaves)."""
    real = find_runs(trained / "outputs", arch="resnet50", head="plain")[0]["checkpoint"]
    data = {k: v for k, v in read_checkpoint(real).items() if k != "format"}
    data["state_dict"] = dict(data["state_dict"])
    data["state_dict"]["head.fc.weight"] = torch.full_like(data["state_dict"]["head.fc.weight"], float("nan"))
    path = tmp_path_factory.mktemp("diverged") / "nan.pt"
    save_checkpoint(path, data)
    return path


@pytest.mark.parametrize("task", ["explain", "eval"])
def test_jobs_refuse_a_model_with_nan_logits(
    trained: Path, diverged: Path, tmp_path: Path, task: str
) -> None:
    from camx.data.shapes import export_samples
    from camx.options.dataset import ShapesSpec

    if task == "explain":
        (img,) = export_samples(str(tmp_path / "i"), 1, spec=ShapesSpec(image_size=32, num_classes=4))
        args = ["explain", img, "experiment=smoke", "--checkpoint", str(diverged)]
    else:
        args = ["eval", "experiment=smoke", "perturb=none", "--checkpoint", str(diverged)]
    res = run_camx(*args, cwd=tmp_path, env=ENV)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "NaN or infinite logits" in lines[0] and str(diverged) in lines[0], lines
    assert "Traceback" not in res.stderr
    assert not list((tmp_path / "outputs").rglob("*.png")) and not list(
        (tmp_path / "outputs").rglob("metrics.*")
    )


def test_mean_ci_drops_non_finite_values() -> None:
    from camx.metrics.stats import mean_ci

    assert mean_ci([1.0, float("nan"), 3.0, float("inf"), -float("inf")]) == mean_ci([1.0, 3.0])
    empty = mean_ci([float("nan"), float("inf")])
    assert empty.n == 0 and math.isnan(empty.mean)
    one = mean_ci(torch.tensor([float("nan"), 2.0]))
    assert (one.mean, one.ci_low, one.ci_high, one.n) == (2.0, 2.0, 2.0, 1)


def test_eval_accumulator_never_emits_non_finite_records() -> None:
    from camx.jobs.eval_metrics import Accumulator as _Accumulator
    from camx.jobs.evaluate import Condition

    acc = _Accumulator()
    cond = Condition("none", 0.0, ())
    acc.add("plain", "gradcam", cond, "iou", torch.tensor([float("nan"), float("nan")]))  # nothing measured
    acc.add("plain", "gradcam", cond, "pointing_game", torch.tensor([1.0, float("nan"), 0.0]))
    records = acc.records({"plain": {"arch": "resnet50", "path": "x.pt"}})
    assert [r["metric"] for r in records] == ["pointing_game"]
    assert records[0]["n"] == 2 and all(math.isfinite(records[0][k]) for k in ("value", "ci_low", "ci_high"))


def _iou_record(**values: float) -> dict:
    """One metrics record (an empty-sample IoU), with ``values`` for value / ci_low / ci_high."""
    return {
        "model": "resnet50",
        "head": "plain",
        "checkpoint": "x.pt",
        "method": "gradcam",
        "perturbation": "none",
        "level": 0.0,
        "metric": "iou",
        "n": 0,
        **values,
    }


def test_write_metrics_turns_non_finite_into_null(tmp_path: Path) -> None:
    from camx.results import write_metrics

    rec = _iou_record(value=float("nan"), ci_low=float("-inf"), ci_high=float("inf"))
    write_metrics(tmp_path, [rec], {})
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    (out,) = json.loads(text)["records"]
    assert out["value"] is None and out["ci_low"] is None and out["ci_high"] is None
    assert "nan" not in (tmp_path / "metrics.csv").read_text().lower()


def test_markdown_table_shows_non_finite_as_dash(tmp_path: Path) -> None:
    from camx.results import markdown

    rec = _iou_record(value=float("nan"), ci_low=float("nan"), ci_high=float("nan"))
    assert "nan" not in markdown([rec]).lower()
