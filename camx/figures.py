"""Paper-style figures (matplotlib, no display needed), written atomically.

Heatmaps use the jet colormap blended at 50% over the image, as in the Grad-CAM papers'
figures; curves show means with their 95% confidence bands. Every figure goes through :func:`save`,
which writes the resolution and file format of the current :class:`FigureStyle` (a job's ``figure``
config block, ``configs/_common.yaml``, set with :func:`settings`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from camx.atomic import atomic_write_bytes  # noqa: E402
from camx.options.figure import FORMATS  # noqa: E402

_CMAP = plt.get_cmap("jet")
# sizes chosen so a 4.8-inch curve figure pasted at a 3.5-inch column keeps ~8 pt text
plt.rcParams.update({"font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "legend.fontsize": 9})


def to_numpy_image(image: Any) -> np.ndarray:
    """(3, H, W) tensor/array in [0, 1] → (H, W, 3) float array."""
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    return np.clip(arr.transpose(1, 2, 0) if arr.shape[0] == 3 else arr, 0, 1)


def heat(cam: Any) -> np.ndarray:
    """(H, W) map in [0, 1] → (H, W, 3) jet colours."""
    arr = cam.detach().cpu().numpy() if hasattr(cam, "detach") else np.asarray(cam)
    return _CMAP(np.clip(arr, 0, 1))[..., :3]


def overlay(image: Any, cam: Any, alpha: float = 0.5) -> np.ndarray:
    """Blend the jet heatmap of ``cam`` over ``image``: (1 − α)·image + α·jet(cam)."""
    return np.clip((1 - alpha) * to_numpy_image(image) + alpha * heat(cam), 0, 1)


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


def _off(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def colorbar(fig: Figure, axes: Any) -> None:
    """One colour bar for every heatmap of ``fig``: maps are normalised to [0, 1] per image."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    sm = ScalarMappable(norm=Normalize(0, 1), cmap=_CMAP)
    bar = fig.colorbar(sm, ax=np.ravel(axes).tolist(), fraction=0.025, pad=0.01, aspect=30)
    bar.set_label("relevance (per-image normalised)")
    bar.set_ticks([0, 0.5, 1])


def explain_panel(image: Any, rows: Sequence[tuple[str, Any]], title: str) -> Figure:
    """Image | heatmap | overlay, one row per (method, map), titled with the class and probability."""
    n = max(1, len(rows))
    fig, axes = plt.subplots(n, 3, figsize=(8.0, 2.6 * n), squeeze=False, layout="constrained")
    for i, (method, cam) in enumerate(rows):
        axes[i, 0].imshow(to_numpy_image(image))
        axes[i, 1].imshow(heat(cam))
        axes[i, 2].imshow(overlay(image, cam))
        axes[i, 0].set_ylabel(method, fontsize=11)
        for ax in axes[i]:
            _off(ax)
    axes[0, 0].set_title("image")
    axes[0, 1].set_title("heatmap")
    axes[0, 2].set_title("overlay")
    colorbar(fig, axes)
    fig.suptitle(title, fontsize=12)
    return fig


def grid(
    image: Any | None,
    cells: Mapping[str, Mapping[str, tuple[Any, str]]],
    title: str,
    row_label: str = "",
    images: Mapping[str, Any] | None = None,
) -> Figure:
    """Rows × columns of overlays: ``cells[row][col] = (map, caption)``.

    ``image`` is shared by every cell unless ``images[col]`` gives each column its own (e.g. a
    perturbed copy). The first column shows the image itself when ``image`` is given.
    """
    rows = list(cells)
    cols = list(dict.fromkeys(c for r in rows for c in cells[r]))
    lead = 1 if image is not None else 0
    fig, axes = plt.subplots(
        len(rows),
        len(cols) + lead,
        figsize=(2.2 * (len(cols) + lead) + 0.8, 2.4 * len(rows)),
        squeeze=False,
        layout="constrained",
    )
    for i, r in enumerate(rows):
        if lead:
            axes[i, 0].imshow(to_numpy_image(image))
            _off(axes[i, 0])
            axes[i, 0].set_ylabel(f"{row_label}{r}", fontsize=10)
            if i == 0:
                axes[i, 0].set_title("image", fontsize=10)
        for j, c in enumerate(cols):
            ax = axes[i, j + lead]
            base = images[c] if images and c in images else image
            if c in cells[r] and base is not None:
                cam, caption = cells[r][c]
                ax.imshow(overlay(base, cam))
                ax.set_xlabel(caption, fontsize=9)
            else:
                ax.axis("off")
            if i == 0:
                ax.set_title(c, fontsize=10)
            if j == 0 and not lead:
                ax.set_ylabel(f"{row_label}{r}", fontsize=10)
            _off(ax)
    colorbar(fig, axes)
    fig.suptitle(title, fontsize=12)
    return fig


