"""Metric records: the long-format rows every evaluation produces, their files, tables and CI gates.

One record per figure::

    {"model": "resnet50", "head": "dropkey", "run": "dropkey", "seed": 0, "mask_ratio": 0.1,
     "checkpoint": "outputs/…/best.pt", "method": "gradcam" | null,
     "perturbation": "noise" | "none", "level": 0.6, "metric": "confidence",
     "value": 0.87, "ci_low": 0.84, "ci_high": 0.90, "n": 200}

``head`` is the model's head (plain, attention, dropout, dropkey); ``run`` names the evaluated checkpoint
(the head itself for the latest checkpoint of each head, the run folder's name for explicit or swept
checkpoints), ``seed`` its training seed and ``mask_ratio`` its Dropout/DropKey ratio (null for plain and
attention). Tables and figures have one row or line per ``run``.

``method`` is null for metrics that involve no map (accuracy, confidence, confidence_pred);
clean images have perturbation ``"none"`` and level 0. With ``compose=true`` a chained condition's
``perturbation`` names the chain (``"noise+stretch"``), ``level`` is its first step's level and ``levels``
each step's (``[0.01, 30.0]``); ``levels`` is null for every other record.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from camx.atomic import atomic_write_text
from camx.errors import ConfigError
from camx.options.metrics import LOCALISATION, METRICS, PREDICTION
from camx.options.metrics import LOWER_IS_BETTER as METRIC_LOWER_IS_BETTER
from camx.report import markdown as md
from camx.report.tables import ci_table, level_text, value_rows

FIELDS = (
    "model",
    "head",
    "run",
    "seed",
    "mask_ratio",
    "checkpoint",
    "method",
    "perturbation",
    "level",
    "levels",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
)
SCHEMA = "camx-metrics-3"  # 2 added run, seed, mask_ratio; 3 levels (compose=true); older files still read
LOWER_IS_BETTER = set(METRIC_LOWER_IS_BETTER) | {"seconds_per_image"}


def flatten_gates(gates: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"dropkey": {"confidence": 0.8}}`` → ``{"dropkey.confidence": 0.8}``; a threshold that is no finite
    number is a ConfigError naming the gate."""
    flat: dict[str, float] = {}
    for key, value in gates.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_gates(value, name + "."))
        else:
            flat[name] = _threshold(name, value)
    return flat


def _threshold(name: str, value: Any) -> float:
    """A gate's threshold as a float; a ConfigError naming the gate for anything but a finite number."""
    try:
        number = float(value) if not isinstance(value, (bool, str)) else float(str(value).strip() or "x")
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        shown = str(value).lower() if isinstance(value, bool) else value
        raise ConfigError(f"--fail-under {name}={shown}: the threshold must be a number, e.g. {name}=0.8")
    return number


def _matches(record: Mapping[str, Any], qualifiers: Sequence[str]) -> bool:
    fields = {str(record.get(k)) for k in ("model", "head", "run", "method", "perturbation")}
    fields.add(f"{record.get('perturbation')}={level_text(record)}")
    return all(q in fields for q in qualifiers)


def run_of(record: Mapping[str, Any]) -> str:
    """The evaluated checkpoint's name: ``run`` (``head`` in version-1 files)."""
    return str(record.get("run") or record["head"])


def check_gates(records: Sequence[Mapping[str, Any]], gates: Mapping[str, Any]) -> list[str]:
    """Every record that falls short of its threshold, one line each (empty list: all hold).

    ``METRIC=V`` checks every record of that metric; ``QUALIFIER.METRIC=V`` only those whose model,
    head, method or perturbation (or ``perturbation=level``) equals each qualifier. For lower-is-better
    metrics (average_drop, deletion_auc) the threshold is an upper bound. A gate that matches no record fails.
    """
    failures = []
    for key, threshold in flatten_gates(gates).items():
        *qualifiers, metric = key.split(".")
        matched = [r for r in records if r["metric"] == metric and _matches(r, qualifiers)]
        if not matched:
            failures.append(f"{key}: no result matches: {_why_no_match(records, metric, qualifiers)}")
            continue
        lower = metric in LOWER_IS_BETTER
        for r in matched:
            v = r["value"]
            bad = v is None or (v > threshold if lower else v < threshold)
            if bad:
                where = " ".join(
                    str(x)
                    for x in (
                        r["model"],
                        run_of(r),
                        r.get("method") or "",
                        r["perturbation"],
                        level_text(r),
                    )
                    if x != ""
                )
                op = ">" if lower else "<"
                failures.append(f"{key}: {where}: {v if v is None else f'{v:.4f}'} {op} {threshold:g}")
    return failures


