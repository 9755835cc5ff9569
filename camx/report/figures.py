"""The figures of the reports: ``camx eval``'s Sensors 2023 Figs. 2–8 and Table 1 of IEEE Access 2024, from
records and kept examples (drawn with :mod:`camx.figures`), which ``camx report`` also draws for a sweep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camx import figures
from camx.metrics.severity import PAPER_PLAIN_CONFIDENCE, crossing
from camx.options.model import HEADS
from camx.options.perturb import CORRUPTIONS
from camx.report.tables import level_text
from camx.results import run_of

# Sensors 2023 §3.1, Fig. 3: true-class confidence of ResNet50 under noise (the only numbers the paper gives)
PAPER_CONFIDENCE = {
    "plain": [(0.5, 0.807), (0.6, 0.481)],
    "dropout": [(0.5, 0.983), (0.6, 0.766)],
    "dropkey": [(0.5, 0.998), (0.6, 0.878)],
}


def caption(probs: Any, true: int, class_names: Sequence[str]) -> str:
    """ "pred square 0.31 · true circle": the predicted class, its probability, and the true class."""

    def name(i: int) -> str:
        return class_names[i] if i < len(class_names) else str(i)

    pred = int(probs.argmax())
    return f"pred {name(pred)} {float(probs[pred]):.2f} · true {name(true)}"


def _value(records: Sequence[Mapping[str, Any]], **where: Any) -> Mapping[str, Any] | None:
    for r in records:
        if all(r.get(k) == v for k, v in where.items()):
            return r
    return None


def noise_curves(
    records: Sequence[Mapping[str, Any]], metric: str
) -> dict[str, list[tuple[float, float, Any, Any]]]:
    """``metric`` against noise variance (clean = 0) per head."""
    series: dict[str, list[tuple[float, float, Any, Any]]] = {}
    for r in records:
        if r["metric"] == metric and r["method"] is None and r["perturbation"] in ("none", "noise"):
            level = 0.0 if r["perturbation"] == "none" else float(r["level"])
            series.setdefault(run_of(r), []).append((level, r["value"], r["ci_low"], r["ci_high"]))
    return series


def plain_vstar(records: Sequence[Mapping[str, Any]]) -> float | None:
    """v*: where the plain head's mean confidence (over its runs) crosses the paper's plain 0.481."""
    levels: dict[float, list[float]] = {}
    for r in records:
        plain = r.get("head") == "plain" and r["metric"] == "confidence" and r["method"] is None
        if plain and r["perturbation"] in ("none", "noise") and r["value"] is not None:
            level = 0.0 if r["perturbation"] == "none" else float(r["level"])
            levels.setdefault(level, []).append(float(r["value"]))
    return crossing([(v, sum(ys) / len(ys)) for v, ys in levels.items()], PAPER_PLAIN_CONFIDENCE)


def log_axis(series: Mapping[str, Sequence[tuple[float, Any, Any, Any]]]) -> float | None:
    """The smallest noisy level when the grid spans over 1.5 decades (a log grid: symlog axis), else None."""
    levels = sorted({p[0] for pts in series.values() for p in pts if p[0] > 0})
    return levels[0] if levels and levels[-1] / levels[0] > 10**1.5 else None


def paper_setting(records: Sequence[Mapping[str, Any]], dataset: str | None) -> bool:
    """Whether the Sensors 2023 reference (Fig. 3's points and plain's 0.481) applies: camx's own
    heads trained on the shapes dataset, at least one of them a head the paper reports."""
    heads = {r.get("head") for r in records}
    return dataset == "shapes" and bool(heads & set(PAPER_CONFIDENCE)) and heads <= set(HEADS)


def noise_figures(records: Sequence[Mapping[str, Any]], out_dir: Path, paper: bool = False) -> list[Path]:
    """Fig. 3: confidence and accuracy against noise variance, per head. With ``paper`` (see
    :func:`paper_setting`), the paper's points, its plain 0.481 and v* (where plain crosses it) too;
    another model or dataset is not compared with numbers the paper measured on its own."""
    noise = noise_curves(records, "confidence")
    if not any(len(v) > 1 for v in noise.values()):
        return []
    vstar = plain_vstar(records) if paper else None
    marks = {f"v* = {vstar:.3g}": vstar} if vstar is not None else {}
    log_from = log_axis(noise)
    conf = figures.curves(
        noise,
        xlabel="noise variance",
        ylabel="mean true-class confidence",
        title="Confidence under Gaussian noise (cf. Sensors 2023 Fig. 3)",
        paper=PAPER_CONFIDENCE if paper else None,
        marks=marks,
        hline=(PAPER_PLAIN_CONFIDENCE, "Sensors 2023 plain, v = 0.6: 0.481") if paper else None,
        log_from=log_from,
    )
    acc = figures.curves(
        noise_curves(records, "accuracy"),
        xlabel="noise variance",
        ylabel="accuracy",
        title="Accuracy under Gaussian noise",
        marks=marks,
        log_from=log_from,
    )
    return [
        figures.save(conf, out_dir / "fig3_confidence_vs_noise.png"),
        figures.save(acc, out_dir / "fig3b_accuracy_vs_noise.png"),
    ]


def mask_ratio_figure(records: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """Fig. 8: accuracy, confidence and pointing game against the DropKey ``mask_ratio`` of each record."""
    series: dict[str, list[tuple[float, float, Any, Any]]] = {}
    for r in records:
        if (
            r.get("head") != "dropkey"
            or r.get("mask_ratio") is None
            or r["metric"] not in ("accuracy", "confidence", "pointing_game")
        ):
            continue
        cond = "clean" if r["perturbation"] == "none" else f"{r['perturbation']} {level_text(r)}"
        name = f"{r['metric']} ({cond})" + (f" {r['method']}" if r.get("method") else "")
        series.setdefault(name, []).append((float(r["mask_ratio"]), r["value"], r["ci_low"], r["ci_high"]))
    if not any(len({x for x, *_ in v}) > 1 for v in series.values()):
        return []
    fig = figures.curves(
        series,
        xlabel="DropKey mask ratio",
        ylabel="value",
        title="Mask-ratio sweep (cf. Sensors 2023 Fig. 8)",
    )
    return [figures.save(fig, out_dir / "fig8_mask_ratio.png")]


def corruption_curves(
    records: Sequence[Mapping[str, Any]], metric: str, method: str | None, clean_value: float | None = None
) -> dict[str, dict[str, list[tuple[float, float, Any, Any]]]]:
    """``metric`` against ImageNet-C severity (clean = 0): {corruption: {run: [(severity, mean, lo, hi)]}},
    the corruptions in ImageNet-C's order, only those measured. The clean point is the run's record
    under ``none``, else ``clean_value`` when given (stability is 1 by definition on clean images)."""
    rows = [r for r in records if r["metric"] == metric and r["method"] == method]
    clean = {run_of(r): r for r in rows if r["perturbation"] == "none"}
    out: dict[str, dict[str, list[tuple[float, float, Any, Any]]]] = {}
    for r in sorted(
        rows, key=lambda r: CORRUPTIONS.index(r["perturbation"]) if r["perturbation"] in CORRUPTIONS else -1
    ):
        if r["perturbation"] not in CORRUPTIONS:
            continue
        run = run_of(r)
        series = out.setdefault(r["perturbation"], {})
        if run not in series and run in clean:
            c = clean[run]
            series[run] = [(0.0, c["value"], c["ci_low"], c["ci_high"])]
        elif run not in series and clean_value is not None:
            series[run] = [(0.0, clean_value, clean_value, clean_value)]
        series.setdefault(run, []).append((float(r["level"]), r["value"], r["ci_low"], r["ci_high"]))
    return out


def corruption_figures(records: Sequence[Mapping[str, Any]], out_dir: Path, method: str | None) -> list[Path]:
    """Accuracy, and the first method's map stability (Pearson r to the clean map), against ImageNet-C
    severity: one panel per corruption, one curve per evaluated checkpoint."""
    out = []
    plots = [("accuracy", None, "accuracy", "Accuracy under ImageNet-C corruptions", None)]
    if method:
        title = f"Map stability under ImageNet-C corruptions — {method} (Pearson r to the clean map)"
        plots.append(("stability_pearson", method, "Pearson r", title, 1.0))
    for metric, m, ylabel, title, clean_value in plots:
        grid = corruption_curves(records, metric, m, clean_value)
        if not grid:
            continue
        fig = figures.panels(
            grid, xlabel="severity (0 = clean)", ylabel=ylabel, title=title, ncols=min(5, len(grid))
        )
        name = "accuracy" if metric == "accuracy" else "stability"
        out.append(figures.save(fig, out_dir / f"corruptions_{name}.png"))
    return out


#: the heatmap grids of ``camx eval``: (perturbations, file, title)
HEATMAP_FIGURES = (
    (("noise",), "fig2_noise_heatmaps.png", "Heatmaps under Gaussian noise (cf. Sensors 2023 Fig. 2)"),
    (("rotation", "stretch"), "fig4_rotation_stretch.png", "Rotated and stretched (cf. Sensors 2023 Fig. 4)"),
    (("contrast",), "fig6_low_contrast.png", "Low contrast (cf. Sensors 2023 Fig. 6)"),
    (("small",), "fig7_small_objects.png", "Small objects (cf. Sensors 2023 Fig. 7)"),
)
Examples = Mapping[
    tuple[str, str, str, Any], Sequence[Any]
]  #: (head, method, perturbation, level) → kept batch


def draw_all(
    result: Any,
    run_dir: Path,
    models: Mapping[str, Any],
    methods: Sequence[str],
    class_names: Sequence[str],
    dataset: str | None = None,
) -> list[Path]:
    """Every figure the records and kept examples allow; a figure without data is skipped. ``dataset``:
    the evaluated dataset's name (the paper's references are drawn only on its setting)."""
    records = result.records
    heads = list(models)
    paper = paper_setting(records, dataset)
    out = [*noise_figures(records, run_dir, paper), *mask_ratio_figure(records, run_dir)]
    out += corruption_figures(records, run_dir, methods[0] if methods else None)
    if not methods:
        return out
    for kinds, name, title in HEATMAP_FIGURES:
        fig = heatmap_grid(result.examples, heads, methods[0], kinds, title, class_names)
        if fig is not None:
            out.append(figures.save(fig, run_dir / name))
    fig = methods_grid(result.examples, heads, methods, class_names)
    if fig is not None:
        out.append(figures.save(fig, run_dir / "fig5_methods_noise.png"))
    fig = faithfulness_bars(records, heads)
    if fig is not None:
        out.append(figures.save(fig, run_dir / "table1_faithfulness.png"))
    return out


def heatmap_grid(
    ex: Examples,
    heads: Sequence[str],
    method: str,
    kinds: Sequence[str],
    title: str,
    class_names: Sequence[str],
) -> Any:
    """Heads × (clean, each level of ``kinds``): ``method``'s map of the first kept image (None: no data)."""
    levels = list(dict.fromkeys((c, lvl) for (_, m, c, lvl) in ex if m == method and c in kinds))
    if not levels:
        return None
    cells: dict[str, dict[str, tuple[Any, str]]] = {}
    images = {}
    for head in heads:
        row = {}
        for c, lvl in [("none", 0.0), *levels]:
            item = ex.get((head, method, c, lvl))
            if item is None:
                continue
            x, maps, probs, labels = item[:4]
            col = "clean" if c == "none" else f"{c} {lvl:g}" if isinstance(lvl, float) else f"{c} {lvl}"
            row[col] = (maps[0], caption(probs[0], int(labels[0]), class_names))
            images[col] = x[0]
        cells[head] = row
    return figures.grid(None, cells, f"{title} — {method}", images=images)


