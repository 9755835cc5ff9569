"""``camx report STUDY_DIR… --results docs/RESULTS.md``: the two papers' studies as one markdown file.

A study dir is what ``make study-quick`` / ``make study`` writes: ``study.json`` (the command and its wall
time), training sweeps, and ``camx eval`` runs (each with ``metrics.json`` holding its config). Every
number in the markdown comes from those records; the sentences that compare camx with the papers are
chosen by comparing the numbers, never typed.

Aggregation: each eval record is already a mean over test images. Runs of one group — same
architecture, head and mask ratio, different training seeds — are summarised by the mean over seeds
with a 95% Student-t interval over seeds (:func:`camx.metrics.mean_ci`); a group with one seed keeps its
interval over images and is marked ``(1 seed)``.

Study 1 (Sensors 2023, *Optimized Dropkey-Based Grad-CAM*): accuracy and true-class confidence against
Gaussian-noise variance per head beside the paper's ResNet50 confidences (Fig. 3), Grad-CAM localisation
(pointing game, energy pointing game, IoU against the ground-truth masks) and map stability (Pearson,
SSIM against the clean map) under each perturbation (Figs. 2, 4–7), the DropKey mask-ratio sweep
(Fig. 8) and Monte-Carlo against single-pass maps. Study 2 (IEEE Access 2024, *Grad++ScoreCAM*):
Average Drop %, Increase in Confidence % (Table 1), deletion/insertion AUC, localisation and seconds per
image for every method, with the ranking compared to the paper's by Spearman's ρ.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camx import figures
from camx import metrics as M
from camx.atomic import atomic_write_text
from camx.errors import DataError
from camx.jobs.eval_figures import PAPER_CONFIDENCE
from camx.metrics.severity import PAPER_PLAIN_CONFIDENCE, crossing
from camx.report.pages import study_page
from camx.runtime import machine_summary
from camx.text import plural

# IEEE Access 2024 Table 1 (ImageNet validation, VGG16): Average Drop % and Increase in Confidence %
PAPER_TABLE1 = {
    "cam": (47.2, 13.0),
    "gradcam": (47.8, 19.6),
    "gradcampp": (45.5, 18.9),
    "scorecam": (31.5, 30.6),
    "smoothgradcampp": (29.1, 30.1),
    "gradpp_scorecam": (32.6, 31.4),
}
HEAD_ORDER = ("plain", "attention", "dropout", "dropkey")
BASELINES = ("random", "center")
LOCALISATION = ("pointing_game", "energy_pointing_game", "iou")
STABILITY = ("stability_pearson", "stability_ssim")


@dataclass(frozen=True)
class Cell:
    """A summary over training seeds (or, for one seed, over images): mean, 95% CI, number of seeds."""

    mean: float
    low: float | None
    high: float | None
    seeds: int

    def text(self, digits: int = 3) -> str:
        if not math.isfinite(self.mean):
            return "—"
        s = f"{self.mean:.{digits}f}"
        if self.low is not None and self.high is not None and math.isfinite(self.low):
            s += f" ± {(self.high - self.low) / 2:.{digits}f}"
        return s


@dataclass
class Study:
    """One study dir: its command, wall time and every eval record (tagged with its run)."""

    path: Path
    command: str
    experiment: str
    seconds: float
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class StudyReport:
    markdown: str
    written: list[Path]


def load_study(path: Path) -> Study:
    """Read ``study.json`` and the records of every eval run below ``path`` (MC runs tagged ``mc``)."""
    path = Path(path)
    info_path = path / "study.json"
    if not info_path.is_file():
        raise DataError(
            f"{path}: no study.json, so the study did not finish (or this is not a study dir); "
            "run `make study-quick` (or `make study`) and pass its outputs/study/<experiment> dirs"
        )
    try:
        info = json.loads(info_path.read_text())
    except ValueError as exc:
        raise DataError(f"{info_path}: not valid JSON ({exc}); rerun the study") from None
    study = Study(
        path, str(info.get("command", "")), str(info.get("experiment", path.name)), float(info["seconds"])
    )
    for metrics in sorted(path.rglob("metrics.json")):
        doc = json.loads(metrics.read_text())
        cam = (doc.get("config") or {}).get("cam") or {}
        mc = int(cam.get("mc_samples", 1) or 1)
        run = metrics.parent.relative_to(path).as_posix()
        for r in doc["records"]:
            study.records.append({**r, "stage": run, "mc": mc})
    if not study.records:
        raise DataError(f"{path}: no eval records below it; the study's evals did not run")
    study.notes = _setup(path)
    return study


def _setup(path: Path) -> list[str]:
    """What was trained, from the training runs' ``run.json`` and Hydra configs (empty if none ran here)."""
    from omegaconf import OmegaConf

    runs = []
    for rec in sorted(path.rglob("run.json")):
        try:
            info = json.loads(rec.read_text())
            conf = OmegaConf.load(rec.parent / ".hydra" / "config.yaml")
            cfg = OmegaConf.to_container(conf)
            if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):  # e.g. …/seed${trainer.seed}/…
                cfg["model"]["init_backbone"] = OmegaConf.select(conf, "model.init_backbone", default=None)
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("task") == "train" and isinstance(cfg, dict):
            runs.append(({**info, "_dir": str(rec.parent.resolve())}, cfg))
    if not runs:
        return []
    # runs whose checkpoint another run starts from (model.init_backbone) are the backbone stage
    sources = {str(Path(c["model"]["init_backbone"]).resolve().parents[1]) for _, c in runs if _init(c)}
    backbones = [(i, c) for i, c in runs if i["_dir"] in sources]
    heads = [(i, c) for i, c in runs if (i, c) not in backbones]
    lines = []
    if backbones:
        lines += [
            _recipe(
                f"Backbones trained here from scratch ({plural(len(backbones), 'run')}, plain head)",
                backbones,
            ),
            "",
            *_accuracy_lines(backbones),
            "",
        ]
    _, cfg = heads[0]
    if _init(cfg):
        frozen = bool(cfg["trainer"].get("freeze_backbone"))
        title = (
            f"Heads trained here ({plural(len(heads), 'run')}), each on the backbone of its training seed"
            + (" (frozen: weights and BatchNorm statistics)" if frozen else " (fine-tuned with it)")
        )
    else:
        title = f"Trained here from {_start(cfg)} ({plural(len(heads), 'run')})"
    return [*lines, _recipe(title, heads), "", *_accuracy_lines(heads), ""]


