"""Studies declared as configs (configs/study/): the commands `camx study` plans compose into valid configs,
the parts and the report follow the experiment files, and mistakes are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import camx

from camx.errors import ConfigError
from camx.jobs.study import fill, plan, study_json


def test_quick_papers_plan_runs_every_part_then_reports(tmp_path: Path) -> None:
    todo = plan("papers", "_quick", tmp_path, train=["trainer.threads=1"])
    names = [r.experiment for r in todo.runs]
    assert names == [
        "paper_dropkey_quick", "paper_dropkey_quick_alexnet", "paper_dropkey_quick_vgg16_bn",
        "paper_gradpp_scorecam_quick",
    ]  # fmt: skip
    assert todo.report == Path("docs/RESULTS.md")
    s1, gradpp = todo.runs[0], todo.runs[-1]
    assert [s.name for s in s1.steps] == [
        "backbone",
        "train",
        "train_ratio",
        "train_noise",
        "eval_noise",
        "eval_knee",
        "eval_pixel",
        "eval_minmax",
        "eval_maps",
        "eval_mc",
        "sanity_plain",
        "sanity_dropout",
        "sanity_dropkey",
    ]
    init = f"model.init_backbone={tmp_path}/paper_dropkey_quick/backbone/seed${{trainer.seed}}/checkpoints/best.pt"
    assert init in s1.steps[1].argv and "trainer.threads=1" in s1.steps[1].argv
    assert init not in s1.steps[0].argv  # the backbone stage sets it for the stages after it
    assert gradpp.kind == "gradpp" and gradpp.requires == [
        tmp_path / "paper_dropkey_quick" / "train",
        tmp_path / "paper_dropkey_quick_alexnet" / "train",
        tmp_path / "paper_dropkey_quick_vgg16_bn" / "train",
    ]
    assert [s.name for s in gradpp.steps] == ["eval_methods", "eval_methods_alexnet", "eval_methods_vgg16_bn"]
    assert study_json(gradpp, "make study-quick", 61.4) == {
        "command": "make study-quick", "experiment": "paper_gradpp_scorecam_quick", "kind": "gradpp", "seconds": 61,
    }  # fmt: skip


def test_full_variant_has_no_backbone_stage_and_no_parts(tmp_path: Path) -> None:
    todo = plan("paper_dropkey", "", tmp_path)
    assert [r.experiment for r in todo.runs] == ["paper_dropkey"] and todo.report is None
    steps = todo.runs[0].steps
    assert steps[0].name == "train" and not any(
        a.startswith("model.init_backbone") for s in steps for a in s.argv
    )


@pytest.mark.parametrize("variant", ["_quick", ""])
def test_every_planned_command_composes(variant: str, tmp_path: Path) -> None:
    """Each stage's overrides (sweeps at their first value) compose into a config validate() accepts."""
    from camx.cli.hydra_bridge import compose, quote

    from camx.config import validate

    for run in plan("papers", variant, tmp_path).runs[:2] + plan("papers", variant, tmp_path).runs[-1:]:
        for step in run.steps:
            task, *args = [a for a in step.argv if a != "-m"]
            overrides = [a.split(",")[0] if "," in a and "[" not in a else a for a in args if "=" in a]
            inputs = [quote(a) for a in args if "=" not in a]  # camx sanity IMAGE…: the CLI makes them inputs
            overrides += [f"inputs=[{','.join(inputs)}]"] if inputs else []
            cfg = compose(task, [o for o in overrides if not o.startswith("hydra.")])
            validate(cfg)


def test_unknown_study_and_unknown_variable_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no study 'nope': configs/study/ has paper_dropkey"):
        plan("nope")
    with pytest.raises(ConfigError, match="unknown variable"):
        fill("experiment=$expp", {"exp": "x"})
    assert fill("seed${trainer.seed}/$exp", {"exp": "x"}) == ["seed${trainer.seed}/x"]
    assert fill("$train", {"train": []}) == []
    res = camx(
        "study", "papers", "--variant", "_quick", "--study-dir", str(tmp_path), "--dry-run", cwd=tmp_path
    )
    assert res.returncode == 0 and "camx eval experiment=paper_gradpp_scorecam_quick_alexnet" in res.stdout
    assert (
        "camx report " in res.stdout
        and "--results docs/RESULTS.md" in res.stdout
        and not list(tmp_path.iterdir())
    )
    res = camx(
        "study", "paper_gradpp_scorecam", "--variant", "_quick", "--study-dir", str(tmp_path), cwd=tmp_path
    )
    assert res.returncode == 2 and "needs" in res.stderr and "Traceback" not in res.stderr
    assert "run `camx study paper_dropkey --variant _quick" in res.stderr
    assert not (tmp_path / "paper_gradpp_scorecam_quick").exists()
