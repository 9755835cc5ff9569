"""Paper-style figures (matplotlib, no display needed), written atomically.

Heatmaps use the jet colormap blended at 50% over the image, as in the Grad-CAM papers'
figures; curves show means with their 95% confidence bands. Every figure goes through :func:`save`
(:mod:`camx.figure_style`), which writes the resolution and file format of the job's ``figure``
config block (``configs/_common.yaml``, set with :func:`settings`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from camx.figure_style import FigureStyle, preview, save, settings, style_of  # noqa: E402

__all__ = ["FigureStyle", "bars", "curves", "explain_panel", "grid", "panels", "preview", "save", "settings"]
__all__ += ["style_of", "wrap"]

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


def wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters: at its own line breaks, then before a
    parenthesis, then at spaces or hyphens (inside a word only when it is longer than a line)."""
    width = max(4, width)
    lines = []
    for part in str(text).split("\n"):
        if len(part) > width and " (" in part:
            head, _, rest = part.partition(" (")
            lines += [*textwrap.wrap(head, width), *textwrap.wrap("(" + rest, width)]
        else:
            lines += textwrap.wrap(part, width) or [part]
    return "\n".join(lines)


def _aspect(image: Any) -> float:
    """Height / width of a (3, H, W) or (H, W, 3) image (1 without one)."""
    if image is None:
        return 1.0
    shape = tuple(image.shape)
    h, w = (shape[1], shape[2]) if len(shape) == 3 and shape[0] == 3 else shape[:2]
    return float(h) / float(w) if w else 1.0


