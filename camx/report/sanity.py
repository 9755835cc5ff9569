"""The report of ``camx sanity`` (Adebayo et al., NeurIPS 2018, model-parameter randomisation): records →
markdown tables (:func:`camx.report.markdown.table`) → ``sanity.md``, ``sanity.json``, the figures and a
self-contained ``report.html`` (:mod:`camx.report.html`).

The test itself is :mod:`camx.metrics.sanity`, run by :mod:`camx.jobs.sanity`; this module only reads
its results: ``records`` (one row per mode, method, step and similarity: mean, 95% CI, n over images)
and ``scores`` (per method, the cascading verdict: mean Spearman |map| and SSIM over the cascade).
Both are what ``sanity.json`` holds, so a study report (:mod:`camx.report.study`) renders the same
verdict table from a finished run's file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camx import figures
from camx.atomic import atomic_write_text
from camx.metrics.sanity import FAIL_AT, SIMILARITIES, SanityResult, cascade_score, passes
from camx.report import groups as G
from camx.report import html
from camx.report import markdown as md

NAMES = {"spearman_abs": "Spearman |map|", "spearman": "Spearman (signed)", "ssim": "SSIM"}
Row = Mapping[str, Any]


def records(results: Mapping[str, SanityResult]) -> list[dict[str, Any]]:
    """One row per (mode, method, step, similarity): mean, 95% CI and n over images."""
    rows = []
    for mode, res in results.items():
        for method in res.maps:
            for k, label in enumerate(res.labels):
                for sim in SIMILARITIES:
                    s = res.summary(method, k, sim)
                    rows.append(
                        {"mode": mode, "method": method, "step": k + 1, "block": label, "similarity": sim,
                         "value": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n}
                    )  # fmt: skip
    return rows


def scores(result: SanityResult) -> list[dict[str, Any]]:
    """Per method of a cascading ``result``: its mean Spearman |map| over the cascade (95% CI over
    images), its mean SSIM and whether it passes (:func:`camx.metrics.sanity.passes`)."""
    out = []
    for m in result.maps:
        s, t = cascade_score(result, m), cascade_score(result, m, "ssim")
        out.append(
            {"method": m, "spearman_abs": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high,
             "ssim": t.mean, "passes": passes(result, m)}
        )  # fmt: skip
    return out


def verdict_lines(rows: Sequence[Row]) -> list[str]:
    """The cascading verdict table of :func:`scores` rows (or ``sanity.json``'s ``scores``)."""
    header = ["method", "mean Spearman |map| over the cascade (95% CI)", "mean SSIM", "verdict"]
    body = [
        [
            r["method"],
            f"{r['spearman_abs']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
            f"{r['ssim']:.3f}",
            "passes" if r["passes"] else "**fails**",
        ]
        for r in rows
    ]
    return [
        f"**Verdict** (cascading; fails when the mean Spearman |map| over the cascade is ≥ {FAIL_AT})",
        "",
        *md.table(header, body, align="llrl"),
    ]


def _step_table(rows: Sequence[Row], mode: str, sim: str) -> tuple[list[str], list[list[str]]]:
    """(columns, rows) of one mode and similarity: a row per method, a column per step."""
    mine = [r for r in rows if r["mode"] == mode and r["similarity"] == sim]
    labels = [b for _, b in sorted({(r["step"], r["block"]) for r in mine})]
    cells: dict[str, dict[int, Row]] = {}
    for r in mine:
        cells.setdefault(r["method"], {})[r["step"]] = r
    body = [[m, *[_pm(by_step.get(k + 1)) for k in range(len(labels))]] for m, by_step in cells.items()]
    return ["method", *labels], body


def _pm(r: Row | None) -> str:
    if r is None:
        return "—"
    half = (r["ci_high"] - r["ci_low"]) / 2
    return f"{r['value']:.2f} ± {half:.2f}"


def markdown(rows: Sequence[Row], verdicts: Sequence[Row]) -> str:
    """sanity.md: the verdicts, then per mode one table per similarity (rows: methods; columns: steps)."""
    lines = [*verdict_lines(verdicts), ""] if verdicts else []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        for sim in ("spearman_abs", "ssim"):
            cols, body = _step_table(rows, mode, sim)
            where = "last, from the logits down" if mode == "cascading" else "alone"
            lines += [
                f"**{mode}, {NAMES[sim]}** with the trained model's maps (mean ± 95% CI half-width over "
                f"images; columns: the block randomised {where})",
                "",
                *md.table(cols, body, right=True),
                "",
            ]
    if rows:
        lines.append(
            "Spearman on signed maps equals Spearman |map| for every method here (CAMs are non-negative); "
            "it is in sanity.json."
        )
    return "\n".join(lines) + "\n"


def similarity_figure(rows: Sequence[Row], mode: str, similarity: str) -> Any:
    """Similarity with the trained maps against the randomisation step, one line per method (mean and
    95% CI band over images), from :func:`records` rows (or sanity.json's)."""
    import matplotlib.pyplot as plt

    mine = [r for r in rows if r["mode"] == mode and r["similarity"] == similarity]
    methods = list(dict.fromkeys(r["method"] for r in mine))
    labels = [b for _, b in sorted({(r["step"], r["block"]) for r in mine})]
    fig, ax = plt.subplots(figsize=(7.2, 3.8), layout="constrained")
    cmap = plt.get_cmap("tab20")
    for i, m in enumerate(methods):
        pts = sorted((r["step"], r["value"], r["ci_low"], r["ci_high"]) for r in mine if r["method"] == m)
        x = [p[0] for p in pts]
        style = "--" if m in G.BASELINES else "-"
        ax.plot(x, [p[1] for p in pts], style, marker="o", ms=3, color=cmap(i % 20), label=m)
        ax.fill_between(x, [p[2] for p in pts], [p[3] for p in pts], color=cmap(i % 20), alpha=0.07)
    ax.axhline(FAIL_AT, color="0.4", ls=":", lw=1)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=60, ha="right", fontsize=8)
    what = "blocks randomised, from the logits down" if mode == "cascading" else "the one block randomised"
    ax.set_xlabel(what)
    ax.set_ylabel(f"{NAMES[similarity]}\nwith the trained maps")
    ax.set_title(f"{mode} randomisation (mean, 95% CI over images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


_MAPS_SCALE = 0.4  # the maps grid is wide (one column per block): saved at 0.4 × the style's dpi …
_MAPS_FONT = 2.0  # … with labels twice the usual size, so they read like 8 pt at full resolution


def draw(
    results: Mapping[str, SanityResult], rows: Sequence[Row], out_dir: Path, original: Any, title: str
) -> list[Path]:
    """Per mode: the maps of the first image (rows: methods; columns: trained, then each step; only
    with ``original``, that image in [0, 1]) and the similarity-vs-step curves."""
    written = []
    for mode, res in results.items():
        if original is not None:
            cells = {
                m: {col: (res.maps[m][k, 0], "") for k, col in enumerate(["trained", *res.labels])}
                for m in res.maps
            }
            name = f"{title}: {mode} randomisation (image 1)".strip(": ")
            fig = figures.grid(original, cells, name, font_scale=_MAPS_FONT)  # readable at the small dpi
            written.append(figures.save(fig, out_dir / f"sanity_{mode}_maps.png", scale=_MAPS_SCALE))
    for mode in results:
        for sim in ("spearman_abs", "ssim"):
            fig = similarity_figure(rows, mode, sim)
            written.append(figures.save(fig, out_dir / f"sanity_{mode}_{sim}.png"))
    return written


def page(out: Path, text: str, pngs: Sequence[Path], command: str, machine: str, config: Any) -> Path:
    """``report.html``: sanity.md's tables (sortable), the figures inlined, how the run was made."""
    import markdown as markdown_lib

    body = markdown_lib.markdown(text, extensions=["tables"])
    body = body.replace("<table>", '<div class="scroll"><table class="sortable">')
    body = body.replace("</table>", "</table></div>")
    sections = [
        ("Results", body),
        ("Figures", html.figures(pngs)),
        ("Run", html.meta(command, machine, html.config_yaml(config))),
    ]
    return html.write(out, "camx sanity — model-parameter randomisation", sections)


def write(
    results: Mapping[str, SanityResult],
    out_dir: Path,
    original: Any = None,
    title: str = "",
    config: Mapping[str, Any] | None = None,
) -> list[Path]:
    """sanity.md, sanity.json, the PNG figures and report.html into ``out_dir``."""
    from camx.report.pages import command_of
    from camx.runtime import machine_summary

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = records(results)
    verdicts = scores(results["cascading"]) if "cascading" in results else []
    text = markdown(rows, verdicts)
    md_path, js = out_dir / "sanity.md", out_dir / "sanity.json"
    atomic_write_text(md_path, text)
    doc = {"verdicts": {v["method"]: v["passes"] for v in verdicts}, "scores": verdicts, "records": rows}
    atomic_write_text(js, json.dumps(doc, indent=1))
    with figures.settings(config):  # figure.dpi / figure.format
        pngs = draw(results, rows, out_dir, original, title)
    page_path = page(
        out_dir / "report.html", text, pngs, command_of(out_dir, "sanity"), machine_summary(), config
    )
    return [md_path, js, *pngs, page_path]


def read(path: Path) -> dict[str, Any]:
    """A finished run's ``sanity.json``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def study_lines(runs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A study's sanity section: per method (rows) and run (columns, e.g. the heads), the mean
    Spearman |map| over the cascade and the verdict, from each run's ``sanity.json`` (``runs``: name →
    its contents)."""
    if not runs:
        return []
    names = list(runs)
    methods = list(dict.fromkeys(s["method"] for doc in runs.values() for s in doc.get("scores", [])))
    by_run = {n: {s["method"]: s for s in doc.get("scores", [])} for n, doc in runs.items()}

    def cell(s: Row | None) -> str:
        if s is None:
            return "—"
        return f"{s['spearman_abs']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}] " + (
            "passes" if s["passes"] else "**fails**"
        )

    n_images = {r["n"] for doc in runs.values() for r in doc.get("records", [])}
    return [
        "### Sanity check: model-parameter randomisation (Adebayo et al., NeurIPS 2018)",
        "",
        f"Mean Spearman |map| with the trained model's maps over the cascade (95% CI over "
        f"{'/'.join(str(n) for n in sorted(n_images))} test images), from the logits down; a method fails "
        f"when it stays ≥ {FAIL_AT} (`camx sanity`, see docs/CLI.md). Columns: the stage's runs.",
        "",
        *md.table(["method", *names], [[m, *[cell(by_run[n].get(m)) for n in names]] for m in methods]),
        "",
    ]


def study_runs(study_dir: Path) -> dict[str, dict[str, Any]]:
    """Every ``sanity.json`` below ``study_dir``, keyed by its run folder's name (e.g. the head)."""
    return {p.parent.name: read(p) for p in sorted(Path(study_dir).rglob("sanity.json"))}
