"""Study 2 (IEEE Access 2024, *Grad++ScoreCAM*): Average Drop %, Increase in Confidence % (Table 1),
deletion/insertion AUC, localisation and seconds per image for every method, on clean test images, with
the ranking compared to the paper's by Spearman's ρ (:func:`camx.metrics.spearman`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from camx.metrics import spearman
from camx.report import groups as G
from camx.report import markdown as md
from camx.report.tables import Cell

Lines = list[str]

# IEEE Access 2024 Table 1 (ImageNet validation, VGG16): Average Drop % and Increase in Confidence %
PAPER_TABLE1 = {
    "cam": (47.2, 13.0),
    "gradcam": (47.8, 19.6),
    "gradcampp": (45.5, 18.9),
    "scorecam": (31.5, 30.6),
    "smoothgradcampp": (29.1, 30.1),
    "gradpp_scorecam": (32.6, 31.4),
}
#: (metric, column title, digits)
COLUMNS = (
    ("average_drop", "AD % ↓", 1),
    ("increase_in_confidence", "IC % ↑", 1),
    ("deletion_auc", "deletion ↓", 3),
    ("insertion_auc", "insertion ↑", 3),
    ("pointing_game", "PG ↑", 3),
    ("energy_pointing_game", "EPG ↑", 3),
    ("iou", "IoU ↑", 3),
    ("seconds_per_image", "s / image", 3),
)
Table = Mapping[str, Mapping[str, Cell]]  #: metric → method → cell


def study2(records: Sequence[G.Record], fig_dir: Path, rel: str) -> tuple[Lines, list[Path]]:
    """Study 2's markdown (per model, the methods' table and what it says against the paper); it draws
    no figures (``fig_dir`` and ``rel`` keep the signature of every study section)."""
    recs = [r for r in records if r["mc"] == 1 and r.get("method") and r["perturbation"] == "none"]
    out = ["### Faithfulness, localisation and cost of every method (IEEE Access 2024 Table 1)", ""]
    for model in sorted({r["model"] for r in recs}):
        out += _model(model, [r for r in recs if r["model"] == model])
    return out, []


def _model(model: str, mine: Sequence[G.Record]) -> Lines:
    methods = list(dict.fromkeys(r["method"] for r in mine))
    cells = {m: G.cells(mine, lambda r: r["method"], metric=m) for m, _, _ in COLUMNS}
    present = [(m, t, d) for m, t, d in COLUMNS if cells[m]]
    first = present[0][0] if present else ""  # n and seeds of a metric every method has
    n = sorted({r["n"] for r in mine if r["metric"] == first})
    seeds = G.seeds_note(cells[first].values()) if first else "0"
    rows = []
    for method in methods:
        paper = PAPER_TABLE1.get(method)
        row = [method, f"{paper[0]:.1f} / {paper[1]:.1f}" if paper else "—"]
        rows.append(row + [G.lookup(cells[m], method, d) for m, _, d in present])
    ckpts = sorted({r["checkpoint"] for r in mine})
    return [
        f"**{model}** (clean test images, n = {'/'.join(map(str, n))} per checkpoint; seeds: {seeds}; "
        "paper values: ImageNet, VGG16)",
        "",
        *md.table(["method", "paper AD / IC", *[t for _, t, _ in present]], rows),
        "",
        *_against_random(cells["average_drop"], methods),
        f"- Checkpoints ({len(ckpts)}): " + ", ".join(f"`{c}`" for c in ckpts),
        "",
        *_ranking(cells, methods),
    ]


def _against_random(ad: Mapping[str, Cell], methods: Sequence[str]) -> Lines:
    """How the methods' Average Drop compares with random maps' (or that it was not measured)."""
    if not ad:
        return [
            "- Average Drop and Increase in Confidence were not measured (the eval ran with average_drop=false)."
        ]
    named = [m for m in methods if m in ad and m not in G.BASELINES]
    if not named or "random" not in ad:
        return []
    lo, hi = min(ad[m].mean for m in named), max(ad[m].mean for m in named)
    below = [m for m in named if G.verdict(ad[m], ad["random"]) == "<"]
    return [
        f"- Average Drop of the {len(named)} methods spans {lo:.1f}–{hi:.1f} % (random maps: "
        f"{ad['random'].text(1)} %); {len(below)} of them"
        + (f" ({', '.join(below)})" if below else "")
        + " drop less than random maps beyond the seeds' spread."
    ]


def _ranking(cells: Table, methods: Sequence[str]) -> Lines:
    """Spearman's ρ between camx's and the paper's AD and IC over the methods both have (≥ 3)."""
    ad, ic = cells["average_drop"], cells["increase_in_confidence"]
    shared = [m for m in methods if m in PAPER_TABLE1 and m in ad and m in ic]
    if len(shared) < 3:
        return []
    rho_ad = spearman([PAPER_TABLE1[m][0] for m in shared], [ad[m].mean for m in shared])
    rho_ic = spearman([PAPER_TABLE1[m][1] for m in shared], [ic[m].mean for m in shared])
    best_ad = min(shared, key=lambda m: ad[m].mean)
    best_ic = max(shared, key=lambda m: ic[m].mean)
    paper_ad = min(shared, key=lambda m: PAPER_TABLE1[m][0])
    paper_ic = max(shared, key=lambda m: PAPER_TABLE1[m][1])

    def rho(v: float) -> str:
        return f"{v:+.2f}" if math.isfinite(v) else "undefined (every method ties)"

    return [
        f"- Ranking against the paper over {', '.join(shared)}: Spearman ρ = {rho(rho_ad)} for Average Drop, "
        f"{rho(rho_ic)} for Increase in Confidence (1 = same order). Lowest AD here: {best_ad} "
        f"(paper: {paper_ad}); highest IC here: {best_ic} (paper: {paper_ic}).",
        "",
    ]
