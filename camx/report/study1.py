"""Study 1 (Sensors 2023, *Optimized Dropkey-Based Grad-CAM*): accuracy and true-class confidence
against Gaussian-noise variance per head, beside the paper's ResNet50 confidences (Fig. 3), and whether
the paper's ordering dropkey > dropout > plain holds; then the map sections of :mod:`camx.report.maps`.

The sentences compare intervals (:func:`camx.report.groups.verdict`): a claim is said to hold only
when the seeds' confidence intervals separate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camx import figures
from camx.metrics.severity import PAPER_PLAIN_CONFIDENCE, crossing
from camx.report import groups as G
from camx.report import markdown as md
from camx.report.figures import PAPER_CONFIDENCE
from camx.report.maps import localisation, mask_ratio, monte_carlo
from camx.report.severity import main_reading, severity_section, space_of
from camx.report.tables import Cell

Lines = list[str]


def study1(records: Sequence[G.Record], fig_dir: Path, rel: str) -> tuple[Lines, list[Path]]:
    """Study 1's markdown and the figures it wrote into ``fig_dir`` (linked as ``rel/<name>``)."""
    every = [r for r in records if r["mc"] == 1]  # every noise reading evaluated: the readings table
    reading = main_reading(every)
    recs = [r for r in every if reading is None or space_of(r) == reading]  # the rest: the main reading
    main = G.main_ratio(recs)
    core = [r for r in recs if main.get((r["model"], r["head"])) == r.get("mask_ratio")]
    readings = [r for r in every if main.get((r["model"], r["head"])) == r.get("mask_ratio")]
    out: Lines = []
    written: list[Path] = []
    models = sorted({r["model"] for r in core})
    for model in models:
        mine = [r for r in core if r["model"] == model]
        lines, figs = noise_section(model, mine, fig_dir, rel, [r for r in readings if r["model"] == model])
        out += lines
        written += figs
    out += localisation(core)
    for model in models:  # one sweep may hold several architectures (the full variant)
        ratio_lines, ratio_figs = mask_ratio([r for r in recs if r["model"] == model], model, fig_dir, rel)
        out += ratio_lines
        written += ratio_figs
        out += monte_carlo([r for r in records if r["model"] == model], model, main)
    return out, written


def noise_section(
    model: str, mine: Sequence[G.Record], fig_dir: Path, rel: str, readings: Sequence[G.Record] = ()
) -> tuple[Lines, list[Path]]:
    """Accuracy and confidence per head and noise variance (``mine``: one reading): tables, curves, the
    paper, its ordering; then matched severity, with every reading of ``readings`` (default: ``mine``'s)."""
    heads = G.heads(mine)
    noisy = [r for r in mine if r["perturbation"] in ("none", "noise")]
    by_metric = {
        m: G.cells(noisy, lambda r: (r["head"], G.level(r)), metric=m, method=None)
        for m in ("accuracy", "confidence")
    }
    out = [f"### {model}: accuracy and confidence under Gaussian noise", ""]
    for metric, cells in by_metric.items():
        levels = sorted({lvl for _, lvl in cells})
        out += [
            f"**{metric}** (mean over training seeds ± 95% CI; seeds per head: {G.seeds_note(cells.values())})",
            "",
            *md.table(
                ["noise variance", *heads],
                ([f"{v:g}", *[G.lookup(cells, (h, v)) for h in heads]] for v in levels),
            ),
            "",
        ]
    paths = _noise_figures(model, by_metric, heads, fig_dir)
    for metric, path in paths.items():
        out += [f"![{metric} against noise variance]({rel}/{path.name})", ""]
    conf = {k: c for k, c in by_metric["confidence"].items() if k[1] > 0}  # the noisy levels
    if model == "resnet50" and any((h, 0.5) in conf for h in PAPER_CONFIDENCE):
        out += _beside_paper(conf, heads)
    out += ordering(conf, heads, mine)  # the paper's claim, checked on every architecture
    return out + severity_section(model, readings or mine), list(paths.values())


def _noise_figures(
    model: str, by_metric: Mapping[str, Mapping[tuple[str, float], Cell]], heads: Sequence[str], fig_dir: Path
) -> dict[str, Path]:
    """One curve per metric (heads as series, the seeds' 95% CI as bands) when a head has several levels."""
    curves = {
        metric: {
            h: [(lvl, c.mean, c.low, c.high) for (hh, lvl), c in cells.items() if hh == h] for h in heads
        }
        for metric, cells in by_metric.items()
    }
    plain = [(x, y) for x, y, _, _ in curves["confidence"].get("plain", [])]
    vstar = crossing(plain, PAPER_PLAIN_CONFIDENCE)
    marks = {f"v* = {vstar:.3g}": vstar} if vstar is not None else {}
    paths = {}
    for metric, series in curves.items():
        if not any(len(v) > 1 for v in series.values()):
            continue
        fig = figures.curves(
            series,
            xlabel="noise variance",
            ylabel=f"mean {metric}" if metric == "accuracy" else "mean true-class confidence",
            title=f"{model}: {metric} under Gaussian noise (seeds' mean, 95% CI)",
            paper=PAPER_CONFIDENCE if metric == "confidence" and model == "resnet50" else None,
            marks=marks,
            hline=(PAPER_PLAIN_CONFIDENCE, "paper's plain 0.481") if metric == "confidence" else None,
        )
        paths[metric] = figures.save(fig, fig_dir / f"study1_{model}_{metric}_vs_noise.png")
    return paths


