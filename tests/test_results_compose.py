"""``compose=true`` records are machine-readable like any other: ``level`` a number (the chain's first
step's), ``levels`` each step's; version-2 files, whose composed ``level`` was a text, still read, report
and gate."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from camx.jobs.eval_conditions import conditions
from camx.jobs.eval_metrics import Accumulator
from camx.report.sweep import build_report
from camx.results import SCHEMA, check_gates, read_metrics, write_metrics

MODELS = {"lite0": {"arch": "timm/tf_efficientnet_lite0", "head": "pretrained", "path": "lite0.pth"}}


def _records() -> list[dict]:
    cfg = {"compose": True, "perturb": {"noise": {"variance": [0.01]}, "stretch": {"factor": [1.5, 2.0]}}}
    acc = Accumulator()
    for cond in conditions(cfg):
        acc.add("lite0", None, cond, "accuracy", torch.tensor([1.0, 0.0]))
    return acc.records(MODELS)


def test_composed_records_have_a_numeric_level_and_each_steps_levels(tmp_path: Path) -> None:
    records = _records()
    chained = [(r["perturbation"], r["level"], r["levels"]) for r in records]
    assert chained == [
        ("none", 0.0, None),
        ("noise+stretch", 0.01, [0.01, 1.5]),
        ("noise+stretch", 0.01, [0.01, 2.0]),
    ]
    write_metrics(tmp_path, records, {})
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["schema"] == SCHEMA == "camx-metrics-3"
    assert all(isinstance(r["level"], float) for r in doc["records"])
    assert read_metrics(tmp_path / "metrics.json") == doc["records"]
    assert "| noise+stretch | 0.01+2 |" in (tmp_path / "metrics.md").read_text()
    missed = check_gates(doc["records"], {"accuracy": 0.9})
    assert [m.rsplit(": ", 2)[1].split(" ", 2)[2] for m in missed] == [
        "none 0",
        "noise+stretch 0.01+1.5",
        "noise+stretch 0.01+2",
    ]


def test_version_2_files_with_a_text_level_still_read_report_and_gate(tmp_path: Path) -> None:
    """A sweep job written before ``levels`` existed: ``"level": "0.01+2"``."""
    old = [dict(r, level=(r["level"] if r["levels"] is None else "0.01+2")) for r in _records()[:2]]
    for r in old:
        del r["levels"]
    job = tmp_path / "sweep" / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("task: eval\n")
    (job / "metrics.json").write_text(json.dumps({"schema": "camx-metrics-2", "records": old}))
    (read,) = [r for r in read_metrics(job / "metrics.json") if r["perturbation"] != "none"]
    assert (read["level"], read["levels"]) == (0.01, [0.01, 2.0])
    assert check_gates([read], {"noise+stretch": {"accuracy": 0.9}}) == [
        "noise+stretch.accuracy: timm/tf_efficientnet_lite0 lite0 noise+stretch 0.01+2: 0.5000 < 0.9"
    ]
    result = build_report(tmp_path / "sweep")
    assert [(r["perturbation"], r["level"], r["levels"]) for r in result.records] == [
        ("none", 0.0, None),
        ("noise+stretch", 0.01, [0.01, 2.0]),
    ]
    saved = json.loads((tmp_path / "sweep" / "report" / "metrics.json").read_text())
    assert {type(r["level"]) for r in saved["records"]} == {float}
