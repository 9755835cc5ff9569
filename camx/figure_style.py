"""How figures are written: the ``figure`` config block (``configs/_common.yaml``) → dpi and format.

A job sets its block with :func:`settings` around the code that draws; :func:`save` reads it. PNG is
the default; with ``figure.format=pdf`` a PNG preview is kept in memory so a report page written by
the same process can still show the figure (:func:`preview`; report.html shows PNG and SVG inline).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from camx.atomic import atomic_write_bytes  # noqa: E402
from camx.options.figure import FORMATS  # noqa: E402


@dataclass(frozen=True)
class FigureStyle:
    """How figures are written: ``dpi`` (pixels per inch of PNGs and of images inside PDF/SVG) and
    ``format`` (one of :data:`FORMATS`). The defaults are the library's, for callers without a config."""

    dpi: int = 150
    format: str = "png"


_DEFAULT_STYLE = FigureStyle()
_STYLE: ContextVar[FigureStyle] = ContextVar("camx_figure_style", default=_DEFAULT_STYLE)
_PREVIEWS: dict[str, bytes] = {}  #: PDF path → a PNG of the same figure, for report.html (this process)


def style_of(config: Mapping[str, Any] | None) -> FigureStyle:
    """The :class:`FigureStyle` of a composed config's ``figure`` block (library defaults without one)."""
    block = (config or {}).get("figure") or {}
    base = FigureStyle()
    return FigureStyle(int(block.get("dpi", base.dpi)), str(block.get("format", base.format)))


@contextlib.contextmanager
def settings(config: Mapping[str, Any] | FigureStyle | None) -> Iterator[FigureStyle]:
    """Within the block, :func:`save` writes figures as ``config``'s ``figure`` block says."""
    style = config if isinstance(config, FigureStyle) else style_of(config)
    if style.format not in FORMATS:
        raise ValueError(f"figure format {style.format!r} is not one of {', '.join(FORMATS)}")
    token = _STYLE.set(style)
    try:
        yield style
    finally:
        _STYLE.reset(token)


def save(fig: Figure, path: str | Path, scale: float = 1.0) -> Path:
    """Write ``fig`` in the current style's format and resolution (``scale`` × its dpi) through a temp
    file (never half-written) and close it; returns the path written: ``path`` with the format's suffix.
    A PDF also leaves a PNG preview for :func:`preview` (report pages inline PNG, not PDF)."""
    style = _STYLE.get()
    dpi = max(10, round(style.dpi * scale))
    out = Path(path).with_suffix("." + style.format)
    buf = io.BytesIO()
    fig.savefig(buf, format=style.format, dpi=dpi, bbox_inches="tight")
    if style.format == "pdf":
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=min(dpi, 150), bbox_inches="tight")
        _PREVIEWS[str(out.resolve())] = png.getvalue()
        while len(_PREVIEWS) > 256:  # a long-lived caller keeps the newest previews only
            _PREVIEWS.pop(next(iter(_PREVIEWS)))
    plt.close(fig)
    atomic_write_bytes(out, lambda fh: fh.write(buf.getvalue()))
    return out


def preview(path: str | Path) -> tuple[str, bytes] | None:
    """(MIME type, bytes) of figure ``path`` to show in a web page: a PNG or SVG file itself, a PDF's
    PNG preview written by :func:`save` in this process; None when there is none."""
    p = Path(path)
    if p.suffix == ".png":
        return "image/png", p.read_bytes()
    if p.suffix == ".svg":
        return "image/svg+xml", p.read_bytes()
    png = _PREVIEWS.get(str(p.resolve())) if p.suffix == ".pdf" else None
    return ("image/png", png) if png is not None else None