def _init(cfg: Mapping[str, Any]) -> str | None:
    return (cfg.get("model") or {}).get("init_backbone")


def _start(cfg: Mapping[str, Any]) -> str:
    weights = (cfg.get("model") or {}).get("weights", "none")
    return "scratch" if weights == "none" else f"{weights} weights"


def _is_gap(cfg: Mapping[str, Any]) -> bool:
    m = cfg.get("model") or {}
    return m.get("classifier") == "gap" and m.get("arch") != "resnet50"


def _recipe(title: str, runs: Sequence[tuple[dict, dict]]) -> str:
    """The training recipe of ``runs`` (one group, read from the first run's config)."""
    cfg = runs[0][1]
    d, t = cfg["dataset"], cfg["trainer"]
    sizes = t.get("sizes")
    grain = float(d.get("grain", 0) or 0)
    gap = any(_is_gap(c) for _, c in runs)  # the full variant's first run is a ResNet50
    return (
        f"{title}: {d['name']} at {d['image_size']} px, {d['num_classes']} "
        f"classes, {plural(int(t['epochs']), 'epoch')} × {plural(int(d['train_size']), 'fresh image')}"
        + (f" (input side per epoch {sizes})" if sizes else "")
        + f", {t['optimizer']} lr {t['lr']:g}, batch {t['batch_size']}, "
        + (f"training pixel noise std ≤ {grain:g}" if grain else "no training pixel noise")
        + f", objects rotated ≤ {d.get('max_rotation', 180):g}°"
        + (
            ", VGG16/AlexNet with model.classifier=gap (features cut before the last max-pool; plain head: "
            "global average pooling → fc)"
            if gap
            else ""
        )
        + ". Best validation accuracy per group (mean over runs, min–max):"
    )


