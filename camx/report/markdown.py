"""The one markdown writer: a table (header, rows) as GitHub-flavoured markdown lines.

Every markdown table camx writes — ``metrics.md``, ``docs/RESULTS.md``, the demo's ``summary.md``
and ``docs/PERFORMANCE.md`` — goes through :func:`table`, so they escape and align alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from camx.report.tables import Cell


def text(value: Any, digits: int = 3) -> str:
    """A cell as markdown text: :class:`Cell` as :meth:`Cell.text` says, ``None`` as ``—``, ``|`` escaped."""
    if isinstance(value, Cell):
        value = value.text(digits)
    elif value is None:
        value = "—"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(
    header: Sequence[Any], rows: Iterable[Sequence[Any]], *, right: bool = False, align: str = ""
) -> list[str]:
    """The lines of a markdown table. ``right`` right-aligns every column but the first; ``align``
    gives each column's alignment instead, ``l`` or ``r`` per column (``"lrrl"``)."""
    align = align or ("l" + "r" * (len(header) - 1) if right else "l" * len(header))
    if len(align) != len(header):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(header)} columns")
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    lines = ["| " + " | ".join(text(c) for c in header) + " |", rule]
    return lines + ["| " + " | ".join(text(c) for c in row) + " |" for row in rows]