def curves(
    series: Mapping[str, Sequence[tuple[float, float, float | None, float | None]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    paper: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    marks: Mapping[str, float] | None = None,
    hline: tuple[float, str] | None = None,
    log_from: float | None = None,
) -> Figure:
    """Mean curves with 95% CI bands: ``series[name] = [(x, mean, lo, hi), ...]``; optional paper points
    (large crosses in the line's colour), ``marks`` (label → x: dashed vertical lines, e.g. v*), a
    dotted reference ``hline`` (y, label) and ``log_from``: a symmetric-log x axis, linear below it (a
    log grid with a clean point at 0)."""
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    if log_from:
        ax.set_xscale("symlog", linthresh=log_from)
    for name, pts in series.items():
        pts = sorted(pts)
        x = [p[0] for p in pts]
        y = [p[1] for p in pts]
        line = ax.plot(x, y, marker="o", ms=3, label=name)[0]
        lo = [p[2] if p[2] is not None else p[1] for p in pts]
        hi = [p[3] if p[3] is not None else p[1] for p in pts]
        ax.fill_between(x, lo, hi, alpha=0.15, color=line.get_color())
        if paper and name in paper:
            px, py = zip(*paper[name])
            ax.scatter(
                px,
                py,
                marker="X",
                s=70,
                color=line.get_color(),
                edgecolors="black",
                linewidths=0.6,
                zorder=5,
                label=f"{name} (paper)",
            )
    for label, x in (marks or {}).items():
        ax.axvline(x, color="0.25", ls="--", lw=1)
        ax.annotate(
            label,
            (x, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=9,
        )
    if hline is not None:
        ax.axhline(hline[0], color="0.5", ls=":", lw=1, label=hline[1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def bars(
    groups: Mapping[str, Mapping[str, tuple[float, float | None, float | None]]], *, ylabel: str, title: str
) -> Figure:
    """Grouped bars with CI whiskers: ``groups[metric][method] = (mean, lo, hi)``, one panel per metric."""
    metrics = list(groups)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        names = list(groups[metric])
        means = [groups[metric][n][0] for n in names]
        err = [
            [
                m - (groups[metric][n][1] if groups[metric][n][1] is not None else m)
                for n, m in zip(names, means)
            ],
            [
                (groups[metric][n][2] if groups[metric][n][2] is not None else m) - m
                for n, m in zip(names, means)
            ],
        ]
        ax.bar(
            range(len(names)),
            means,
            yerr=err,
            capsize=3,
            color=plt.get_cmap("tab10")(np.arange(len(names)) % 10),
        )
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax.set_title(metric)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def panels(
    grid: Mapping[str, Mapping[str, Sequence[tuple[float, float, float | None, float | None]]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    ncols: int = 5,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Small multiples: ``grid[panel][series] = [(x, mean, lo, hi), ...]``, one panel each (shared axes),
    every series in the same colour in every panel, one legend when there are several series."""
    names = list(grid)
    series = list(dict.fromkeys(s for panel in grid.values() for s in panel))
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(series)}
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.3 * ncols, 1.9 * nrows + 0.6), sharex=True, sharey=True, squeeze=False
    )
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        for s, pts in grid[name].items():
            pts = sorted(pts)
            x, y = [p[0] for p in pts], [p[1] for p in pts]
            lo = [p[2] if p[2] is not None else p[1] for p in pts]
            hi = [p[3] if p[3] is not None else p[1] for p in pts]
            ax.plot(x, y, marker="o", ms=3, color=colours[s], label=s)
            ax.fill_between(x, lo, hi, alpha=0.15, color=colours[s])
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        if ylim:
            ax.set_ylim(*ylim)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=9)
    if len(series) > 1:
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