def _accuracy_lines(runs: Sequence[tuple[dict, dict]]) -> list[str]:
    groups: dict[tuple[str, str, float], list[tuple[dict, dict]]] = defaultdict(list)
    for info, cfg in runs:
        ratio = cfg["model"].get("mask_ratio") if info["head"] in ("dropout", "dropkey") else -1.0
        groups[(info["arch"], info["head"], float(ratio))].append((info, cfg))
    lines = []
    order = {h: i for i, h in enumerate(HEAD_ORDER)}
    for (arch, head, ratio), items in sorted(
        groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][2])
    ):
        accs = [float(i["best_val_accuracy"]) for i, _ in items if i.get("best_val_accuracy") is not None]
        secs = [float(i["seconds"]) for i, _ in items if i.get("seconds") is not None]
        if accs:
            lines.append(
                f"- {arch}/{head}"
                + (f" (mask ratio {ratio:g})" if ratio >= 0 else "")
                + f": {sum(accs) / len(accs):.3f} ({min(accs):.3f}–{max(accs):.3f}) over {len(accs)} run(s), "
                f"{sum(secs) / max(len(secs), 1):.0f} s per run"
            )
    return lines


def _seed_cell(items: Sequence[Mapping[str, Any]]) -> Cell:
    """Mean over the checkpoints of ``items`` (one record per checkpoint) with a t-interval over them."""
    by_ckpt = {}
    for r in items:  # a condition evaluated twice (two stages) counts once per checkpoint
        by_ckpt.setdefault(r["checkpoint"], r)
    vals = [r["value"] for r in by_ckpt.values() if r["value"] is not None]
    if not vals:
        return Cell(float("nan"), None, None, 0)
    if len(vals) == 1:
        only = next(r for r in by_ckpt.values() if r["value"] is not None)
        return Cell(float(only["value"]), only.get("ci_low"), only.get("ci_high"), 1)
    s = M.mean_ci(vals)
    return Cell(s.mean, s.ci_low, s.ci_high, len(vals))


