"""``camx report DIR``: one table, the figures and report.html from every eval run of a sweep.

A partial sweep — jobs that failed or are still running — is reported with what is there, and the
missing jobs are listed (expected jobs come from the sweep's ``multirun.yaml``).
"""

from __future__ import annotations

import errno
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camx import figures
from camx.errors import ConfigError, DataError, StorageError, plural, storage_error
from camx.paths import check_output_root, check_writable
from camx.report.figures import mask_ratio_figure, noise_figures, paper_setting
from camx.report.sweep_labels import job_labels, job_overrides
from camx.results import read_metrics, run_of, write_metrics

__all__ = ["ReportResult", "build_report", "expected_jobs", "job_labels"]


@dataclass
class ReportResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    #: the jobs' unreadable images, one entry per path: ``{path, reason, jobs}``
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _job_config(job_dirs: list[Path]) -> dict[str, Any]:
    """What the report's figures take from the jobs' ``.hydra/config.yaml``: the first job's ``figure``
    block (none: the defaults) and ``dataset``, the jobs' dataset name when they all share one."""
    from omegaconf import OmegaConf

    out: dict[str, Any] = {}
    names = set()
    for job in job_dirs:
        try:
            cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
            names.add(str(OmegaConf.select(cfg, "dataset.name")))
            if "figure" not in out and isinstance(cfg.get("figure"), Mapping):
                out["figure"] = OmegaConf.to_container(cfg.figure, resolve=True)
        except Exception:  # noqa: BLE001 - an unreadable job config only loses its figure settings
            names.add("")
    out["dataset"] = names.pop() if len(names) == 1 else None
    return out


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
    _check_out(out)
    result = ReportResult()
    job_dirs = sorted({p.parent.parent for p in sweep_dir.rglob(".hydra/config.yaml")} - {out})
    per_job = _read_jobs(job_dirs, result)
    result.records += _labelled(per_job)
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
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # /proc/x: the parent exists, but the file system makes no folder there
        raise _for_out(storage_error(exc, out, "cannot create the report folder")) from None
    result.skipped = _skipped_images(list(per_job))
    result.written += write_metrics(
        out,
        result.records,
        {"sweep_dir": str(sweep_dir), "jobs": len(per_job), "missing": result.missing},
        result.skipped,
    )
    jobs_cfg = _job_config(list(per_job))
    with figures.settings(jobs_cfg):  # the jobs' figure.dpi / figure.format
        paper = paper_setting(result.records, jobs_cfg.get("dataset"))
        result.written += noise_figures(result.records, out, paper)
        result.written += mask_ratio_figure(result.records, out)
    result.written.append(_page(sweep_dir, out, result, [j / "gallery" for j in job_dirs]))
    return result


def _check_out(out: Path) -> None:
    """Refuse ``--out`` before any work, as explain/eval refuse their ``outputs_dir``: the file-system
    root (exit 2), a file on the way (exit 2), a folder that cannot be written (exit 3)."""
    try:
        check_output_root(out, "--out")
    except ConfigError:
        raise ConfigError(
            f"--out {out} is the file-system root (or no usable path): the report would write metrics.json, "
            "metrics.csv, metrics.md, figures and report.html there; pass a folder below the root, "
            "or leave --out out for SWEEP_DIR/report"
        ) from None
    try:
        check_writable(out, "--out")
    except StorageError as exc:
        raise _for_out(exc) from None


def _for_out(exc: StorageError) -> StorageError:
    """A storage error's hint for ``--out`` rather than ``outputs_dir=``; ENOENT from mkdir below an
    existing folder (``/proc/x``) said as such."""
    text = str(exc).replace("set outputs_dir= to", "set --out to")
    if exc.errno == errno.ENOENT:
        text = text.replace("; check the disk and the folder's permissions", "")
        text += "; the file system there allows no new folders: set --out to a writable folder"
    return StorageError(text, exc.path, exc.errno)


def _read_jobs(job_dirs: list[Path], result: ReportResult) -> dict[Path, list[dict[str, Any]]]:
    """Each job's records; a job without a readable ``metrics.json`` goes into ``result.missing``."""
    per_job: dict[Path, list[dict[str, Any]]] = {}
    for job in job_dirs:
        metrics = job / "metrics.json"
        if not metrics.is_file():
            result.missing.append(f"{job}: no metrics.json (failed, still running, or not an eval job)")
            continue
        try:
            per_job[job] = read_metrics(metrics)
        except (OSError, ValueError, KeyError) as exc:
            result.missing.append(f"{job}: unreadable metrics.json ({type(exc).__name__})")
    return per_job


def _skipped_images(job_dirs: list[Path]) -> list[dict[str, Any]]:
    """The ``skipped_images`` of every job's ``metrics.json``, one entry per image path with the jobs
    that left it out (the jobs of a sweep usually read the same folder)."""
    import json

    by_path: dict[str, dict[str, Any]] = {}
    for job in job_dirs:
        try:
            entries = json.loads((job / "metrics.json").read_text()).get("skipped_images") or []
        except (OSError, ValueError, AttributeError):
            continue
        for entry in entries:
            path = str(entry.get("path"))
            item = by_path.setdefault(path, {"path": path, "reason": entry.get("reason"), "jobs": []})
            item["jobs"].append(job.name)
    return list(by_path.values())


def _labelled(per_job: Mapping[Path, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every job's records, each ``run`` named by :func:`job_labels` (after the checkpoint's name when
    the jobs evaluated several) and tagged with its ``job`` folder."""
    labels = job_labels({job: job_overrides(job) for job in per_job})
    if len(set(labels.values())) < len(labels):  # jobs alike in every shown override: add their folders
        labels = {
            job: " · ".join(x for x in (label, f"job {job.name}") if x) for job, label in labels.items()
        }
    single_run = len({run_of(r) for records in per_job.values() for r in records}) == 1
    out = []
    for job, records in per_job.items():
        ratio = re.search(r"model\.mask_ratio=([0-9.]+)", " ".join(job_overrides(job)))
        for r in records:
            r = dict(r)
            if len(per_job) > 1 and labels[job]:
                r["run"] = labels[job] if single_run else f"{run_of(r)} · {labels[job]}"
            r["job"] = job.name
            if r.get("mask_ratio") is None:  # version-1 records: the ratio only shows in the overrides
                r["mask_ratio"] = float(ratio.group(1)) if ratio else None
            out.append(r)
    return out


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
        notes=[f"missing: {m}" for m in result.missing] + _skipped_note(result.skipped),
    )


def _skipped_note(skipped: list[dict[str, Any]]) -> list[str]:
    """report.html's line on the unreadable images the jobs left out (none: no line)."""
    from camx.report.eval_page import listed_skipped

    if not skipped:
        return []
    jobs = sorted({j for s in skipped for j in s["jobs"]}, key=lambda j: (len(j), j))
    listed = listed_skipped({s["path"]: str(s["reason"]) for s in skipped})
    return [f"{len(skipped)} unreadable image(s) left out (jobs {', '.join(jobs)}): {listed}"]
