"""Study records → cells: runs grouped by condition and summarised over their training seeds.

Each eval record is already a mean over test images. Runs of one group — same architecture, head and
mask ratio, different training seeds — are summarised by the mean over seeds with a 95% Student-t
interval over seeds (:func:`camx.metrics.mean_ci`, clipped to the metric's range); a group with one seed keeps its interval over images.
Two cells are compared by their intervals (:func:`verdict`), never by their means alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from camx.metrics import mean_ci
from camx.options.metrics import RANGES
from camx.report.tables import Cell, level_text

HEAD_ORDER = ("plain", "plain+noise", "attention", "dropout", "dropkey")
BASELINES = ("random", "center", "sobel")  #: the registry's baselines (tests/test_cam_explain.py checks)
LOCALISATION = ("pointing_game", "energy_pointing_game", "iou")
STABILITY = ("stability_pearson", "stability_ssim")

Record = Mapping[str, Any]


def seed_cell(items: Sequence[Record]) -> Cell:
    """Mean over the checkpoints of ``items`` (one record per checkpoint) with a t-interval over them."""
    by_ckpt: dict[str, Record] = {}
    for r in items:  # a condition evaluated twice (two stages) counts once per checkpoint
        by_ckpt.setdefault(r["checkpoint"], r)
    measured = [r for r in by_ckpt.values() if r["value"] is not None]
    if not measured:
        return Cell(float("nan"))
    if len(measured) == 1:
        only = measured[0]
        return Cell(float(only["value"]), only.get("ci_low"), only.get("ci_high"), 1)
    s = mean_ci([r["value"] for r in measured], bounds=RANGES.get(measured[0].get("metric", "")))
    return Cell(s.mean, s.ci_low, s.ci_high, len(measured))


def cells(records: Iterable[Record], key: Callable[[Record], Any], **where: Any) -> dict[Any, Cell]:
    """``{key(r): seed_cell}`` over the records whose fields equal ``where``."""
    groups: dict[Any, list[Record]] = defaultdict(list)
    for r in records:
        if all(r.get(k) == v for k, v in where.items()):
            groups[key(r)].append(r)
    return {k: seed_cell(v) for k, v in groups.items()}


def main_ratio(records: Iterable[Record]) -> dict[tuple[str, str], Any]:
    """Per (model, head): the mask ratio trained with the most seeds (the others form the ratio sweep)."""
    seeds: dict[tuple[str, str], dict[Any, set]] = defaultdict(lambda: defaultdict(set))
    for r in records:
        seeds[(r["model"], r["head"])][r.get("mask_ratio")].add(r["checkpoint"])
    return {key: max(by.items(), key=lambda kv: (len(kv[1]), kv[0] is None))[0] for key, by in seeds.items()}


def level(r: Record) -> float:
    """The noise level of a record, 0 for clean images."""
    return 0.0 if r["perturbation"] == "none" else float(r["level"])


def cond(r: Record) -> str:
    """``clean`` or ``noise 0.5``."""
    return "clean" if r["perturbation"] == "none" else f"{r['perturbation']} {level_text(r)}"


def cond_order(records: Iterable[Record]) -> list[str]:
    """The conditions of ``records`` (:func:`cond`): perturbations in first-seen order, each one's levels
    ascending (evals of different grids merge into one sorted list)."""
    recs = list(records)
    kinds = list(dict.fromkeys(r["perturbation"] for r in recs))

    def key(r: Record) -> tuple[int, float]:
        lvl = r.get("level")
        return kinds.index(r["perturbation"]), float(lvl) if isinstance(lvl, int | float) else 0.0

    return list(dict.fromkeys(cond(r) for r in sorted(recs, key=key)))


def heads(records: Iterable[Record]) -> list[str]:
    """The heads present, in :data:`HEAD_ORDER`."""
    present = {r["head"] for r in records}
    return [h for h in HEAD_ORDER if h in present]


def seeds_note(summaries: Iterable[Cell]) -> str:
    """``3`` or ``1/3``: the seed counts behind the cells."""
    counts = sorted({c.seeds for c in summaries if c.seeds})
    return "/".join(str(c) for c in counts) or "0"


def verdict(a: Cell, b: Cell) -> str:
    """'>' when a's interval lies above b's, '<' below, '≈' when the intervals overlap."""
    if a.low is None or b.low is None or a.high is None or b.high is None:
        return ">" if a.mean > b.mean else "<"
    if a.low > b.high:
        return ">"
    if a.high < b.low:
        return "<"
    return "≈"


def lookup(table: Mapping[Any, Cell], key: Any, digits: int = 3) -> str:
    """The text of ``table[key]``, ``—`` when absent."""
    return table[key].text(digits) if key in table else "—"
