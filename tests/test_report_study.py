"""The study report (docs/RESULTS.md) from synthetic study dirs, and checkpoints taken from a sweep folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import camx
from omegaconf import OmegaConf

from camx.errors import CamxError, CheckpointError
from camx.metrics import mean_ci
from camx.metrics import spearman as _spearman
from camx.report.study import write_results
from camx.runs import resolve_checkpoints

# true-class confidence under noise per head and seed: dropkey > dropout > attention > plain, well apart
CONF = {"plain": 0.40, "attention": 0.50, "dropout": 0.60, "dropkey": 0.80}
LEVELS = (0.5, 0.6, 1.0)


def _rec(
    head: str,
    seed: int,
    metric: str,
    value: float,
    *,
    method: str | None = None,
    perturbation: str = "none",
    level: float = 0.0,
    ratio: float | None = 0.1,
) -> dict:
    return {
        "model": "resnet50", "head": head, "run": f"{head}-s{seed}-r{ratio}", "seed": seed,
        "mask_ratio": ratio if head in ("dropout", "dropkey") else None,
        "checkpoint": f"ckpt/{head}/{seed}/{ratio}.pt", "method": method, "perturbation": perturbation,
        "level": level, "metric": metric, "value": value, "ci_low": value - 0.05, "ci_high": value + 0.05,
        "n": 100,
    }  # fmt: skip


def _write_eval(folder: Path, records: list[dict], mc: int = 1) -> None:
    folder.mkdir(parents=True)
    doc = {"schema": "camx-metrics-2", "config": {"cam": {"mc_samples": mc}}, "records": records}
    (folder / "metrics.json").write_text(json.dumps(doc))


def _dropkey_study(root: Path) -> Path:
    study = root / "paper_dropkey_quick"
    noise, maps, mc = [], [], []
    for head, base in CONF.items():
        for seed in range(3):
            jitter = 0.01 * (seed - 1)  # seeds 0, 1, 2 → base − 0.01, base, base + 0.01
            noise.append(_rec(head, seed, "confidence", 0.95, perturbation="none"))
            noise.append(_rec(head, seed, "accuracy", 0.9 + jitter, perturbation="none"))
            for lvl in LEVELS:
                noise.append(_rec(head, seed, "confidence", base + jitter, perturbation="noise", level=lvl))
            maps.append(_rec(head, seed, "pointing_game", 0.7, method="gradcam"))
            maps.append(_rec(head, seed, "pointing_game", 0.3, method="center"))
            maps.append(_rec(head, seed, "stability_pearson", 0.5 + jitter, method="gradcam",
                             perturbation="noise", level=0.5))  # fmt: skip
            if head in ("dropout", "dropkey"):
                mc.append(_rec(head, seed, "stability_pearson", 0.9, method="gradcam", perturbation="noise",
                               level=0.5))  # fmt: skip
    for ratio, acc in ((0.3, 0.85), (0.5, 0.8)):  # the mask-ratio sweep: seed 0 only
        noise.append(_rec("dropkey", 0, "accuracy", acc, ratio=ratio))
    _write_eval(study / "eval_noise", noise)
    _write_eval(study / "eval_maps", maps)
    _write_eval(study / "eval_mc", mc, mc=8)
    (study / "study.json").write_text(json.dumps({"command": "make study-quick", "experiment": study.name,
                                                  "seconds": 1500}))  # fmt: skip
    return study


def _gradpp_study(root: Path) -> Path:
    study = root / "paper_gradpp_scorecam_quick"
    # AD in the paper's order (cam worst … smoothgradcampp best), IC in the opposite order of the paper
    ad = {
        "cam": 50,
        "gradcam": 49,
        "gradcampp": 45,
        "scorecam": 33,
        "smoothgradcampp": 20,
        "gradpp_scorecam": 30,
    }
    ic = {
        "cam": 40,
        "gradcam": 35,
        "gradcampp": 30,
        "scorecam": 20,
        "smoothgradcampp": 15,
        "gradpp_scorecam": 10,
    }
    recs = []
    for method in ad:
        recs.append(_rec("plain", 0, "average_drop", ad[method], method=method))
        recs.append(_rec("plain", 0, "increase_in_confidence", ic[method], method=method))
        recs.append(_rec("plain", 0, "seconds_per_image", 0.25, method=method))
    _write_eval(study / "eval_resnet50", recs)
    (study / "study.json").write_text(json.dumps({"command": "make study-quick", "experiment": study.name,
                                                  "seconds": 600}))  # fmt: skip
    return study


def test_results_markdown_aggregates_seeds_and_compares_with_the_papers(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "RESULTS.md"
    report = write_results([_dropkey_study(tmp_path), _gradpp_study(tmp_path)], out)
    text = out.read_text()
    assert report.markdown == text
    page = report.written[
        -1
    ].read_text()  # report.html beside the study dirs: sortable tables, figures inline
    assert report.written[-1] == tmp_path / "report.html"
    assert page.count('<table class="sortable">') >= 4 and 'src="data:image/png;base64,' in page
    assert not re.search(r'src="(?!data:)', page)
    # the mean over the three seeds with a t-interval over seeds, not over images
    s = mean_ci([CONF["dropkey"] - 0.01, CONF["dropkey"], CONF["dropkey"] + 0.01])
    assert f"{s.mean:.3f} ± {(s.ci_high - s.ci_low) / 2:.3f}" in text
    # the paper's ResNet50 confidences beside camx's
    assert "0.998 / " in text and "0.481 / " in text
    assert "dropkey > dropout > plain holds, and the confidence intervals separate" in text
    # attention − plain = 0.10 and dropkey − attention = 0.30, both beyond the seeds' intervals
    assert "attention vs plain >, dropkey vs attention >: the difference comes from both" in text
    assert "25.0 min" in text and "10.0 min" in text and "make study-quick" in text
    # Fig. 8 from the ratio runs (seed 0 of every ratio), MC against single pass
    assert "| 0.3 | 0.850 ± 0.050 |" in text
    assert "0.500 ± 0.025 → 0.900" in text or "0.500" in text.split("Monte-Carlo")[1]
    # Study 2: the AD ranking agrees with the paper's, the IC ranking is reversed
    assert "47.2 / 13.0" in text
    rho_ad = _spearman([47.2, 47.8, 45.5, 31.5, 29.1, 32.6], [50, 49, 45, 33, 20, 30])
    assert f"Spearman ρ = {rho_ad:+.2f} for Average Drop" in text
    pngs = sorted(p.name for p in (tmp_path / "docs" / "results").glob("*.png"))
    assert "study1_resnet50_mask_ratio.png" in pngs and "study1_resnet50_confidence_vs_noise.png" in pngs
    assert all(p.is_file() for p in report.written)


def test_a_study_of_two_architectures_keeps_their_ratio_sweeps_and_mc_maps_apart(tmp_path: Path) -> None:
    """The full variant sweeps ResNet50, VGG16 and AlexNet in one study dir: each architecture gets its
    own mask-ratio table and figure and its own Monte-Carlo table, from its records only."""
    study = _dropkey_study(tmp_path)
    alex = []
    for stage in ("eval_noise", "eval_mc"):
        for r in json.loads((study / stage / "metrics.json").read_text())["records"]:
            r = {**r, "model": "alexnet", "checkpoint": "alexnet/" + r["checkpoint"]}
            if r["mask_ratio"] in (0.3, 0.5):  # AlexNet's ratio runs: 0.6 and 0.55
                r["value"] = {0.3: 0.6, 0.5: 0.55}[r["mask_ratio"]]
            if stage == "eval_mc":  # AlexNet's MC maps: 0.7 (ResNet50's 0.9)
                r["value"] = 0.7
            r["ci_low"], r["ci_high"] = r["value"] - 0.05, r["value"] + 0.05  # the interval moves with it
            alex.append(r)
        _write_eval(study / f"{stage}_alexnet", alex, mc=8 if stage == "eval_mc" else 1)
        alex = []
    text = write_results([study], tmp_path / "R.md").markdown
    sweep_a = text.split("### alexnet: DropKey mask-ratio sweep")[1].split("###")[0]
    sweep_r = text.split("### resnet50: DropKey mask-ratio sweep")[1].split("###")[0]
    assert "| 0.3 | 0.600 ± 0.050 |" in sweep_a and "0.850" not in sweep_a
    assert "| 0.3 | 0.850 ± 0.050 |" in sweep_r and "0.600" not in sweep_r
    noise_a = text.split("### alexnet: accuracy and confidence")[1].split("###")[0]
    assert "Beside the paper" not in noise_a  # the paper's numbers are ResNet50's
    assert "the paper's ordering dropkey > dropout > plain holds" in noise_a  # its claim is checked anyway
    mc_a = text.split("### alexnet: Monte-Carlo maps")[1].split("###")[0]
    mc_r = text.split("### resnet50: Monte-Carlo maps")[1].split("###")[0]
    assert "→ 0.700" in mc_a and "→ 0.900" not in mc_a
    assert "→ 0.900" in mc_r and "→ 0.700" not in mc_r
    pngs = {p.name for p in (tmp_path / "r").glob("*.png")}
    assert {"study1_alexnet_mask_ratio.png", "study1_resnet50_mask_ratio.png"} <= pngs


def test_spearman_of_identical_and_reversed_orders() -> None:
    assert _spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert _spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert _spearman([1, 1, 2], [5, 5, 9]) == pytest.approx(1.0)  # ties share their mean rank


def test_unfinished_study_is_a_clear_error(tmp_path: Path) -> None:
    study = _dropkey_study(tmp_path)
    (study / "study.json").unlink()
    with pytest.raises(CamxError, match="no study.json"):
        write_results([study], tmp_path / "R.md")
    res = camx("report", str(study), "--results", str(tmp_path / "R.md"), cwd=tmp_path)
    assert res.returncode == 2 and "no study.json" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "R.md").exists()


def _fake_run(folder: Path, head: str) -> None:
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "best.pt").write_bytes(b"")
    (folder / "run.json").write_text(json.dumps({"task": "train", "arch": "resnet50", "head": head}))


def test_a_sweep_folder_stands_for_its_runs_in_job_order(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for name, head in (
        ("10_resnet50-dropkey", "dropkey"),
        ("2_resnet50-plain", "plain"),
        ("3_resnet50-dropkey", "dropkey"),
    ):
        _fake_run(sweep / name, head)
    cfg = {"checkpoints": [str(sweep)], "model": {"arch": "resnet50"}}
    assert list(resolve_checkpoints(cfg, all_heads=True)) == [
        "2_resnet50-plain", "3_resnet50-dropkey", "10_resnet50-dropkey",
    ]  # fmt: skip
    assert list(resolve_checkpoints({**cfg, "heads": ["dropkey"]}, all_heads=True)) == [
        "3_resnet50-dropkey", "10_resnet50-dropkey",
    ]  # fmt: skip
    with pytest.raises(CheckpointError, match="no trained attention checkpoint below"):
        resolve_checkpoints({**cfg, "heads": ["attention"]}, all_heads=True)


def test_heads_within_the_seed_spread_are_called_equal() -> None:
    from camx.report.study1 import ordering as _ordering
    from camx.report.tables import Cell

    records = [
        _rec(head, seed, "confidence", base + 0.05 * (seed - 1), perturbation="noise", level=lvl)
        for head, base in (("plain", 0.40), ("attention", 0.41), ("dropout", 0.42), ("dropkey", 0.43))
        for seed in range(3)
        for lvl in LEVELS
    ]
    conf = {(h, lvl): Cell(0.4, 0.3, 0.5, 3) for h in CONF for lvl in LEVELS}
    text = "\n".join(_ordering(conf, list(CONF), records))
    assert "no difference beyond the spread between seeds" in text
    assert "does not hold (here:" in text  # equal means: the strict ordering does not hold


def test_setup_tells_the_backbone_stage_from_the_heads_on_it(tmp_path: Path) -> None:
    from camx.report.training import setup_lines as _setup

    def run(folder: Path, head: str, init: str | None, frozen: bool, acc: float) -> None:
        (folder / ".hydra").mkdir(parents=True)
        info = {"task": "train", "arch": "resnet50", "head": head, "best_val_accuracy": acc, "seconds": 10}
        (folder / "run.json").write_text(json.dumps(info))
        init_line = "null" if init is None else f"'{init}'"
        (folder / ".hydra" / "config.yaml").write_text(
            f"model: {{arch: resnet50, head: {head}, mask_ratio: 0.1, init_backbone: {init_line}}}\n"
            "dataset: {name: shapes, image_size: 48, num_classes: 8, train_size: 2000, grain: 0.3}\n"
            f"trainer: {{epochs: 2, optimizer: adamw, lr: 0.002, batch_size: 32, seed: 1, freeze_backbone: {frozen}}}\n"
        )

    study = tmp_path / "paper_dropkey_quick"
    run(study / "backbone" / "seed1", "plain", None, False, 0.9)
    run(study / "train" / "0_resnet50-dropkey-seed1", "dropkey", f"{study}/backbone/seed${{trainer.seed}}/checkpoints/best.pt", True, 0.8)  # fmt: skip
    text = "\n".join(_setup(study))
    assert "Backbones trained here from scratch (1 run, plain head)" in text
    assert "resnet50/plain: 0.900" in text
    assert "Heads trained here (1 run), each on the backbone of its training seed (frozen" in text
    assert "resnet50/dropkey (mask ratio 0.1): 0.800" in text


def test_study2_without_average_drop_says_so(tmp_path: Path) -> None:
    study = tmp_path / "paper_gradpp_scorecam_quick"
    recs = [
        _rec("plain", seed, "pointing_game", 0.5 + 0.1 * seed, method=method)
        for method in ("gradcam", "scorecam")
        for seed in range(3)
    ]
    _write_eval(study / "eval_methods", recs)
    (study / "study.json").write_text(json.dumps({"command": "c", "experiment": study.name, "seconds": 60}))
    text = write_results([study], tmp_path / "RESULTS.md").markdown
    assert "n = 100 per checkpoint; seeds: 3" in text
    assert "| gradcam | 47.8 / 19.6 | 0.600 ± " in text  # the columns that were measured
    assert "were not measured (the eval ran with average_drop=false)" in text


QUICK_PARTS = sorted(
    p.stem.removeprefix("paper_gradpp_scorecam_quick_")
    for p in (Path(__file__).parents[1] / "configs" / "experiment").glob("paper_gradpp_scorecam_quick_*.yaml")
)


@pytest.mark.parametrize("arch", QUICK_PARTS)
def test_study2_parts_explain_checkpoints_built_like_their_study1_part(arch: str) -> None:
    """`make study-gradpp-quick` explains the plain checkpoints of Study 1's <arch> part with
    experiment=paper_gradpp_scorecam_quick_<arch>: both compose to valid configs with the same
    architecture, classifier and input size (eval rebuilds the model from the checkpoint, but draws its
    test images at the config's size)."""
    from camx.cli.hydra_bridge import compose

    from camx.config import validate

    keys = ("model.arch", "model.classifier", "model.output_stride", "dataset.image_size", "dataset.name")
    seen = {}
    for task, exp in (
        ("train", f"paper_dropkey_quick_{arch}_backbone"),
        ("train", f"paper_dropkey_quick_{arch}"),
        ("eval", f"paper_dropkey_quick_{arch}"),
        ("eval", f"paper_gradpp_scorecam_quick_{arch}"),
    ):
        cfg = compose(task, [f"experiment={exp}", "model.init_backbone=backbone.pt"])
        validate(cfg)
        seen[(task, exp)] = {k: OmegaConf.select(cfg, k) for k in keys}
    first = next(iter(seen.values()))
    assert first["model.arch"] == arch
    assert all(v == first for v in seen.values()), seen


@pytest.mark.parametrize("arch", ["vgg16", "alexnet"])
def test_full_study1_trains_models_that_study2_can_explain_with_cam(arch: str) -> None:
    """The full variant's Study 2 explains Study 1's plain checkpoints with every method, `cam`
    included, which needs a GAP → fc head: paper_dropkey trains VGG16/AlexNet with classifier=gap."""
    import torch
    from camx.cli.hydra_bridge import compose

    from camx.cam import explain
    from camx.models.build import build_model

    train = compose("train", ["experiment=paper_dropkey", f"model.arch={arch}", "model.weights=none"])
    methods = compose("eval", ["experiment=paper_gradpp_scorecam"]).methods
    assert "cam" in methods
    options = OmegaConf.to_container(train.model)
    model = build_model(num_classes=int(train.dataset.num_classes), **options).eval()
    maps = explain(model, torch.rand(1, 3, 64, 64), "cam", size=None).maps
    assert maps.shape[0] == 1 and torch.isfinite(maps).all()


def test_recipe_names_the_gap_classifier_when_any_run_of_the_group_has_it(tmp_path: Path) -> None:
    """The full variant sweeps ResNet50 (first in sorted order), VGG16 and AlexNet (classifier=gap) in one
    group: the recipe line must say the -GAP nets are there."""
    from camx.report.training import setup_lines as _setup

    for i, (arch, classifier) in enumerate((("resnet50", "full"), ("alexnet", "gap"))):
        folder = tmp_path / "paper_dropkey" / "train" / f"{i}_{arch}-plain-seed0"
        (folder / ".hydra").mkdir(parents=True)
        info = {"task": "train", "arch": arch, "head": "plain", "best_val_accuracy": 0.9, "seconds": 10}
        (folder / "run.json").write_text(json.dumps(info))
        (folder / ".hydra" / "config.yaml").write_text(
            f"model: {{arch: {arch}, head: plain, classifier: {classifier}, init_backbone: null, weights: imagenet}}\n"
            "dataset: {name: shapes, image_size: 224, num_classes: 8, train_size: 12000}\n"
            "trainer: {epochs: 30, optimizer: sgd, lr: 0.1, batch_size: 64, seed: 0}\n"
        )
    text = "\n".join(_setup(tmp_path / "paper_dropkey"))
    assert "VGG16/AlexNet with model.classifier=gap" in text
    assert "alexnet/plain: 0.900" in text and "resnet50/plain: 0.900" in text
