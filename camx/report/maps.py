"""Study 1's map sections: Grad-CAM localisation and stability per head and perturbation (Sensors 2023
Figs. 2, 4–7) beside random and centre baselines, the DropKey mask-ratio sweep (Fig. 8), and
Monte-Carlo maps against single-pass maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camx import figures
from camx.errors import plural
from camx.report import groups as G
from camx.report import markdown as md
from camx.report.tables import Cell

Lines = list[str]
#: the mask-ratio sweep's columns: (metric, method, condition)
RATIO_COLUMNS = (
    ("accuracy", None, "clean"),
    ("accuracy", None, "noise 0.5"),
    ("confidence", None, "noise 0.5"),
    ("pointing_game", "gradcam", "clean"),
    ("pointing_game", "gradcam", "noise 0.5"),
    ("stability_pearson", "gradcam", "noise 0.5"),
)


def localisation(core: Sequence[G.Record]) -> Lines:
    """One table per (model, method, metric): a row per condition, a column per head and baseline."""
    maps = [r for r in core if r.get("method") and r["metric"] in (*G.LOCALISATION, *G.STABILITY)]
    if not maps:
        return []
    out = ["### Grad-CAM localisation and stability under each perturbation (Sensors 2023 Figs. 2, 4–7)", ""]
    for model in sorted({r["model"] for r in maps}):
        mine = [r for r in maps if r["model"] == model]
        first = next((r["checkpoint"] for r in mine if r["method"] in G.BASELINES), None)
        methods = sorted({r["method"] for r in mine if r["method"] not in G.BASELINES})
        for method in methods:
            for metric in (*G.LOCALISATION, *G.STABILITY):
                out += _metric_table(mine, model, method, metric, first)
    return out


def _metric_table(mine: Sequence[G.Record], model: str, method: str, metric: str, first: Any) -> Lines:
    cells = G.cells(mine, lambda r: (r["head"], G.cond(r)), metric=metric, method=method)
    if not cells:
        return []
    base = G.cells(  # baseline maps ignore the model: one checkpoint's records, CI over images
        [r for r in mine if r["checkpoint"] == first], lambda r: (r["method"], G.cond(r)), metric=metric
    )
    heads = G.heads(mine)
    conds = G.cond_order(r for r in mine if r["metric"] == metric)
    cols = [b for b in G.BASELINES if any((b, c) in base for c in conds)]
    rows = (
        [c, *[G.lookup(cells, (h, c)) for h in heads], *[G.lookup(base, (b, c)) for b in cols]] for c in conds
    )
    return [
        f"**{model} · {method} · {metric}** (seeds: {G.seeds_note(cells.values())}; baselines: CI over images)",
        "",
        *md.table(["condition", *heads, *cols], rows),
        "",
        *head_verdicts(cells, conds),
    ]


def head_verdicts(cells: Mapping[tuple[str, str], Cell], conds: Sequence[str]) -> Lines:
    """One line per drop head: in which conditions its interval lies above / below plain's, or overlaps."""
    lines = []
    for head in ("dropout", "dropkey"):
        tally: dict[str, list[str]] = {">": [], "<": [], "≈": []}
        for c in conds:
            if (head, c) in cells and ("plain", c) in cells:
                tally[G.verdict(cells[(head, c)], cells[("plain", c)])].append(c)
        if any(tally.values()):
            lines.append(
                f"- {head} vs plain: above in {len(tally['>'])} ({', '.join(tally['>']) or '—'}), below in "
                f"{len(tally['<'])} ({', '.join(tally['<']) or '—'}), within the seeds' spread in "
                f"{len(tally['≈'])} of {plural(sum(map(len, tally.values())), 'condition')}."
            )
    return lines + [""] if lines else []


def mask_ratio(recs: Sequence[G.Record], model: str, fig_dir: Path, rel: str) -> tuple[Lines, list[Path]]:
    """The DropKey heads of ``model`` trained at several mask ratios: a table and a curve per metric."""
    dk = [r for r in recs if r["head"] == "dropkey" and r.get("mask_ratio") is not None]
    ratios = sorted({r["mask_ratio"] for r in dk})
    if len(ratios) < 2:
        return [], []
    seeds_at = {x: {r.get("seed") for r in dk if r["mask_ratio"] == x} for x in ratios}
    common = set.intersection(*seeds_at.values())
    if common:  # compare ratios on the seeds every ratio was trained with
        dk = [r for r in dk if r.get("seed") in common]
    cols, series, rows = [], {}, {x: [f"{x:g}"] for x in ratios}
    for metric, method, cond in RATIO_COLUMNS:
        at = [r for r in dk if G.cond(r) == cond]
        cells = G.cells(at, lambda r: r["mask_ratio"], metric=metric, method=method)
        if not cells:
            continue
        name = f"{metric} ({cond})"
        cols.append(name)
        for x in ratios:
            rows[x].append(G.lookup(cells, x))
        series[name] = [(x, c.mean, c.low, c.high) for x, c in cells.items()]
    if not cols:
        return [], []
    seeds = f"seed {', '.join(str(x) for x in sorted(common))}" if common else "all seeds"
    fig = figures.curves(
        series, xlabel="DropKey mask ratio", ylabel="value", title=f"{model}: mask-ratio sweep (cf. Fig. 8)"
    )
    path = figures.save(fig, fig_dir / f"study1_{model}_mask_ratio.png")
    out = [
        f"### {model}: DropKey mask-ratio sweep (Sensors 2023 Fig. 8)",
        "",
        f"DropKey heads trained with each ratio ({seeds}; with one seed the interval is over images).",
        "",
        *md.table(["mask ratio", *cols], rows.values()),
        "",
        f"![mask-ratio sweep]({rel}/{path.name})",
        "",
    ]
    return out, [path]


def monte_carlo(records: Sequence[G.Record], model: str, main: Mapping[tuple[str, str], Any]) -> Lines:
    """``model``'s Monte-Carlo DropKey/Dropout maps (mc_samples > 1) beside its single-pass maps."""
    mc_recs = [r for r in records if r["mc"] > 1 and r.get("method") and r["method"] not in G.BASELINES]
    if not mc_recs:
        return []
    samples = sorted({r["mc"] for r in mc_recs})
    conds = list(dict.fromkeys(G.cond(r) for r in mc_recs))
    method = mc_recs[0]["method"]
    single = [
        r
        for r in records
        if r["mc"] == 1
        and r.get("method") == method
        and G.cond(r) in conds
        and main.get((r["model"], r["head"])) == r.get("mask_ratio")
    ]
    metrics = [m for m in (*G.LOCALISATION, "stability_pearson") if any(r["metric"] == m for r in mc_recs)]
    rows = []
    for h in G.heads(mc_recs):
        for c in conds:
            row = [h, c]
            for m in metrics:
                many = G.cells([r for r in mc_recs if G.cond(r) == c], lambda r: 0, head=h, metric=m)
                one = G.cells([r for r in single if G.cond(r) == c], lambda r: 0, head=h, metric=m)
                row.append(f"{G.lookup(one, 0)} → {G.lookup(many, 0)}")
            rows.append(row)
    return [
        f"### {model}: Monte-Carlo maps (mc_samples={'/'.join(map(str, samples))}) against single-pass maps",
        "",
        f"{method}, single pass → Monte-Carlo mean (seeds' mean ± 95% CI)",
        "",
        *md.table(["head", "condition", *metrics], rows),
        "",
    ]