def _main_ratio(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    """Per (model, head): the mask ratio trained with the most seeds (the others form the ratio sweep)."""
    seeds: dict[tuple[str, str], dict[Any, set]] = defaultdict(lambda: defaultdict(set))
    for r in records:
        seeds[(r["model"], r["head"])][r.get("mask_ratio")].add(r["checkpoint"])
    return {key: max(by.items(), key=lambda kv: (len(kv[1]), kv[0] is None))[0] for key, by in seeds.items()}


def _cells(
    records: Sequence[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any], **where: Any
) -> dict[Any, Cell]:
    groups: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        if all(r.get(k) == v for k, v in where.items()):
            groups[key(r)].append(r)
    return {k: _seed_cell(v) for k, v in groups.items()}


def _level(r: Mapping[str, Any]) -> float:
    return 0.0 if r["perturbation"] == "none" else float(r["level"])


def _cond(r: Mapping[str, Any]) -> str:
    return "clean" if r["perturbation"] == "none" else f"{r['perturbation']} {r['level']:g}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _heads(records: Sequence[Mapping[str, Any]]) -> list[str]:
    present = {r["head"] for r in records}
    return [h for h in HEAD_ORDER if h in present]


def _seeds_note(cells: Iterable[Cell]) -> str:
    counts = sorted({c.seeds for c in cells if c.seeds})
    return "/".join(str(c) for c in counts) or "0"


# ---------------------------------------------------------------- Study 1


def _study1(study: Study, fig_dir: Path, rel: str) -> tuple[list[str], list[Path]]:
    recs = [r for r in study.records if r["mc"] == 1]
    main = _main_ratio(recs)
    core = [r for r in recs if main.get((r["model"], r["head"])) == r.get("mask_ratio")]
    out: list[str] = []
    written: list[Path] = []
    models = sorted({r["model"] for r in core})
    for model in models:
        mine = [r for r in core if r["model"] == model]
        heads = _heads(mine)
        out += [f"### {model}: accuracy and confidence under Gaussian noise", ""]
        curves: dict[str, dict[str, list[tuple[float, float, Any, Any]]]] = {}
        by_metric: dict[str, dict[Any, Cell]] = {}
        for metric in ("accuracy", "confidence"):
            cells = _cells(
                [r for r in mine if r["perturbation"] in ("none", "noise")],
                lambda r: (r["head"], _level(r)),
                metric=metric,
                method=None,
            )
            by_metric[metric] = cells
            levels = sorted({lvl for _, lvl in cells})
            out += [
                f"**{metric}** (mean over training seeds ± 95% CI; seeds per head: {_seeds_note(cells.values())})",
                "",
            ]
            out += _table(
                ["noise variance", *heads],
                (
                    [f"{lvl:g}", *[cells[(h, lvl)].text() if (h, lvl) in cells else "—" for h in heads]]
                    for lvl in levels
                ),
            )
            curves[metric] = {
                h: [(lvl, c.mean, c.low, c.high) for (hh, lvl), c in cells.items() if hh == h] for h in heads
            }
        plain = [(x, y) for x, y, _, _ in curves["confidence"].get("plain", [])]
        vstar = crossing(plain, PAPER_PLAIN_CONFIDENCE)
        marks = {f"v* = {vstar:.3g}": vstar} if vstar is not None else {}
        for metric, series in curves.items():
            if any(len(v) > 1 for v in series.values()):
                fig = figures.curves(
                    series,
                    xlabel="noise variance",
                    ylabel=f"mean {metric}" if metric == "accuracy" else "mean true-class confidence",
                    title=f"{model}: {metric} under Gaussian noise (seeds' mean, 95% CI)",
                    paper=PAPER_CONFIDENCE if metric == "confidence" and model == "resnet50" else None,
                    marks=marks,
                    hline=(PAPER_PLAIN_CONFIDENCE, "paper's plain 0.481") if metric == "confidence" else None,
                )
                path = figures.save(fig, fig_dir / f"study1_{model}_{metric}_vs_noise.png")
                written.append(path)
                out += [f"![{metric} against noise variance]({rel}/{path.name})", ""]
        conf = {k: c for k, c in by_metric["confidence"].items() if k[1] > 0}  # the noisy levels
        if model == "resnet50" and any((h, 0.5) in conf for h in PAPER_CONFIDENCE):
            out += [
                "**Beside the paper** (Sensors 2023 §3.1: ResNet50 true-class confidence; paper / camx)",
                "",
            ]
            rows = []
            for h in heads:
                paper = dict(PAPER_CONFIDENCE.get(h, []))
                rows.append(
                    [h]
                    + [
                        f"{paper[v]:.3f} / {conf[(h, v)].text()}"
                        if v in paper and (h, v) in conf
                        else (f"— / {conf[(h, v)].text()}" if (h, v) in conf else "—")
                        for v in (0.5, 0.6)
                    ]
                )
            out += _table(["head", "variance 0.5", "variance 0.6"], rows)
        out += _ordering(conf, heads, mine)  # the paper's claim, checked on every architecture
    out += _localisation(core)
    for model in models:  # one sweep may hold several architectures (the full variant)
        ratio_lines, ratio_figs = _mask_ratio([r for r in recs if r["model"] == model], model, fig_dir, rel)
        out += ratio_lines
        written += ratio_figs
        out += _monte_carlo([r for r in study.records if r["model"] == model], model, main)
    return out, written


def _verdict(a: Cell, b: Cell) -> str:
    """'>' when a's interval lies above b's, '<' below, '≈' when the intervals overlap."""
    if a.low is None or b.low is None or a.high is None or b.high is None:
        return ">" if a.mean > b.mean else "<"
    if a.low > b.high:
        return ">"
    if a.high < b.low:
        return "<"
    return "≈"


def _area_cells(records: Sequence[Mapping[str, Any]], levels: Sequence[float]) -> dict[str, Cell]:
    """Per head: each checkpoint's mean confidence over the noise ``levels``, summarised over checkpoints."""
    per_ckpt: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)
    for r in records:
        if (
            r["metric"] == "confidence"
            and r["method"] is None
            and r["perturbation"] == "noise"
            and float(r["level"]) in levels
            and r["value"] is not None
        ):
            per_ckpt[(r["head"], r["checkpoint"])][float(r["level"])] = float(r["value"])
    by_head: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (head, ckpt), vals in per_ckpt.items():
        if len(vals) == len(levels):
            v = sum(vals.values()) / len(vals)
            by_head[head].append({"checkpoint": ckpt, "value": v, "ci_low": None, "ci_high": None})
    return {h: _seed_cell(by_head[h]) for h in HEAD_ORDER if h in by_head}


