"""``python -m camx.cli.demo_summary DIR SECONDS``: the table ``make demo`` ends with.

Reads the ``metrics.json`` of the two newest eval runs under ``DIR/eval/`` (the demo's noise sweep
and its variance-0.6 run), and writes ``DIR/summary.md``: per trained head, the clean test accuracy and
true-class confidence, accuracy and confidence at noise variance 0.6, the confidence at variance
1.0 and its drop from clean; then the foundation's targets (≥ 90% clean accuracy per head, the plain
head's confidence ≥ 0.15 lower at variance 1.0, the demo ≤ 20 minutes) with what was measured.
The README's demo table is copied from this file.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camx.results import read_metrics

TIME_LIMIT_S = 20 * 60
MIN_ACCURACY = 0.90
MIN_CONFIDENCE_DROP = 0.15


def _value(
    records: Sequence[Mapping[str, Any]], head: str, metric: str, perturbation: str, level: float
) -> Any:
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


def _fmt(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "—"
    if record.get("ci_low") is None or record.get("ci_high") is None:
        return f"{record['value']:.3f}"
    return f"{record['value']:.3f} [{record['ci_low']:.3f}, {record['ci_high']:.3f}]"


def summarise(records: Sequence[Mapping[str, Any]], seconds: float) -> str:
    """The Markdown summary of a demo's eval records and its wall time."""
    heads = sorted({r["head"] for r in records}, key=["plain", "attention", "dropout", "dropkey"].index)
    lines = [
        "| head | clean test accuracy | clean confidence | accuracy @ var 0.6 | confidence @ var 0.6 | "
        "confidence @ var 1.0 | confidence drop @ 1.0 | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    accuracies: dict[str, float] = {}
    drops: dict[str, float] = {}
    for head in heads:
        clean_acc = _value(records, head, "accuracy", "none", 0.0)
        clean_conf = _value(records, head, "confidence", "none", 0.0)
        acc6 = _value(records, head, "accuracy", "noise", 0.6)
        conf6 = _value(records, head, "confidence", "noise", 0.6)
        conf10 = _value(records, head, "confidence", "noise", 1.0)
        drop = clean_conf["value"] - conf10["value"] if clean_conf and conf10 else None
        if clean_acc:
            accuracies[head] = float(clean_acc["value"])
        if drop is not None:
            drops[head] = drop
        lines.append(
            f"| {head} | {_fmt(clean_acc)} | {_fmt(clean_conf)} | {_fmt(acc6)} | {_fmt(conf6)} | {_fmt(conf10)} | "
            f"{'—' if drop is None else f'{drop:.3f}'} | {clean_acc['n'] if clean_acc else '—'} |"
        )

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "**not met**")

    worst = min(accuracies.values()) if accuracies else None
    plain_drop = drops.get("plain")
    lines += [
        "",
        "| target | measured | result |",
        "|---|---|---|",
        f"| `make demo` ≤ {TIME_LIMIT_S // 60} min | {seconds / 60:.1f} min | {verdict(seconds <= TIME_LIMIT_S)} |",
        f"| every head ≥ {MIN_ACCURACY:.0%} clean test accuracy | lowest {'—' if worst is None else f'{worst:.3f}'} | "
        f"{verdict(None if worst is None else worst >= MIN_ACCURACY)} |",
        f"| plain: confidence ≥ {MIN_CONFIDENCE_DROP} lower at noise variance 1.0 | "
        f"{'—' if plain_drop is None else f'{plain_drop:.3f}'} | "
        f"{verdict(None if plain_drop is None else plain_drop >= MIN_CONFIDENCE_DROP)} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m camx.cli.demo_summary DEMO_DIR SECONDS", file=sys.stderr)
        return 2
    folder, seconds = Path(args[0]), float(args[1])
    files = sorted((folder / "eval").glob("*/metrics.json"))[-2:]  # the demo's two eval runs, the newest
    if not files:
        print(f"error: no eval results under {folder / 'eval'}; run make demo first", file=sys.stderr)
        return 2
    records = [r for f in files for r in read_metrics(f)]
    text = summarise(records, seconds)
    (folder / "summary.md").write_text(text)
    print(text, end="")
    print(f"written to {folder / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
