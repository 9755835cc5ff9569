"""Study 1's matched-severity section (camx.report.severity) from a synthetic study dir with a knee."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_report_study import _rec, _write_eval

from camx.metrics.severity import crossing
from camx.report.study import write_results

LEVELS = (0.1, 0.2, 0.4, 0.8, 1.6)
PLAIN = (0.9, 0.7, 0.5, 0.3, 0.1)  # crosses 0.481 between 0.4 and 0.8
LIFT = {"plain": 0.0, "plain+noise": 0.2, "dropout": 0.1, "dropkey": 0.3}


def _knee_study(root: Path, spaces: tuple[str, ...] = ("normalized",)) -> Path:
    study = root / "paper_dropkey_quick"
    for space in spaces:
        recs = []
        for head, lift in LIFT.items():
            if space != "normalized" and head == "plain+noise":
                continue  # as in the study: the other readings evaluate the train sweep's heads only
            for seed in range(3):
                jitter = 0.01 * (seed - 1)
                recs.append(_rec(head, seed, "confidence", 0.95, perturbation="none"))
                for lvl, y in zip(LEVELS, PLAIN):
                    conf = min(0.95, y + lift + jitter) if space == "normalized" else y / 4
                    recs.append(_rec(head, seed, "confidence", conf, perturbation="noise", level=lvl))
                    recs.append(_rec(head, seed, "energy_pointing_game", y, method="gradcam",
                                     perturbation="noise", level=lvl))  # fmt: skip
        _write_eval(study / f"eval_{space}", recs)
        doc = json.loads((study / f"eval_{space}" / "metrics.json").read_text())
        doc["config"]["perturb"] = {"noise": {"variance": list(LEVELS), "space": space}}
        (study / f"eval_{space}" / "metrics.json").write_text(json.dumps(doc))
    (study / "study.json").write_text(json.dumps({"command": "camx study", "experiment": study.name,
                                                  "seconds": 60}))  # fmt: skip
    return study


def test_each_head_at_vstar_with_ratios_maps_and_verdict(tmp_path: Path) -> None:
    text = write_results([_knee_study(tmp_path)], tmp_path / "docs" / "RESULTS.md").markdown
    vstar = crossing([(0.0, 0.95), *zip(LEVELS, PLAIN)], 0.481)
    assert vstar == pytest.approx(0.4 * 2 ** ((0.5 - 0.481) / 0.2))
    assert f"v* = {vstar:.3g} [" in text and "noise read as `normalized`" in text
    row = next(line for line in text.splitlines() if line.startswith("| dropkey |") and "1.83" in line)
    # dropkey at v*: plain + 0.3 → ratio (0.481 + 0.3) / 0.481; energy pointing game read at v*: 0.481
    assert f"{(0.481 + 0.3) / 0.481:.3f}" in row and "0.481 ± 0.000" in row
    assert "dropkey > dropout > plain at v* holds beyond the intervals" in text
    assert "the noise-trained plain vs plain >, dropkey vs plain+noise >" in text
    assert "[results/noise_reading.md](results/noise_reading.md)" in text  # one reading: link the note


def test_other_readings_get_a_table_and_a_curve_that_never_crosses_says_so(tmp_path: Path) -> None:
    text = write_results([_knee_study(tmp_path, ("normalized", "pixel"))], tmp_path / "RESULTS.md").markdown
    table = text.split("the readings evaluated")[1]
    normalized = next(line for line in table.splitlines() if line.startswith("| normalized |"))
    pixel = next(line for line in table.splitlines() if line.startswith("| pixel |"))
    assert not math.isnan(float(normalized.split("|")[2].split()[0]))
    # pixel curves sit at PLAIN / 4 < 0.481 from the first noisy level: the crossing is between 0 and 0.1
    assert float(pixel.split("|")[2].split()[0]) < 0.1
    # the confidence table above is the main reading's alone: pixel's values (PLAIN / 4) are not mixed in
    conf_table = text.split("**confidence**")[1].split("\n\n")[1]
    row = next(line for line in conf_table.splitlines() if line.startswith("| 0.4 |"))
    plain = float(row.split("|")[2].split()[0])
    assert plain == pytest.approx(PLAIN[2], abs=0.011)  # normalized plain at 0.4 (± the seeds' jitter)


def test_demo_summary_reads_every_head_at_vstar() -> None:
    from camx.report.demo import summarise

    def rec(head: str, metric: str, perturbation: str, level: float, value: float) -> dict:
        return {
            "model": "resnet50", "head": head, "checkpoint": head, "method": None, "perturbation": perturbation,
            "level": level, "metric": metric, "value": value, "ci_low": value - 0.02, "ci_high": value + 0.02,
            "n": 400,
        }  # fmt: skip

    records = []
    for head, lift in (("plain", 0.0), ("dropkey", 0.2)):
        records += [rec(head, "confidence", "none", 0, 0.9), rec(head, "accuracy", "none", 0, 0.95)]
        for lvl, y in ((0.2, 0.7), (0.4, 0.5), (0.8, 0.3)):
            records += [
                rec(head, "confidence", "noise", lvl, y + lift),
                rec(head, "accuracy", "noise", lvl, y),
            ]
    text = summarise(records, 60)
    vstar = 0.4 * 2 ** ((0.5 - 0.481) / 0.2)
    assert f"v* = {vstar:.3g}" in text
    # the band: plain's ci_high (y + 0.02) crosses later than its ci_low
    lo, hi = 0.4 * 2 ** ((0.48 - 0.481) / 0.2 + 1) / 2, 0.4 * 2 ** ((0.52 - 0.481) / 0.2)
    assert f"over {lo:.3f}–{hi:.3f}" in text
    row = next(line for line in text.splitlines() if line.startswith("| dropkey |") and "1.83" in line)
    assert "| 0.681 [0.661, 0.701] | 1.42 | 1.83 | 0.481 [0.461, 0.501] |" in row