def _ordering(
    conf: Mapping[tuple[str, float], Cell], heads: Sequence[str], records: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Does dropkey > dropout > plain hold, and is it the attention head or the drop? Sentences from numbers."""
    lines = []
    levels = sorted({lvl for _, lvl in conf})
    for lvl in [v for v in (0.5, 0.6) if v in levels]:
        trio = [h for h in ("dropkey", "dropout", "plain") if (h, lvl) in conf]
        if len(trio) < 3:
            continue
        k, d, p = (conf[(h, lvl)] for h in trio)
        by_mean = k.mean > d.mean > p.mean
        strict = _verdict(k, d) == ">" and _verdict(d, p) == ">"
        state = (
            "holds, and the confidence intervals separate"
            if strict
            else "holds in the means but the confidence intervals overlap"
            if by_mean
            else "does not hold"
        )
        order = " > ".join(
            h for h, _ in sorted(((h, conf[(h, lvl)].mean) for h in trio), key=lambda t: -t[1])
        )
        lines.append(
            f"- Variance {lvl:g}: the paper's ordering dropkey > dropout > plain {state} "
            f"(here: {order}; dropkey vs dropout {_verdict(k, d)}, dropout vs plain {_verdict(d, p)})."
        )
    mid = [lvl for lvl in levels if 0 < lvl <= 1.0]
    area = _area_cells(records, mid)
    if "attention" in area and "plain" in area and mid:
        rank = " > ".join(sorted(area, key=lambda h: -area[h].mean))
        drops = [h for h in ("dropout", "dropkey") if h in area]
        best = max(drops, key=lambda h: area[h].mean) if drops else None
        head_v = _verdict(area["attention"], area["plain"])
        drop_v = _verdict(area[best], area["attention"]) if best else "≈"
        if head_v == "≈" and drop_v == "≈":
            which = (
                "no difference beyond the spread between seeds: neither the attention head (attention vs plain ≈) "
                f"nor the drop ({best} vs attention ≈) changes it measurably here"
            )
        else:
            which = (
                f"attention vs plain {head_v}, {best} vs attention {drop_v}: the difference comes from "
                + (
                    "the attention head itself"
                    if drop_v == "≈"
                    else "the drop on top of the attention head"
                    if head_v == "≈"
                    else "both the attention head and the drop"
                )
            )
        lines.append(
            f"- Mean confidence over variances {mid[0]:g}–{mid[-1]:g} (per seed, then over seeds): {rank} "
            f"({', '.join(f'{h} {c.text()}' for h, c in area.items())}) — {which}."
        )
    return lines + [""] if lines else []


def _localisation(core: Sequence[Mapping[str, Any]]) -> list[str]:
    maps = [r for r in core if r.get("method") and r["metric"] in (*LOCALISATION, *STABILITY)]
    if not maps:
        return []
    out = ["### Grad-CAM localisation and stability under each perturbation (Sensors 2023 Figs. 2, 4–7)", ""]
    for model in sorted({r["model"] for r in maps}):
        mine = [r for r in maps if r["model"] == model]
        heads = _heads(mine)
        methods = sorted({r["method"] for r in mine if r["method"] not in BASELINES})
        for method in methods:
            for metric in (*LOCALISATION, *STABILITY):
                cells = _cells(mine, lambda r: (r["head"], _cond(r)), metric=metric, method=method)
                first = next((r["checkpoint"] for r in mine if r["method"] in BASELINES), None)
                base = _cells(  # baseline maps ignore the model: one checkpoint's records, CI over images
                    [r for r in mine if r["checkpoint"] == first],
                    lambda r: (r["method"], _cond(r)),
                    metric=metric,
                )
                if not cells:
                    continue
                conds = list(dict.fromkeys(_cond(r) for r in mine if r["metric"] == metric))
                cols = [b for b in BASELINES if any((b, c) in base for c in conds)]
                out += [
                    f"**{model} · {method} · {metric}** (seeds: {_seeds_note(cells.values())}; "
                    "baselines: CI over images)",
                    "",
                ]
                out += _table(
                    ["condition", *heads, *cols],
                    (
                        [
                            c,
                            *[cells[(h, c)].text() if (h, c) in cells else "—" for h in heads],
                            *[base[(b, c)].text() if (b, c) in base else "—" for b in cols],
                        ]
                        for c in conds
                    ),
                )
                out += _head_verdicts(cells, conds)
    return out


def _head_verdicts(cells: Mapping[tuple[str, str], Cell], conds: Sequence[str]) -> list[str]:
    """One line per drop head: in which conditions its interval lies above / below plain's, or overlaps."""
    lines = []
    for head in ("dropout", "dropkey"):
        tally: dict[str, list[str]] = {">": [], "<": [], "≈": []}
        for c in conds:
            if (head, c) in cells and ("plain", c) in cells:
                tally[_verdict(cells[(head, c)], cells[("plain", c)])].append(c)
        if any(tally.values()):
            lines.append(
                f"- {head} vs plain: above in {len(tally['>'])} ({', '.join(tally['>']) or '—'}), below in "
                f"{len(tally['<'])} ({', '.join(tally['<']) or '—'}), within the seeds' spread in "
                f"{len(tally['≈'])} of {plural(sum(map(len, tally.values())), 'condition')}."
            )
    return lines + [""] if lines else []


def _mask_ratio(
    recs: Sequence[Mapping[str, Any]], model: str, fig_dir: Path, rel: str
) -> tuple[list[str], list[Path]]:
    """The DropKey heads of ``model`` trained at several mask ratios: a table and a curve per metric."""
    dk = [r for r in recs if r["head"] == "dropkey" and r.get("mask_ratio") is not None]
    ratios = sorted({r["mask_ratio"] for r in dk})
    if len(ratios) < 2:
        return [], []
    seeds_at = {x: {r.get("seed") for r in dk if r["mask_ratio"] == x} for x in ratios}
    common = set.intersection(*seeds_at.values())
    if common:  # compare ratios on the seeds every ratio was trained with
        dk = [r for r in dk if r.get("seed") in common]
    wanted = [
        ("accuracy", None, "clean"),
        ("accuracy", None, "noise 0.5"),
        ("confidence", None, "noise 0.5"),
        ("pointing_game", "gradcam", "clean"),
        ("pointing_game", "gradcam", "noise 0.5"),
        ("stability_pearson", "gradcam", "noise 0.5"),
    ]
    cols, series, rows = [], {}, {x: [f"{x:g}"] for x in ratios}
    for metric, method, cond in wanted:
        cells = _cells(
            [r for r in dk if _cond(r) == cond], lambda r: r["mask_ratio"], metric=metric, method=method
        )
        if not cells:
            continue
        name = f"{metric} ({cond})"
        cols.append(name)
        for x in ratios:
            rows[x].append(cells[x].text() if x in cells else "—")
        series[name] = [(x, c.mean, c.low, c.high) for x, c in cells.items()]
    if not cols:
        return [], []
    seeds = f"seed {', '.join(str(x) for x in sorted(common))}" if common else "all seeds"
    out = [
        f"### {model}: DropKey mask-ratio sweep (Sensors 2023 Fig. 8)",
        "",
        f"DropKey heads trained with each ratio ({seeds}; with one seed the interval is over images).",
        "",
    ]
    out += _table(["mask ratio", *cols], rows.values())
    fig = figures.curves(
        series, xlabel="DropKey mask ratio", ylabel="value", title=f"{model}: mask-ratio sweep (cf. Fig. 8)"
    )
    path = figures.save(fig, fig_dir / f"study1_{model}_mask_ratio.png")
    return out + [f"![mask-ratio sweep]({rel}/{path.name})", ""], [path]


def _monte_carlo(
    records: Sequence[Mapping[str, Any]], model: str, main: Mapping[tuple[str, str], Any]
) -> list[str]:
    """``model``'s Monte-Carlo DropKey/Dropout maps (mc_samples > 1) beside its single-pass maps."""
    mc_recs = [r for r in records if r["mc"] > 1 and r.get("method") and r["method"] not in BASELINES]
    if not mc_recs:
        return []
    samples = sorted({r["mc"] for r in mc_recs})
    conds = list(dict.fromkeys(_cond(r) for r in mc_recs))
    single = [
        r
        for r in records
        if r["mc"] == 1
        and r.get("method")
        and _cond(r) in conds
        and main.get((r["model"], r["head"])) == r.get("mask_ratio")
    ]
    out = [
        f"### {model}: Monte-Carlo maps (mc_samples={'/'.join(map(str, samples))}) against single-pass maps",
        "",
    ]
    metrics = [m for m in (*LOCALISATION, "stability_pearson") if any(r["metric"] == m for r in mc_recs)]
    heads = _heads(mc_recs)
    rows = []
    for h in heads:
        for c in conds:
            row = [h, c]
            for m in metrics:
                many = _cells([r for r in mc_recs if _cond(r) == c], lambda r: 0, head=h, metric=m)
                one = _cells(
                    [r for r in single if _cond(r) == c],
                    lambda r: 0,
                    head=h,
                    metric=m,
                    method=mc_recs[0]["method"],
                )
                row.append(f"{one[0].text() if 0 in one else '—'} → {many[0].text() if 0 in many else '—'}")
            rows.append(row)
    out += [f"{mc_recs[0]['method']}, single pass → Monte-Carlo mean (seeds' mean ± 95% CI)", ""]
    return out + _table(["head", "condition", *metrics], rows)


# ---------------------------------------------------------------- Study 2


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    def ranks(x: Sequence[float]) -> list[float]:
        order = sorted(range(len(x)), key=lambda i: x[i])
        r = [0.0] * len(x)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else float("nan")


def _study2(study: Study) -> list[str]:
    recs = [r for r in study.records if r["mc"] == 1 and r.get("method") and r["perturbation"] == "none"]
    columns = [
        ("average_drop", "AD % ↓", 1),
        ("increase_in_confidence", "IC % ↑", 1),
        ("deletion_auc", "deletion ↓", 3),
        ("insertion_auc", "insertion ↑", 3),
        ("pointing_game", "PG ↑", 3),
        ("energy_pointing_game", "EPG ↑", 3),
        ("iou", "IoU ↑", 3),
        ("seconds_per_image", "s / image", 3),
    ]
    out = ["### Faithfulness, localisation and cost of every method (IEEE Access 2024 Table 1)", ""]
    for model in sorted({r["model"] for r in recs}):
        mine = [r for r in recs if r["model"] == model]
        methods = list(dict.fromkeys(r["method"] for r in mine))
        cells = {m: _cells(mine, lambda r: r["method"], metric=m) for m, _, _ in columns}
        present = [(m, t, d) for m, t, d in columns if cells[m]]
        first = present[0][0] if present else ""  # n and seeds of a metric every method has
        n = sorted({r["n"] for r in mine if r["metric"] == first})
        seeds = _seeds_note(cells[first].values()) if first else "0"
        out += [
            f"**{model}** (clean test images, n = {'/'.join(map(str, n))} per checkpoint; seeds: {seeds}; "
            "paper values: ImageNet, VGG16)",
            "",
        ]
        rows = []
        for method in methods:
            paper = PAPER_TABLE1.get(method)
            row = [method, f"{paper[0]:.1f} / {paper[1]:.1f}" if paper else "—"]
            row += [cells[m][method].text(d) if method in cells[m] else "—" for m, _, d in present]
            rows.append(row)
        out += _table(["method", "paper AD / IC", *[t for _, t, _ in present]], rows)
        ad = cells["average_drop"]
        named = [m for m in methods if m in ad and m not in BASELINES]
        if named and "random" in ad:
            lo, hi = min(ad[m].mean for m in named), max(ad[m].mean for m in named)
            below = [m for m in named if _verdict(ad[m], ad["random"]) == "<"]
            out.append(
                f"- Average Drop of the {len(named)} methods spans {lo:.1f}–{hi:.1f} % (random maps: "
                f"{ad['random'].text(1)} %); {len(below)} of them"
                + (f" ({', '.join(below)})" if below else "")
                + " drop less than random maps beyond the seeds' spread."
            )
        if not ad:
            out.append(
                "- Average Drop and Increase in Confidence were not measured (the eval ran with average_drop=false)."
            )
        ckpts = sorted({r["checkpoint"] for r in mine})
        out += [f"- Checkpoints ({len(ckpts)}): " + ", ".join(f"`{c}`" for c in ckpts), ""]
        shared = [
            m
            for m in methods
            if m in PAPER_TABLE1 and m in cells["average_drop"] and m in cells["increase_in_confidence"]
        ]
        if len(shared) >= 3:
            rho_ad = _spearman(
                [PAPER_TABLE1[m][0] for m in shared], [cells["average_drop"][m].mean for m in shared]
            )
            rho_ic = _spearman(
                [PAPER_TABLE1[m][1] for m in shared],
                [cells["increase_in_confidence"][m].mean for m in shared],
            )
            best_ad = min(shared, key=lambda m: cells["average_drop"][m].mean)
            best_ic = max(shared, key=lambda m: cells["increase_in_confidence"][m].mean)
            paper_ad = min(shared, key=lambda m: PAPER_TABLE1[m][0])
            paper_ic = max(shared, key=lambda m: PAPER_TABLE1[m][1])

            def rho(v: float) -> str:
                return f"{v:+.2f}" if math.isfinite(v) else "undefined (every method ties)"

            out += [
                f"- Ranking against the paper over {', '.join(shared)}: Spearman ρ = {rho(rho_ad)} for Average Drop, "
                f"{rho(rho_ic)} for Increase in Confidence (1 = same order). Lowest AD here: {best_ad} "
                f"(paper: {paper_ad}); highest IC here: {best_ic} (paper: {paper_ic}).",
                "",
            ]
    return out


# ---------------------------------------------------------------- the file


def write_results(study_dirs: Sequence[Path], out: Path, html_out: Path | None = None) -> StudyReport:
    """Write the studies' markdown to ``out``, their figures to ``out``'s ``<stem>/`` folder and the
    HTML page to ``html_out`` (default: ``report.html`` in the study dirs' common parent)."""
    studies = [load_study(Path(d)) for d in study_dirs]
    out = Path(out)
    fig_dir = out.parent / out.stem.lower()
    rel = fig_dir.name
    written: list[Path] = []
    lines = [
        "# Results: the two papers' studies rerun with camx",
        "",
        "Generated by `camx report " + " ".join(str(s.path) for s in studies) + f" --results {out}`; "
        "do not edit by hand. Every number below comes from the study dirs' `metrics.json` files.",
        "",
        "| study | command | wall time | machine |",
        "|---|---|---|---|",
    ]
    machine = machine_summary()
    for s in studies:
        lines.append(f"| {s.experiment} | `{s.command}` | {s.seconds / 60:.1f} min | {machine} |")
    lines.append("")
    for s in studies:
        if "dropkey" in s.experiment:
            lines += [f"## Study 1 — Optimized Dropkey-Based Grad-CAM (`experiment={s.experiment}`)", ""]
            lines += s.notes
            body, figs = _study1(s, fig_dir, rel)
            lines += body
            written += figs
        elif "gradpp" in s.experiment:
            lines += [f"## Study 2 — Grad++ScoreCAM (`experiment={s.experiment}`)", ""]
            lines += s.notes
            lines += _study2(s)
        else:
            raise DataError(
                f"{s.path}: experiment {s.experiment!r} is neither paper_dropkey* nor paper_gradpp_scorecam*"
            )
    text = "\n".join(lines).rstrip() + "\n"
    atomic_write_text(out, text)
    page = study_page([s.path for s in studies], out, html_out)
    return StudyReport(text, [out, *written, page])


__all__ = ["Cell", "PAPER_TABLE1", "Study", "StudyReport", "load_study", "write_results"]