def _beside_paper(conf: Mapping[tuple[str, float], Cell], heads: Sequence[str]) -> Lines:
    """The paper's ResNet50 confidences at variance 0.5 and 0.6 beside camx's, ``paper / camx``."""

    def pair(h: str, v: float) -> str:
        paper = dict(PAPER_CONFIDENCE.get(h, []))
        if (h, v) not in conf:
            return "—"
        return f"{f'{paper[v]:.3f}' if v in paper else '—'} / {conf[(h, v)].text()}"

    rows = [[h, pair(h, 0.5), pair(h, 0.6)] for h in heads]
    return [
        "**Beside the paper** (Sensors 2023 §3.1: ResNet50 true-class confidence; paper / camx)",
        "",
        *md.table(["head", "variance 0.5", "variance 0.6"], rows),
        "",
    ]


def area_cells(records: Sequence[G.Record], levels: Sequence[float]) -> dict[str, Cell]:
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
    return {h: G.seed_cell(by_head[h]) for h in G.HEAD_ORDER if h in by_head}


def ordering(
    conf: Mapping[tuple[str, float], Cell], heads: Sequence[str], records: Sequence[G.Record]
) -> Lines:
    """Does dropkey > dropout > plain hold, and is it the attention head or the drop? Sentences from numbers."""
    levels = sorted({lvl for _, lvl in conf})
    lines = [_ordering_at(conf, lvl) for lvl in (0.5, 0.6) if lvl in levels]
    lines = [line for line in lines if line]
    mid = [lvl for lvl in levels if 0 < lvl <= 1.0]
    area = area_cells(records, mid)
    if "attention" in area and "plain" in area and mid:
        lines.append(_attribution(area, mid))
    return lines + [""] if lines else []


def _ordering_at(conf: Mapping[tuple[str, float], Cell], lvl: float) -> str:
    trio = [h for h in ("dropkey", "dropout", "plain") if (h, lvl) in conf]
    if len(trio) < 3:
        return ""
    k, d, p = (conf[(h, lvl)] for h in trio)
    by_mean = k.mean > d.mean > p.mean
    strict = G.verdict(k, d) == ">" and G.verdict(d, p) == ">"
    state = (
        "holds, and the confidence intervals separate"
        if strict
        else "holds in the means but the confidence intervals overlap"
        if by_mean
        else "does not hold"
    )
    order = " > ".join(h for h, _ in sorted(((h, conf[(h, lvl)].mean) for h in trio), key=lambda t: -t[1]))
    return (
        f"- Variance {lvl:g}: the paper's ordering dropkey > dropout > plain {state} "
        f"(here: {order}; dropkey vs dropout {G.verdict(k, d)}, dropout vs plain {G.verdict(d, p)})."
    )


def _attribution(area: Mapping[str, Cell], mid: Sequence[float]) -> str:
    """Whether the confidence gain comes from the attention head, the drop on top of it, or both."""
    rank = " > ".join(sorted(area, key=lambda h: -area[h].mean))
    drops = [h for h in ("dropout", "dropkey") if h in area]
    best = max(drops, key=lambda h: area[h].mean) if drops else None
    head_v = G.verdict(area["attention"], area["plain"])
    drop_v = G.verdict(area[best], area["attention"]) if best else "≈"
    if head_v == "≈" and drop_v == "≈":
        which = (
            "no difference beyond the spread between seeds: neither the attention head (attention vs plain ≈) "
            f"nor the drop ({best} vs attention ≈) changes it measurably here"
        )
    else:
        source = (
            "the attention head itself"
            if drop_v == "≈"
            else "the drop on top of the attention head"
            if head_v == "≈"
            else "both the attention head and the drop"
        )
        which = (
            f"attention vs plain {head_v}, {best} vs attention {drop_v}: the difference comes from {source}"
        )
    return (
        f"- Mean confidence over variances {mid[0]:g}–{mid[-1]:g} (per seed, then over seeds): {rank} "
        f"({', '.join(f'{h} {c.text()}' for h, c in area.items())}) — {which}."
    )
