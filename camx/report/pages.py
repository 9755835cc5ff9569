"""The report pages camx writes: one per ``camx eval`` run, one per sweep, one per study."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camx.report import html
from camx.report.gallery import Tile, read_gallery
from camx.report.tables import ci_table

REPORT = "report.html"


def command_of(run_dir: Path, task: str) -> str:
    """``camx eval k=v …`` from the overrides Hydra saved in ``run_dir/.hydra`` (the API call otherwise)."""
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return f"camx.{task}(…) from Python (no .hydra/overrides.yaml in the run dir)"
    from omegaconf import OmegaConf

    overrides = [str(o) for o in OmegaConf.load(path) if not str(o).startswith("hydra.")]
    return " ".join(["camx", task, *overrides])


def _results(records: Sequence[Mapping[str, Any]]) -> str:
    cols, rows = ci_table(records)
    note = (
        "<p>Mean ± half-width of the 95% CI over images, or mean [low, high] where the interval is not "
        "centred (Wilson intervals of proportions, intervals at a metric's bound); click a column to sort.</p>"
    )
    return note + html.table(cols, rows)


def run_page(
    out: Path,
    *,
    title: str,
    records: Sequence[Mapping[str, Any]],
    figures: Sequence[Path],
    tiles: Sequence[tuple[Tile, Path]],
    command: str,
    machine: str,
    config: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """An eval run's or a sweep's page: results, figures, gallery, then how it was made."""
    sections = [
        ("Results", "".join(f"<p>{html.esc(n)}</p>" for n in notes) + _results(records)),
        ("Figures", html.figures(figures)),
        ("Maps", html.gallery(tiles)),
        ("Run", html.meta(command, machine, html.config_yaml(config))),
    ]
    return html.write(out, title, sections)


def _inline_markdown_images(body: str, base: Path) -> str:
    def inline(match: re.Match[str]) -> str:
        path = base / match.group(1)
        mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
        return f'src="{html.data_uri(path.read_bytes(), mime)}"' if path.is_file() else match.group(0)

    return re.sub(r'src="([^":]+\.(?:png|svg))"', inline, body)


def markdown_page(markdown_file: Path, out: Path, galleries: Sequence[Path], machine: str) -> Path:
    """A study's page: its markdown (tables made sortable, figures inlined) and its runs' maps."""
    import markdown

    text = Path(markdown_file).read_text(encoding="utf-8")
    body = markdown.markdown(text, extensions=["tables"])
    body = body.replace("<table>", '<div class="scroll"><table class="sortable">').replace(
        "</table>", "</table></div>"
    )
    body = _inline_markdown_images(body, Path(markdown_file).parent)
    tiles: list[tuple[Tile, Path]] = []
    for folder in galleries:
        tiles += read_gallery(folder, f"{folder.parent.parent.name}/{folder.parent.name}/")
    sections = [
        ("Study", body),
        ("Maps", html.gallery(tiles[:240])),
        ("Run", html.meta(f"camx report … --results {markdown_file}", machine, None)),
    ]
    return html.write(out, f"camx study report — {Path(markdown_file).name}", sections)


def study_page(study_dirs: Sequence[Path], markdown_file: Path, out: Path | None = None) -> Path:
    """``report.html`` of studies (default: in the study dirs' common parent) from their markdown."""
    import os

    from camx.runtime import machine_summary

    dirs = [Path(d).resolve() for d in study_dirs]
    out = out or Path(os.path.commonpath(dirs)) / REPORT
    folders = sorted({p.parent for d in dirs for p in d.rglob("gallery/index.json")})
    return markdown_page(markdown_file, out, folders, machine_summary())
