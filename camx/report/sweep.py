"""``camx report DIR``: one table, the figures and report.html from every eval run of a sweep.

A partial sweep — jobs that failed or are still running — is reported with what is there, and the
missing jobs are listed (expected jobs come from the sweep's ``multirun.yaml``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camx import figures
from camx.errors import DataError, plural
from camx.report.figures import mask_ratio_figure, noise_figures
from camx.results import read_metrics, run_of, write_metrics


@dataclass
class ReportResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _overrides(job_dir: Path) -> list[str]:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    return [str(o) for o in OmegaConf.load(path)]


def _figure_config(job_dirs: list[Path]) -> dict[str, Any]:
    """The ``figure`` block of the first job whose ``.hydra/config.yaml`` has one (``{}``: defaults)."""
    from omegaconf import OmegaConf

    for job in job_dirs:
        try:
            cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
            if isinstance(cfg, Mapping) and isinstance(cfg.get("figure"), Mapping):
                return {"figure": OmegaConf.to_container(cfg.figure, resolve=True)}
        except Exception:  # noqa: BLE001 - an unreadable job config only loses its figure settings
            continue
    return {}


def expected_jobs(sweep_dir: Path) -> int | None:
    """How many jobs the sweep launches, from ``multirun.yaml`` (None when unknown)."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    task = list(OmegaConf.load(path).hydra.overrides.task)
    try:
        parsed = OverridesParser.create().parse_overrides(task)
    except Exception:  # noqa: BLE001 - an unparsable record only loses the "missing" count
        return None
    sizes = [len(list(o.sweep_string_iterator())) if o.is_sweep_override() else 1 for o in parsed]
    return int(list(itertools.accumulate(sizes, lambda a, b: a * b))[-1]) if sizes else 1


def build_report(sweep_dir: Path, out: Path | None = None) -> ReportResult:
    """Aggregate every ``metrics.json`` below ``sweep_dir`` into ``out`` (default ``sweep_dir/report``)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise DataError(f"{sweep_dir}: no such folder; pass a multirun dir such as outputs/multirun/<date>")
    out = out or sweep_dir / "report"
    result = ReportResult()
    job_dirs = sorted({p.parent.parent for p in sweep_dir.rglob(".hydra/config.yaml")} - {out})
    found = 0
    for job in job_dirs:
        metrics = job / "metrics.json"
        if not metrics.is_file():
            result.missing.append(f"{job}: no metrics.json (failed, still running, or not an eval job)")
            continue
        try:
            records = read_metrics(metrics)
        except (OSError, ValueError, KeyError) as exc:
            result.missing.append(f"{job}: unreadable metrics.json ({type(exc).__name__})")
            continue
        found += 1
        tag = " ".join(o for o in _overrides(job) if not o.startswith(("hydra.", "outputs_dir")))
        for r in records:
            r = dict(r)
            if len(job_dirs) > 1 and tag:
                r["run"] = f"{run_of(r)} [{tag}]"
            r["job"] = job.name
            ratio = re.search(r"model\.mask_ratio=([0-9.]+)", tag)
            if r.get("mask_ratio") is None:  # version-1 records: the ratio only shows in the overrides
                r["mask_ratio"] = float(ratio.group(1)) if ratio else None
            result.records.append(r)
    expected = expected_jobs(sweep_dir)
    if expected is not None and expected > len(job_dirs):
        missing = expected - len(job_dirs)
        result.missing.append(
            f"{missing} of {plural(expected, 'job')} {'has' if missing == 1 else 'have'} not started (no run dir)"
        )
    if not result.records:
        raise DataError(
            f"{sweep_dir}: no metrics.json found below it; `camx report` aggregates `camx eval` runs "
            "(e.g. camx eval -m model.arch=resnet50,vgg16)"
        )
    out.mkdir(parents=True, exist_ok=True)
    result.written += write_metrics(
        out, result.records, {"sweep_dir": str(sweep_dir), "jobs": found, "missing": result.missing}
    )
    with figures.settings(_figure_config(job_dirs)):  # the jobs' figure.dpi / figure.format
        result.written += noise_figures(result.records, out)
        result.written += mask_ratio_figure(result.records, out)
    result.written.append(_page(sweep_dir, out, result, [j / "gallery" for j in job_dirs]))
    return result


def _page(sweep_dir: Path, out: Path, result: ReportResult, gallery_dirs: list[Path]) -> Path:
    """The sweep's ``report.html``: every job's records and maps on one page."""
    from camx.report.gallery import galleries
    from camx.report.pages import REPORT, run_page
    from camx.runtime import machine_summary

    return run_page(
        out / REPORT,
        title=f"camx report — {sweep_dir.name}",
        records=result.records,
        figures=result.written,
        tiles=galleries(d for d in gallery_dirs if d.is_dir()),
        command=f"camx report {sweep_dir}",
        machine=machine_summary(),
        notes=[f"missing: {m}" for m in result.missing],
    )
