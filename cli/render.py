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