def _off(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def colorbar(fig: Figure, axes: Any, font_scale: float = 1.0) -> None:
    """One colour bar for every heatmap of ``fig``: maps are normalised to [0, 1] per image. Its label
    stays on two short lines, so it never reaches above the bar into the title."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    sm = ScalarMappable(norm=Normalize(0, 1), cmap=_CMAP)
    bar = fig.colorbar(sm, ax=np.ravel(axes).tolist(), fraction=0.025, pad=0.01, aspect=30, shrink=0.9)
    bar.set_label("relevance\n(per-image normalised)", fontsize=8 * font_scale)
    bar.ax.tick_params(labelsize=8 * font_scale)
    bar.set_ticks([0, 0.5, 1])


def _title(fig: Figure, title: str, font_scale: float = 1.0) -> None:
    """The figure's title, wrapped to its width (≈ 9 characters per inch at 12 pt)."""
    fig.suptitle(wrap(title, int(fig.get_size_inches()[0] * 9 / font_scale)), fontsize=12 * font_scale)


def explain_panel(image: Any, rows: Sequence[tuple[str, Any]], title: str) -> Figure:
    """The image once (first row, spanning both columns), then heatmap | overlay per (method, map),
    titled with the class and probability. Rows are as tall as the image's aspect needs."""
    n = max(1, len(rows))
    side = 2.4  # inches per column
    row_h = side * min(2.0, _aspect(image)) + 0.1
    fig = plt.figure(figsize=(2 * side + 1.3, row_h * (n + 1) + 0.8), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.02, w_pad=0.02, hspace=0.01, wspace=0.01)
    spec = fig.add_gridspec(n + 1, 2)
    top = fig.add_subplot(spec[0, :])
    top.imshow(to_numpy_image(image))
    top.set_ylabel("image", fontsize=10)
    _off(top)
    axes = np.array([[fig.add_subplot(spec[i + 1, j]) for j in range(2)] for i in range(len(rows))])
    for i, (method, cam) in enumerate(rows):
        axes[i, 0].imshow(heat(cam))
        axes[i, 1].imshow(overlay(image, cam))
        axes[i, 0].set_ylabel(wrap(method, int(row_h * 8)), fontsize=10)
        for ax in axes[i]:
            _off(ax)
    if len(rows):
        axes[0, 0].set_title("heatmap")
        axes[0, 1].set_title("overlay")
        colorbar(fig, axes)
    _title(fig, title)
    return fig


def grid(
    image: Any | None,
    cells: Mapping[str, Mapping[str, tuple[Any, str]]],
    title: str,
    row_label: str = "",
    images: Mapping[str, Any] | None = None,
    font_scale: float = 1.0,
) -> Figure:
    """Rows × columns of overlays: ``cells[row][col] = (map, caption)``.

    ``image`` is shared by every cell unless ``images[col]`` gives each column its own (e.g. a
    perturbed copy). The first column shows the image itself when ``image`` is given. Row labels,
    column titles and captions are wrapped to their cell, so none runs into another; ``font_scale``
    enlarges every label (and wraps it shorter) for a figure saved at a fraction of the style's dpi.
    """
    rows, fs = list(cells), float(font_scale)
    cols = list(dict.fromkeys(c for r in rows for c in cells[r]))
    lead = 1 if image is not None else 0
    first = image if image is not None else next(iter((images or {}).values()), None)
    side, captioned = 2.2, any(cap for r in rows for cam_cap in cells[r].values() for cap in cam_cap[1:])
    row_h = side * min(2.0, _aspect(first)) + (0.55 if captioned else 0.1)
    fig, axes = plt.subplots(
        len(rows),
        len(cols) + lead,
        figsize=(side * (len(cols) + lead) + 1.0, row_h * len(rows) + 0.9),
        squeeze=False,
        layout="constrained",
    )
    for i, r in enumerate(rows):
        for j, c in enumerate(["image"] * lead + cols):
            ax = axes[i, j]
            if j < lead:
                ax.imshow(to_numpy_image(image))
            elif c in cells[r] and (base := images[c] if images and c in images else image) is not None:
                cam, caption = cells[r][c]
                ax.imshow(overlay(base, cam))
                ax.set_xlabel(wrap(str(caption).replace(" · ", "\n"), int(side * 11 / fs)), fontsize=8 * fs)
            else:
                ax.axis("off")
            if i == 0:
                ax.set_title(wrap(c, int(side * 10 / fs)), fontsize=10 * fs)
            if j == 0:
                ax.set_ylabel(wrap(f"{row_label}{r}", int(row_h * 9 / fs)), fontsize=9 * fs)
            _off(ax)
    colorbar(fig, axes, fs)
    _title(fig, title, fs)
    return fig


def _legend(fig: Figure, ax: Any) -> None:
    """The axes' legend: inside when it is short (≤ 3 entries of ≤ 28 characters), else outside on the
    right (the figure widens to hold it), every label wrapped to 40 characters."""
    handles, labels = ax.get_legend_handles_labels()
    if not labels:
        return
    labels = [wrap(label, 40) for label in labels]
    longest = max(len(line) for label in labels for line in label.split("\n"))
    if len(labels) <= 3 and longest <= 28:
        ax.legend(handles, labels, fontsize=8)
        return
    w, h = fig.get_size_inches()
    fig.set_size_inches(w + longest * 0.065 + 0.6, max(h, 0.2 * sum(1 + lb.count("\n") for lb in labels)))
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)


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
    fig, ax = plt.subplots(figsize=(4.8, 3.4), layout="constrained")
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
    ax.set_title(wrap(title, 55))
    ax.grid(alpha=0.3)
    _legend(fig, ax)
    return fig


def bars(
    groups: Mapping[str, Mapping[str, tuple[float, float | None, float | None]]], *, ylabel: str, title: str
) -> Figure:
    """Grouped bars with CI whiskers: ``groups[metric][method] = (mean, lo, hi)``, one panel per metric."""
    metrics = list(groups)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4.5 * len(metrics), 3.6), squeeze=False, layout="constrained"
    )
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
        ax.set_xticklabels([wrap(n, 24) for n in names], rotation=45, ha="right", fontsize=8)
        ax.set_title(metric)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    _title(fig, title)
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
        nrows,
        ncols,
        figsize=(2.3 * ncols, 1.9 * nrows + 0.6),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
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
        seen = {lb: h for ax in axes.flat for h, lb in zip(*ax.get_legend_handles_labels())}
        fig.legend(list(seen.values()), [wrap(lb, 40) for lb in seen], loc="outside right upper", fontsize=8)
    _title(fig, title)
    return fig