def methods_grid(
    ex: Examples, heads: Sequence[str], methods: Sequence[str], class_names: Sequence[str]
) -> Any:
    """Fig. 5: methods × heads at noise variance 1.5 (or the nearest level); None without noise or with one method."""
    noise_levels = sorted({float(lvl) for (_, _, c, lvl) in ex if c == "noise"})
    if not noise_levels or len(methods) < 2:
        return None
    level = min(noise_levels, key=lambda v: abs(v - 1.5))
    cells: dict[str, dict[str, tuple[Any, str]]] = {}
    image = None
    for m in methods:
        cells[m] = {}
        for head in heads:
            item = ex.get((head, m, "noise", level))
            if item is not None:
                x, maps, probs, labels = item[:4]
                image = x[0]
                cells[m][head] = (maps[0], caption(probs[0], int(labels[0]), class_names))
    return figures.grid(image, cells, f"Methods under noise variance {level:g} (cf. Sensors 2023 Fig. 5)")


def faithfulness_bars(records: Sequence[Mapping[str, Any]], heads: Sequence[str]) -> Any:
    """Table 1 as bars: Average Drop and Increase in Confidence per method on clean images (None without AD)."""
    groups: dict[str, dict[str, tuple[float, Any, Any]]] = {"average_drop": {}, "increase_in_confidence": {}}
    for r in records:
        if r["metric"] in groups and r["perturbation"] == "none" and r["method"]:
            name = f"{r['method']}" if len(heads) == 1 else f"{run_of(r)}/{r['method']}"
            groups[r["metric"]][name] = (r["value"], r["ci_low"], r["ci_high"])
    if not groups["average_drop"]:
        return None
    return figures.bars(
        groups,
        ylabel="%",
        title="Average Drop, lower is better, and Increase in Confidence (cf. IEEE Access 2024 Table 1)",
    )
