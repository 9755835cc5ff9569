"""Everything the CLI shows: rich progress bars, tables and one-line errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from camx.jobs.progress import Reporter

# Piped into a log or CI, rich would squeeze tables into 80 columns and elide every cell; give them room.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """A user error: one line on stderr."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


class RichReporter(Reporter):
    """Progress bars with live fields (loss, accuracy, images/s) and an ETA."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None

    def begin(self, description: str, total: int | None) -> None:
        self.end()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=False,
            disable=not console.is_terminal and "pytest" in sys.modules,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, info="")

    def advance(self, steps: int = 1, **fields: Any) -> None:
        if self._progress is None:
            return
        info = "  ".join(_fmt(k, v) for k, v in fields.items())
        self._progress.update(self._task, advance=steps, info=info)

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def note(self, message: str) -> None:
        (self._progress.console if self._progress else console).print(message, soft_wrap=True)


def _fmt(key: str, value: Any) -> str:
    if key == "ips":
        return f"{value:.1f} img/s"
    return f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", show_lines=False)
    for c in columns:
        t.add_column(
            c,
            justify="right"
            if c not in ("model", "head", "method", "perturbation", "class", "file", "metric", "checkpoint")
            else "left",
        )
    for r in rows:
        t.add_row(*[f"{v:.3f}" if isinstance(v, float) else ("—" if v is None else str(v)) for v in r])
    console.print(t)


#: shorter console headers for the long metric ids (metrics.json/csv/md keep the ids)
_SHORT = {
    "confidence_pred": "conf_pred",
    "average_drop": "avg_drop",
    "increase_in_confidence": "incr_conf",
    "deletion_auc": "del_auc",
    "insertion_auc": "ins_auc",
    "pointing_game": "pointing",
    "energy_pointing_game": "energy_pg",
    "stability_pearson": "stab_r",
    "stability_ssim": "stab_ssim",
    "max_sensitivity": "max_sens",
    "avg_sensitivity": "avg_sens",
}
#: the row keys shown once in the title when every row has the same one
_SHARED = ("model", "head", "perturbation", "level")


def metrics_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """The metric pivot (:func:`camx.results.summary_rows`) readable at 200 columns: a row key every row
    shares (model, head, perturbation, level) goes into the title, long metric ids get short headers
    (a key line under the table names them), and no cell is cut: long names fold onto a second line."""
    cols = list(columns)
    shared = [c for c in _SHARED if c in cols and rows and len({str(r[cols.index(c)]) for r in rows}) == 1]
    keep = [i for i, c in enumerate(cols) if c not in shared]
    said = " · ".join(f"{c} {rows[0][cols.index(c)]}" for c in shared)
    t = Table(title=f"{title}: {said}" if said else title, title_justify="left")
    for i in keep:
        left = cols[i] in ("model", "head", "method", "perturbation")
        t.add_column(_SHORT.get(cols[i], cols[i]), justify="left" if left else "right", overflow="fold")
    for r in rows:
        t.add_row(
            *[
                f"{r[i]:.3f}" if isinstance(r[i], float) else ("—" if r[i] is None else str(r[i]))
                for i in keep
            ]
        )
    console.print(t)
    short = [f"{_SHORT[cols[i]]} = {cols[i]}" for i in keep if cols[i] in _SHORT]
    if short:
        console.print(f"[dim]{' · '.join(short)}[/]")
