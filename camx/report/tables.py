"""Records → a table of cells: the mean of each metric with its 95% CI, one row per condition.

The markdown writer (:func:`camx.results.markdown`) and the HTML writer (:mod:`camx.report.html`) both
render this one table, so the two always show the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KEY_COLUMNS = ("model", "head", "method", "perturbation", "level")


@dataclass(frozen=True)
class Cell:
    """A metric's mean and its 95% CI (``None`` where not finite or not computed).

    ``seeds`` > 0 marks a summary over training seeds (:mod:`camx.report.groups`): its interval is
    shown even when it is empty (``± 0.000``: the seeds agree), while a per-image cell with an empty
    interval (one image) shows the mean alone.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    seeds: int = 0

    @property
    def half_width(self) -> float | None:
        if self.low is None or self.high is None or not math.isfinite(self.high - self.low):
            return None
        return (self.high - self.low) / 2

    @property
    def mean(self) -> float:
        """The value as a float (NaN when missing), for comparisons."""
        return float("nan") if self.value is None else float(self.value)

    def text(self, digits: int = 3) -> str:
        """``0.871 ± 0.021``; ``0.000 [0.000, 0.490]`` when the interval is not centred on the mean (a
        Wilson interval, or one clipped at the metric's range); ``—`` when missing."""
        if self.value is None or not math.isfinite(self.value):
            return "—"
        half = self.half_width
        shown = half is not None and (half > 0 or self.seeds > 0)
        if not shown:
            return f"{self.value:.{digits}f}"
        assert self.low is not None and self.high is not None
        if abs((self.value - self.low) - (self.high - self.value)) >= 0.5 * 10**-digits:
            return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"
        return f"{self.value:.{digits}f} ± {half:.{digits}f}"


def level_text(r: Mapping[str, Any]) -> str:
    """A record's level as shown and matched: ``0.6``; a composed chain's (``levels``) ``0.01+30``."""
    levels = r.get("levels")
    if levels:
        return "+".join(f"{float(v):g}" for v in levels)
    level = r.get("level")
    return f"{float(level):g}" if isinstance(level, (int, float)) else str(level)


def _key(r: Mapping[str, Any]) -> tuple[str, ...]:
    run = str(r.get("run") or r["head"])
    return (str(r["model"]), run, r.get("method") or "—", str(r["perturbation"]), level_text(r))


def ci_table(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """(columns, rows): five key columns (the ``head`` column shows each record's ``run``), then one
    :class:`Cell` per metric. Map-free metrics (method ``—``) are shown on every method row of the
    same condition; a ``—`` row is kept only when its condition has no method rows."""
    metrics: list[str] = []
    rows: dict[tuple[str, ...], dict[str, Cell]] = {}
    for r in records:
        if r["metric"] not in metrics:
            metrics.append(r["metric"])
        rows.setdefault(_key(r), {})[r["metric"]] = Cell(r["value"], r.get("ci_low"), r.get("ci_high"))
    shared = {(k[0], k[1], k[3], k[4]): v for k, v in rows.items() if k[2] == "—"}
    with_methods = {(k[0], k[1], k[3], k[4]) for k in rows if k[2] != "—"}
    out = []
    for key, cells in rows.items():
        cond = (key[0], key[1], key[3], key[4])
        if key[2] == "—" and cond in with_methods:
            continue
        merged = {**shared.get(cond, {}), **cells}
        out.append([*key, *[merged.get(m, Cell(None)) for m in metrics]])
    return [*KEY_COLUMNS, *metrics], out


def value_rows(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """:func:`ci_table` with each cell's mean only (for terminal tables)."""
    cols, rows = ci_table(records)
    return cols, [[*row[:5], *[c.value for c in row[5:]]] for row in rows]
