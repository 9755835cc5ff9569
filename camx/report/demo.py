"""``camx report DEMO_DIR --demo SECONDS``: the summary ``make demo`` ends with (``DEMO_DIR/summary.md``).

Reads the ``metrics.json`` of the two newest eval runs under ``DEMO_DIR/eval/`` (the demo's noise sweep
and its variance-0.6 run): per trained head, the clean test accuracy and true-class confidence,
accuracy and confidence at noise variance 0.6, the confidence at variance 1.0 and its drop from clean;
then the foundation's targets (≥ 90% clean accuracy per head, the plain head's confidence ≥ 0.15 lower
at variance 1.0, the demo ≤ 20 minutes) with what was measured; then every head at matched severity
(:func:`at_vstar`): v*, the variance where the plain head's confidence crosses the paper's 0.481. The
README's demo table is copied from this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camx.atomic import atomic_write_text
from camx.errors import DataError
from camx.metrics.severity import PAPER_PLAIN_CONFIDENCE, PAPER_RATIOS, crossing, value_at
from camx.report import markdown as md
from camx.report.groups import HEAD_ORDER
from camx.results import read_metrics

TIME_LIMIT_S = 20 * 60
MIN_ACCURACY = 0.90
MIN_CONFIDENCE_DROP = 0.15
#: the summary's columns after the head: (title, metric, perturbation, level)
COLUMNS = (
    ("clean test accuracy", "accuracy", "none", 0.0),
    ("clean confidence", "confidence", "none", 0.0),
    ("accuracy @ var 0.6", "accuracy", "noise", 0.6),
    ("confidence @ var 0.6", "confidence", "noise", 0.6),
    ("confidence @ var 1.0", "confidence", "noise", 1.0),
)
Record = Mapping[str, Any]


def find(records: Sequence[Record], head: str, metric: str, perturbation: str, level: float) -> Record | None:
    """The map-free record of ``head`` for ``metric`` under (``perturbation``, ``level``), if any."""
    for r in records:
        if (
            r["head"] == head
            and r["metric"] == metric
            and r.get("method") is None
            and r["perturbation"] == perturbation
            and abs(float(r["level"]) - level) < 1e-9
        ):
            return r
    return None


def _fmt(record: Record | None) -> str:
    if record is None:
        return "—"
    if record.get("ci_low") is None or record.get("ci_high") is None:
        return f"{record['value']:.3f}"
    return f"{record['value']:.3f} [{record['ci_low']:.3f}, {record['ci_high']:.3f}]"


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "**not met**")


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def summarise(records: Sequence[Record], seconds: float) -> str:
    """The markdown summary of a demo's eval records and its wall time: the heads, then the targets."""
    heads = sorted({r["head"] for r in records}, key=HEAD_ORDER.index)
    rows, accuracies, drops = [], {}, {}
    for head in heads:
        found = [find(records, head, *c[1:]) for c in COLUMNS]
        clean_acc, clean_conf, conf10 = found[0], found[1], found[4]
        drop = clean_conf["value"] - conf10["value"] if clean_conf and conf10 else None
        if clean_acc:
            accuracies[head] = float(clean_acc["value"])
        if drop is not None:
            drops[head] = drop
        rows.append([head, *map(_fmt, found), _number(drop), clean_acc["n"] if clean_acc else "—"])
    worst = min(accuracies.values()) if accuracies else None
    plain_drop = drops.get("plain")
    targets = [
        [
            f"`make demo` ≤ {TIME_LIMIT_S // 60} min",
            f"{seconds / 60:.1f} min",
            _verdict(seconds <= TIME_LIMIT_S),
        ],
        [
            f"every head ≥ {MIN_ACCURACY:.0%} clean test accuracy",
            f"lowest {_number(worst)}",
            _verdict(None if worst is None else worst >= MIN_ACCURACY),
        ],
        [
            f"plain: confidence ≥ {MIN_CONFIDENCE_DROP} lower at noise variance 1.0",
            _number(plain_drop),
            _verdict(None if plain_drop is None else plain_drop >= MIN_CONFIDENCE_DROP),
        ],
    ]
    header = ["head", *(c[0] for c in COLUMNS), "confidence drop @ 1.0", "n"]
    lines = [*md.table(header, rows), "", *md.table(["target", "measured", "result"], targets), ""]
    return "\n".join(lines + at_vstar(records, heads)) + "\n"


def _curve(records: Sequence[Record], head: str, metric: str, field: str) -> list[tuple[float, float]]:
    """``field`` (value, ci_low or ci_high) of ``head``'s map-free ``metric`` per noise level, clean = 0."""
    pts: dict[float, float] = {}
    for r in records:
        if (
            r["head"] == head
            and r["metric"] == metric
            and r.get("method") is None
            and r.get(field) is not None
        ) and r["perturbation"] in ("none", "noise"):
            pts.setdefault(0.0 if r["perturbation"] == "none" else float(r["level"]), float(r[field]))
    return sorted(pts.items())


def _band(records: Sequence[Record], head: str, metric: str, v: float) -> str:
    mean, lo, hi = (value_at(_curve(records, head, metric, f), v) for f in ("value", "ci_low", "ci_high"))
    return "—" if mean != mean else f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def at_vstar(records: Sequence[Record], heads: Sequence[str]) -> list[str]:
    """Every head at v* (log-variance interpolation, :mod:`camx.metrics.severity`) beside the paper's ratios.

    One training seed per head, so the intervals are the images' 95% CIs of the two bracketing levels,
    interpolated; v*'s range is where the plain head's CI band crosses 0.481.
    """
    vstar = crossing(_curve(records, "plain", "confidence", "value"), PAPER_PLAIN_CONFIDENCE)
    if vstar is None:
        return [
            f"The plain head's confidence does not cross the paper's {PAPER_PLAIN_CONFIDENCE} on this grid."
        ]
    ends = [
        crossing(_curve(records, "plain", "confidence", f), PAPER_PLAIN_CONFIDENCE)
        for f in ("ci_low", "ci_high")
    ]
    span = (
        f" (the plain CI band crosses 0.481 over {_number(ends[0])}–{_number(ends[1])})"
        if None not in ends
        else ""
    )
    rows = []
    for head in heads:
        conf = value_at(_curve(records, head, "confidence", "value"), vstar)
        ratio = "—" if conf != conf else f"{conf / PAPER_PLAIN_CONFIDENCE:.2f}"
        paper = f"{PAPER_RATIOS[head]:.2f}" if head in PAPER_RATIOS else "—"
        rows.append([head, _band(records, head, "confidence", vstar), ratio, paper,
                     _band(records, head, "accuracy", vstar)])  # fmt: skip
    header = ["head", "confidence @ v*", "ratio to 0.481", "paper's ratio", "accuracy @ v*"]
    intro = f"At matched severity: v* = {vstar:.3g}{span}, where the plain head's confidence is the paper's 0.481 (its v = 0.6)."
    return [intro, "", *md.table(header, rows)]


def write_summary(folder: Path, seconds: float) -> tuple[str, Path]:
    """Write ``folder/summary.md`` from the demo's two newest eval runs; returns (text, path)."""
    folder = Path(folder)
    files = sorted((folder / "eval").glob("*/metrics.json"))[-2:]  # the demo's two eval runs, the newest
    if not files:
        raise DataError(f"no eval results under {folder / 'eval'}; run make demo first")
    text = summarise([r for f in files for r in read_metrics(f)], seconds)
    path = folder / "summary.md"
    atomic_write_text(path, text)
    return text, path
