"""The ``report.html`` of one ``camx eval`` run: results, figures, the map gallery, command, config, machine."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from camx.jobs.evaluate import EvalResult


def write_report(
    result: EvalResult, run_dir: Path, config: Mapping[str, Any], class_names: list[str], gallery: bool
) -> list[Path]:
    """``report.html`` (results, figures, the map gallery, command, config, machine) and its tiles."""
    from camx.report.figures import caption
    from camx.report.gallery import read_gallery, write_gallery
    from camx.report.pages import REPORT, command_of, run_page
    from camx.runtime import machine_summary

    folder = run_dir / "gallery"
    if gallery:
        labelled = lambda probs, label: caption(probs, label, class_names)  # noqa: E731
        write_gallery(result.examples, folder, labelled, names=result.names)
    page = run_page(
        run_dir / REPORT,
        title=f"camx eval — {run_dir.name}",
        records=result.records,
        figures=result.written,  # html.figures keeps the figure files
        tiles=read_gallery(folder) if gallery else [],
        command=command_of(run_dir, "eval"),
        machine=machine_summary(),
        config=config,
        notes=[f"{len(result.skipped)} unreadable image(s) left out: {listed_skipped(result.skipped)}"]
        if result.skipped
        else [],
    )
    return [page]


def listed_skipped(skipped: Mapping[str, str], most: int = 5) -> str:
    """The first ``most`` skipped images with their reasons, and how many more."""
    shown = [f"{Path(p).name} ({why})" for p, why in list(skipped.items())[:most]]
    more = len(skipped) - len(shown)
    return "; ".join(shown) + (f"; and {more} more (metrics.json lists all)" if more else "")