def _why_no_match(records: Sequence[Mapping[str, Any]], metric: str, qualifiers: Sequence[str]) -> str:
    """What the run has instead: the metrics it scored, or the qualifiers that name none of its results."""
    scored = {str(r["metric"]) for r in records}
    if metric not in scored:
        why = " (they need ground-truth masks with an object)" if metric in LOCALISATION else ""
        listed = [m for m in METRICS if m in scored] + sorted(scored - set(METRICS))
        return f"this run scored no {metric}{why}; it scored {', '.join(listed) or 'nothing'}"
    of_metric = [r for r in records if r["metric"] == metric]
    unknown = [q for q in qualifiers if not any(_matches(r, [q]) for r in of_metric)]
    if not unknown:
        return f"no single {metric} result has all of {', '.join(qualifiers)}"

    def values(*keys: str) -> str:
        return ", ".join(sorted({str(r.get(k)) for r in of_metric for k in keys if r.get(k) is not None}))

    levels = sorted({f"{r['perturbation']}={level_text(r)}" for r in of_metric})
    methods = f"methods {values('method') or 'none'}"
    if metric in PREDICTION:  # scored per model and condition: these records have method null by design
        scored = sorted({str(r["method"]) for r in records if r.get("method")})
        methods = f"no method ({metric} records are per model, method null; the run's CAM methods: {', '.join(scored) or 'none'})"
    return (
        f"no {metric} result has {', '.join(unknown)}; this run has models {values('model')}, "
        f"heads/runs {values('head', 'run')}, {methods}, perturbations {', '.join(levels)}"
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_metrics(
    run_dir: Path,
    records: Sequence[Mapping[str, Any]],
    config: Any,
    skipped: Mapping[str, str] | Sequence[Mapping[str, Any]] | None = None,
) -> list[Path]:
    """Write ``metrics.json`` (schema, config, records, and ``skipped_images``: the input images left out as
    unreadable, each with its reason; given as path → reason, or as entries such as a sweep report's
    ``{path, reason, jobs}``), ``metrics.csv`` and ``metrics.md`` atomically."""
    run_dir = Path(run_dir)
    clean = [{k: _json_safe(r.get(k)) for k in FIELDS} for r in records]
    doc = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "records": clean,
        "skipped_images": (
            [{"path": path, "reason": why} for path, why in skipped.items()]
            if isinstance(skipped, Mapping)
            else [dict(s) for s in skipped or []]
        ),
    }
    paths = [run_dir / "metrics.json", run_dir / "metrics.csv", run_dir / "metrics.md"]
    atomic_write_text(paths[0], json.dumps(doc, indent=1) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(clean)
    atomic_write_text(paths[1], buf.getvalue())
    atomic_write_text(paths[2], markdown(records))
    return paths


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.json`` file."""
    doc = json.loads(Path(path).read_text())
    records = list(doc["records"] if isinstance(doc, dict) else doc)
    for r in records:  # version 1 had neither run nor seed: the head named the run
        r.setdefault("run", r.get("head"))
        r.setdefault("seed", None)
        r.setdefault("mask_ratio", None)
        r.setdefault("levels", None)
        if isinstance(r.get("level"), str):  # version 2's compose=true level "0.01+30": numbers, as now
            try:
                r["levels"] = [float(v) for v in r["level"].split("+")]
                r["level"] = r["levels"][0]
            except ValueError:
                pass
    return records


def summary_rows(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Pivot records into (columns, rows): one row per model/run/method/perturbation/level, one column per metric.

    The second column is titled ``head``: it shows each record's ``run``, which is the head unless several
    checkpoints of one head were evaluated.
    """
    return value_rows(records)


def markdown(records: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of the means, with the 95% CI half-width."""
    return "\n".join(md.table(*ci_table(records))) + "\n"
