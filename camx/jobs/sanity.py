"""``camx sanity``: the model-parameter randomisation test (Adebayo et al., NeurIPS 2018) of every
method on a few images, written as tables (sanity.md, sanity.json) and the paper's figures.

The test itself is :mod:`camx.metrics.sanity`; this module runs it for a job's model and images and
writes what it found: per mode, the maps of the first image (rows: methods; columns: the trained model,
then each randomisation step) and the similarity-vs-depth curves with their 95% CIs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camx import figures
from camx.atomic import atomic_write_text
from camx.metrics.sanity import FAIL_AT, SIMILARITIES, SanityResult, cascade_score, passes, sanity_check

_NAMES = {"spearman_abs": "Spearman |map|", "spearman": "Spearman (signed)", "ssim": "SSIM"}


@dataclass
class SanityReport:
    results: dict[str, SanityResult] = field(default_factory=dict)  #: mode → result
    verdicts: dict[str, bool] = field(default_factory=dict)  #: method → passes the cascading test
    written: list[Path] = field(default_factory=list)


def run_sanity(
    model: nn.Module,
    images: torch.Tensor,
    methods: Sequence[str],
    modes: Sequence[str],
    *,
    out_dir: Path | None = None,
    original: torch.Tensor | None = None,
    title: str = "",
    **kw: Any,
) -> SanityReport:
    """:func:`camx.metrics.sanity.sanity_check` of ``methods`` in every mode of ``modes``; with
    ``out_dir``, the tables and figures are written there (``original``: the first image in [0, 1],
    for the map overlays). ``kw`` go to :func:`~camx.metrics.sanity.sanity_check`."""
    report = SanityReport()
    for mode in modes:
        report.results[mode] = sanity_check(model, images, methods, mode=mode, **kw)
    if "cascading" in report.results:
        report.verdicts = {m: passes(report.results["cascading"], m) for m in methods}
    if out_dir is not None:
        report.written = write(report, Path(out_dir), original, title)
    return report


def records(report: SanityReport) -> list[dict[str, Any]]:
    """One row per (mode, method, step, similarity): mean, 95% CI and n over images."""
    rows = []
    for mode, res in report.results.items():
        for method in res.maps:
            for k, label in enumerate(res.labels):
                for sim in SIMILARITIES:
                    s = res.summary(method, k, sim)
                    rows.append(
                        {"mode": mode, "method": method, "step": k + 1, "block": label, "similarity": sim,
                         "value": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n}
                    )  # fmt: skip
    return rows


def markdown(report: SanityReport) -> str:
    """The verdicts, then per mode one table per similarity (rows: methods; columns: steps)."""
    lines = []
    if "cascading" in report.results:
        res = report.results["cascading"]
        lines += [
            f"**Verdict** (cascading; fails when the mean Spearman |map| over the cascade is ≥ {FAIL_AT})",
            "",
            "| method | mean Spearman |map| over the cascade (95% CI) | mean SSIM | verdict |",
            "|---|---|---:|---|",
        ]
        for m, ok in report.verdicts.items():
            s, t = cascade_score(res, m), cascade_score(res, m, "ssim")
            lines.append(
                f"| {m} | {s.mean:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}] | {t.mean:.3f} | {'passes' if ok else '**fails**'} |"
            )
        lines.append("")
    for mode, res in report.results.items():
        for sim in ("spearman_abs", "ssim"):
            lines += [
                f"**{mode}, {_NAMES[sim]}** with the trained model's maps (mean ± 95% CI half-width over images; "
                "columns: the block randomised "
                + ("last, from the logits down" if mode == "cascading" else "alone")
                + ")",
                "",
                "| method | " + " | ".join(res.labels) + " |",
                "|---|" + "---:|" * len(res.labels),
            ]
            for m in res.maps:
                cells = [res.summary(m, k, sim) for k in range(len(res.labels))]
                lines.append(
                    f"| {m} | " + " | ".join(f"{c.mean:.2f} ± {c.half_width:.2f}" for c in cells) + " |"
                )
            lines.append("")
    if report.results:
        lines.append(
            "Spearman on signed maps equals Spearman |map| for every method here (CAMs are non-negative); "
            "it is in sanity.json."
        )
    return "\n".join(lines) + "\n"


def _figures(report: SanityReport, out_dir: Path, original: torch.Tensor | None, title: str) -> list[Path]:
    written = []
    for mode, res in report.results.items():
        if original is not None:
            cells = {
                m: {col: (res.maps[m][k, 0], "") for k, col in enumerate(["trained", *res.labels])}
                for m in res.maps
            }
            fig = figures.grid(original, cells, f"{title}: {mode} randomisation (image 1)".strip(": "))
            written.append(figures.save(fig, out_dir / f"sanity_{mode}_maps.png", dpi=60))
    rows = records(report)
    for mode in report.results:
        for sim in ("spearman_abs", "ssim"):
            fig = similarity_figure(rows, mode, sim)
            written.append(figures.save(fig, out_dir / f"sanity_{mode}_{sim}.png"))
    return written


def similarity_figure(rows: Sequence[Mapping[str, Any]], mode: str, similarity: str) -> Any:
    """Similarity with the trained maps against the randomisation step, one line per method (mean and
    95% CI band over images), from :func:`records` rows (or sanity.json's)."""
    import matplotlib.pyplot as plt

    mine = [r for r in rows if r["mode"] == mode and r["similarity"] == similarity]
    methods = list(dict.fromkeys(r["method"] for r in mine))
    labels = [
        r["block"]
        for r in sorted({(r["step"], r["block"]): r for r in mine}.values(), key=lambda r: r["step"])
    ]
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    cmap = plt.get_cmap("tab20")
    for i, m in enumerate(methods):
        pts = sorted((r["step"], r["value"], r["ci_low"], r["ci_high"]) for r in mine if r["method"] == m)
        x = [p[0] for p in pts]
        style = "--" if m in ("random", "center") else "-"
        ax.plot(x, [p[1] for p in pts], style, marker="o", ms=3, color=cmap(i % 20), label=m)
        ax.fill_between(x, [p[2] for p in pts], [p[3] for p in pts], color=cmap(i % 20), alpha=0.07)
    ax.axhline(FAIL_AT, color="0.4", ls=":", lw=1)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=60, ha="right", fontsize=8)
    what = "blocks randomised, from the logits down" if mode == "cascading" else "the one block randomised"
    ax.set_xlabel(what)
    ax.set_ylabel(f"{_NAMES[similarity]}\nwith the trained maps")
    ax.set_title(f"{mode} randomisation (mean, 95% CI over images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def write(report: SanityReport, out_dir: Path, original: torch.Tensor | None, title: str) -> list[Path]:
    """sanity.md, sanity.json and the PNG figures into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "sanity.md", out_dir / "sanity.json"
    atomic_write_text(md, markdown(report))
    atomic_write_text(js, json.dumps({"verdicts": report.verdicts, "records": records(report)}, indent=1))
    return [md, js, *_figures(report, out_dir, original, title)]


def sanity_images(cfg: Mapping[str, Any], run_dir: str | Path) -> SanityReport:
    """The job of ``camx sanity``: the test of ``methods`` + ``baselines`` on the readable ``inputs``
    with the job's model (the first checkpoint, or the pretrained classifier), written into ``run_dir``."""
    from camx.config import methods_of
    from camx.data.images import load_images
    from camx.data.inputs import require_images
    from camx.data.transforms import normalize
    from camx.errors import DataError
    from camx.jobs.explain import resolve_target
    from camx.jobs.models import load_for_job
    from camx.models.target_layer import check_target_layer
    from camx.options.cam import method_options
    from camx.runs import resolve_checkpoints
    from camx.runtime import select_device

    files, _ = require_images(list(cfg.get("inputs") or []))
    device = select_device(cfg["trainer"].get("device", "auto"))
    path = next(iter(resolve_checkpoints(cfg, all_heads=False).values()))
    model, meta = load_for_job(path, device)
    layer = check_target_layer(
        model, cfg["model"].get("target_layer"), f"{path} ({meta['arch']}/{meta['head']})"
    )
    classes = list(meta.get("class_names") or [str(i) for i in range(int(meta["num_classes"]))])
    target = resolve_target(cfg.get("target"), classes)
    size = int(cfg.get("image_size") or meta.get("image_size") or cfg["dataset"]["image_size"])
    _, images, _ = load_images(files, size, max_pixels=int(cfg.get("max_pixels", 64_000_000)))
    if images is None:
        raise DataError("no readable image among the inputs")
    methods = list(dict.fromkeys([*methods_of(cfg), *(cfg.get("baselines") or [])]))
    x = normalize(images.to(device), model)
    return run_sanity(
        model,
        x,
        methods,
        list(cfg["modes"]),
        out_dir=Path(run_dir),
        original=images[0].cpu(),
        title=f"{meta['arch']}",
        blocks=list(cfg["blocks"]) if cfg.get("blocks") else None,
        targets=None if target is None else torch.full((len(x),), target, dtype=torch.long),
        seed=int(cfg.get("seed", 0)),
        target_layer=layer,
        reshape=cfg["model"].get("reshape"),
        chunk_size=(cfg.get("cam") or {}).get("chunk_size", "auto"),
        options={m: method_options(cfg, m) for m in methods},
    )
