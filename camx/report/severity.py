"""Study 1 at matched severity: every head at the v* where the plain head's confidence crosses 0.481.

The paper's claim is relative (Sensors 2023 §3.1): at its v = 0.6 the plain ResNet50 keeps 0.481, Dropout
0.766 (ratio 1.59) and DropKey 0.878 (1.83). :func:`severity_section` finds this study's v* per
architecture and noise reading (:func:`camx.metrics.severity.match_severity` on the eval records'
per-checkpoint mean confidences, clean = level 0, read in log-variance), reports every head there with
its ratio beside the paper's, a verdict on dropkey > dropout > plain, and Grad-CAM's localisation and map
stability at v* (each checkpoint's curve over the evaluated levels read at v* by
:func:`camx.metrics.severity.value_at`, then the mean over seeds ± a t-interval).

Intervals: eval records are means over test images, so v* and the confidences at v* are bootstrapped
over training seeds only (paired: the i-th seed of every head, by seed) — with three seeds they are
coarse. Heads are compared by their intervals (:func:`camx.report.groups.verdict`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import torch

from camx.metrics.severity import PAPER_PLAIN_CONFIDENCE, SeverityMatch, match_severity, value_at
from camx.metrics.stats import Summary
from camx.options.perturb import DEFAULT_NOISE_SPACE
from camx.report import groups as G
from camx.report import markdown as md
from camx.report.tables import Cell

Lines = list[str]
Curves = dict[str, dict[str, dict[float, float]]]  # head → checkpoint → level → value
MAP_METRICS = (
    ("energy_pointing_game", "energy pointing game"),
    ("pointing_game", "pointing game"),
    ("stability_pearson", "stability (Pearson)"),
)
READINGS_DOC = "results/noise_reading.md"  #: the four readings on a real classifier, relative to docs/


def space_of(r: G.Record) -> str:
    """The noise reading a record was measured under (the eval's default when its config names none)."""
    return str(r.get("noise_space") or DEFAULT_NOISE_SPACE)


def curves(records: Sequence[G.Record], metric: str, method: str | None) -> Curves:
    """Per head and checkpoint: ``metric`` of ``method`` at each noise level (clean = 0)."""
    out: Curves = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if r["metric"] != metric or r["method"] != method or r["value"] is None:
            continue
        if r["perturbation"] in ("none", "noise"):
            out[r["head"]][r["checkpoint"]].setdefault(G.level(r), float(r["value"]))
    return out


def _seed_order(r_by_ckpt: Mapping[str, G.Record], ckpts: Sequence[str]) -> list[str]:
    def key(c: str) -> tuple[float, str]:
        seed = r_by_ckpt.get(c, {}).get("seed")
        return (float(seed) if seed is not None else math.inf, c)

    return sorted(ckpts, key=key)


def paired(conf: Curves, seeds: Mapping[str, G.Record]) -> tuple[list[float], dict[str, torch.Tensor]]:
    """The levels every checkpoint of every head has, and per head an (S, 1, L) tensor, seeds paired by order."""
    all_curves = [c for by in conf.values() for c in by.values()]
    levels = sorted(set.intersection(*(set(c) for c in all_curves))) if all_curves else []
    s = min((len(by) for by in conf.values()), default=0)
    tensors = {}
    for head, by in conf.items():
        order = _seed_order(seeds, list(by))[:s]
        tensors[head] = torch.tensor([[[by[c][v] for v in levels]] for c in order], dtype=torch.float64)
    return levels, tensors


def _cell(s: Summary, n: int) -> Cell:
    return Cell(s.mean, s.ci_low, s.ci_high, n)


def at_vstar(by_ckpt: Mapping[str, Mapping[float, float]], vstar: float) -> Cell:
    """Each checkpoint's curve read at v*, then the mean over checkpoints ± t-interval (NaN off the grid)."""
    items = []
    for ckpt, curve in by_ckpt.items():
        v = value_at(sorted(curve.items()), vstar)
        items.append({"checkpoint": ckpt, "value": v if math.isfinite(v) else None})
    return G.seed_cell(items) if items else Cell(None)


def verdict(cells: Mapping[str, Cell]) -> str:
    """Whether dropkey > dropout > plain holds at v* beyond the intervals; the noise-trained plain beside it."""
    if not all(h in cells for h in ("dropkey", "dropout", "plain")):
        return ""
    k, d, p = cells["dropkey"], cells["dropout"], cells["plain"]
    kd, dp = G.verdict(k, d), G.verdict(d, p)
    state = (
        "holds beyond the intervals"
        if kd == dp == ">"
        else "holds in the means only (the intervals overlap)"
        if k.mean > d.mean > p.mean
        else "does not hold"
    )
    line = f"dropkey > dropout > plain at v* {state} (dropkey vs dropout {kd}, dropout vs plain {dp})"
    if "plain+noise" in cells:
        n = cells["plain+noise"]
        line += (
            f"; the noise-trained plain vs plain {G.verdict(n, p)}, dropkey vs plain+noise {G.verdict(k, n)}"
        )
    return line + "."


def _match(recs: Sequence[G.Record]) -> tuple[SeverityMatch | None, int, Curves]:
    conf = curves(recs, "confidence", None)
    seeds = {r["checkpoint"]: r for r in recs}
    levels, tensors = paired(conf, seeds)
    n = min((t.shape[0] for t in tensors.values()), default=0)
    if "plain" not in tensors or n == 0 or len(levels) < 2:
        return None, 0, conf
    return match_severity(levels, tensors), n, conf


def _head_rows(
    m: SeverityMatch, n: int, recs: Sequence[G.Record]
) -> tuple[list[list[object]], dict[str, Cell]]:
    """One row per head: confidence and ratio at v* (bootstrap CIs), the paper's ratio, maps at v*."""
    maps = {metric: curves(recs, metric, "gradcam") for metric, _ in MAP_METRICS}
    vstar = m.vstar.mean
    rows, conf = [], {}
    for head in G.HEAD_ORDER:
        if head not in m.heads:
            continue
        h = m.heads[head]
        conf[head] = _cell(h.confidence, n)
        paper = "—" if h.paper_ratio is None else f"{h.paper_ratio:.2f}"
        cells = [at_vstar(maps[metric].get(head, {}), vstar) for metric, _ in MAP_METRICS]
        rows.append([head, conf[head], _cell(h.ratio, n), paper, *cells])
    return rows, conf


def _vstar_text(m: SeverityMatch) -> str:
    v = m.vstar
    return f"{v.mean:.3g} [{v.ci_low:.3g}, {v.ci_high:.3g}]" if math.isfinite(v.mean) else "never crossed"


def reading_section(model: str, recs: Sequence[G.Record], space: str) -> Lines:
    """v*, every head at v* (confidence, ratio, maps) and the verdict, for one architecture and reading."""
    m, n, _ = _match(recs)
    out = [
        f"**At matched severity** ({model}, noise read as `{space}`; camx.metrics.severity.match_severity)",
        "",
    ]
    if m is None:
        return out + ["No plain head with a noise curve on a common grid: v* is not defined here.", ""]
    if not math.isfinite(m.vstar.mean):
        return out + [
            f"The plain head's mean confidence never crosses the paper's {PAPER_PLAIN_CONFIDENCE} on the "
            "evaluated grid (it starts below or stays above it): no matched severity.",
            "",
        ]
    rows, conf = _head_rows(m, n, recs)
    labels = [label for _, label in MAP_METRICS]
    out += [
        f"v* = {_vstar_text(m)} (the paper's 0.6; {m.crossed:.0%} of the bootstrap replicates over "
        f"{n} paired training seeds cross). Each head at v*: confidence and its ratio to 0.481 (bootstrap "
        "95% CI over seeds), the paper's ratio, and Grad-CAM's maps at v* (each checkpoint's curve read "
        "at v*, mean over seeds ± 95% t-interval; — when the maps' levels do not bracket v*).",
        "",
        *md.table(["head", "confidence at v*", "ratio to 0.481", "paper's ratio", *labels], rows),
        "",
    ]
    line = verdict(conf)
    return out + ([f"- {model}: {line}", ""] if line else [])


def readings_table(model: str, recs: Sequence[G.Record], main: str) -> Lines:
    """The other noise readings the study evaluated (v*, heads at v*), or a link to the readings' note."""
    others = sorted({space_of(r) for r in recs if r["perturbation"] == "noise"} - {main})
    if not others:
        return [
            f"How much the reading matters: this study evaluated `{main}` only; "
            f"[{READINGS_DOC}]({READINGS_DOC}) compares the four readings on a real ImageNet classifier.",
            "",
        ]
    rows = []
    for space in [main, *others]:
        # the checkpoints this reading evaluated (another reading's stage may hold fewer heads)
        ckpts = {r["checkpoint"] for r in recs if r["perturbation"] == "noise" and space_of(r) == space}
        mine = [r for r in recs if r["checkpoint"] in ckpts]
        m, n, _ = _match([r for r in mine if r["perturbation"] == "none" or space_of(r) == space])
        heads = m.heads if m is not None and math.isfinite(m.vstar.mean) else {}
        rows.append(
            [
                space,
                _vstar_text(m) if m else "—",
                *[
                    _cell(heads[h].confidence, n) if h in heads else None
                    for h in ("plain", "dropout", "dropkey")
                ],
            ]
        )
    header = ["reading", "v*", "plain at v*", "dropout at v*", "dropkey at v*"]
    return [f"**{model}: the readings evaluated**", "", *md.table(header, rows), ""]


def main_reading(recs: Sequence[G.Record]) -> str | None:
    """The reading the study is read in: ``normalized`` when evaluated, else the most common; None: no noise."""
    spaces = [space_of(r) for r in recs if r["perturbation"] == "noise"]
    if not spaces:
        return None
    return "normalized" if "normalized" in spaces else max(set(spaces), key=spaces.count)


def severity_section(model: str, recs: Sequence[G.Record]) -> Lines:
    """Matched severity under the main reading (``normalized`` when evaluated), then the readings table."""
    main = main_reading(recs)
    if main is None:
        return []
    mine = [r for r in recs if r["perturbation"] == "none" or space_of(r) == main]
    return reading_section(model, mine, main) + readings_table(model, recs, main)
