"""Studies declared as configs (``configs/study/<name>.yaml``): the plan ``camx study NAME`` runs.

A study config names its report ``kind`` (:data:`camx.report.study.KINDS`), its ``experiment`` (the
variant is appended: ``paper_dropkey`` + ``_quick``), and its ``stages``: ``camx`` command lines with
``$exp``, ``$dir``, ``$train``, ``$init``, ``$s1`` and ``$part`` filled in (:func:`fill`). Optional keys:
``parts`` (the architectures with a ``configs/experiment/<exp>_<arch>.yaml``, run ``as: studies`` of their
own or ``as: stages`` of this one), ``needs`` (the study whose dir is ``$s1``), ``requires`` (folders that
must exist first), ``if_experiment`` and ``sets`` on a stage (run it only when that experiment exists;
variables it sets for the stages after it). A config with ``studies`` runs those in order, then
``report`` (the ``docs/RESULTS.md`` of :func:`camx.report.study.write_results`).

This module only plans (config → commands); the CLI runs them, one process per command, and writes
each study dir's ``study.json`` (:func:`study_json`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from camx.errors import ConfigError

_LEFT = re.compile(r"\$(?!\{[^}]*\.)[{]?[A-Za-z_]")  # a variable left unfilled (Hydra's ${a.b} is not one)


@dataclass(frozen=True)
class Step:
    """One command of a study: ``camx <argv…>``."""

    name: str
    argv: tuple[str, ...]


@dataclass
class StudyRun:
    """One study dir: what runs there, what must exist first, and its report kind."""

    experiment: str
    dir: Path
    kind: str
    steps: list[Step] = field(default_factory=list)
    requires: list[Path] = field(default_factory=list)
    needs: str = ""  #: the study that writes ``requires``


@dataclass
class StudyPlan:
    runs: list[StudyRun]
    report: Path | None = None


def config_dir() -> Path:
    import camx.configs

    return Path(next(iter(camx.configs.__path__))).resolve() / "study"


def load(name: str) -> dict[str, Any]:
    """``configs/study/<name>.yaml`` as a dict (a ConfigError naming the studies when it is missing)."""
    import yaml

    path = config_dir() / f"{name}.yaml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in config_dir().glob("*.yaml")))
        raise ConfigError(f"no study {name!r}: configs/study/ has {names}; run e.g. `camx study papers`")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _experiment_exists(name: str) -> bool:
    return (config_dir().parent / "experiment" / f"{name}.yaml").is_file()


def fill(arg: str, values: Mapping[str, Any]) -> list[str]:
    """``arg`` with ``$name`` / ``${name}`` replaced; an ``arg`` that is exactly ``$name`` of a list value
    becomes its words (none when empty). An unknown variable is a ConfigError."""
    if arg.startswith("$") and arg[1:] in values and isinstance(values[arg[1:]], (list, tuple)):
        return [str(v) for v in values[arg[1:]]]
    out = Template(arg).safe_substitute({k: v for k, v in values.items() if isinstance(v, (str, Path))})
    if _LEFT.search(out):
        raise ConfigError(
            f"study stage argument {arg!r}: unknown variable (known: {', '.join(sorted(values))})"
        )
    return [out]


def _parts(cfg: Mapping[str, Any], exp: str) -> list[str]:
    archs = (cfg.get("parts") or {}).get("archs") or []
    return [a for a in archs if _experiment_exists(f"{exp}_{a}")]


def _steps(cfg: Mapping[str, Any], values: dict[str, Any], parts: Sequence[str]) -> list[Step]:
    steps = []
    for stage in cfg.get("stages") or []:
        cond = stage.get("if_experiment")
        if cond and not _experiment_exists(fill(cond, values)[0]):
            continue
        for part in parts if stage.get("for_each_part") else [None]:
            local = {**values, **({"part": part} if part else {})}
            argv = tuple(w for a in stage["argv"] for w in fill(str(a), local))
            steps.append(Step(fill(stage["name"], local)[0], argv))
        for key, value in (stage.get("sets") or {}).items():
            values[key] = fill(str(value), values)
    return steps


def _study(
    name: str, cfg: Mapping[str, Any], variant: str, study_dir: Path, train: Sequence[str]
) -> list[StudyRun]:
    """The runs of one study config: the main experiment, then its parts run as studies of their own."""
    main = f"{cfg['experiment']}{variant}"
    parts = _parts(cfg, main)
    as_studies = (cfg.get("parts") or {}).get("as") == "studies"
    runs = []
    for exp in [main, *(f"{main}_{p}" for p in parts)] if as_studies else [main]:
        values: dict[str, Any] = {"exp": exp, "dir": str(study_dir / exp), "train": list(train), "init": []}
        if cfg.get("needs"):
            values["s1"] = str(study_dir / f"{cfg['needs']}{variant}")
        mine = [] if as_studies else parts
        requires = [
            Path(w)
            for r in cfg.get("requires") or []
            for part in (mine if "$part" in r else [None])
            for w in fill(r, {**values, **({"part": part} if part else {})})
        ]
        steps = _steps(cfg, values, mine)
        if not steps:
            raise ConfigError(f"study {name!r} has no stages for {exp}; list them under stages:")
        runs.append(
            StudyRun(exp, study_dir / exp, str(cfg.get("kind", "")), steps, requires, cfg.get("needs", ""))
        )
    return runs


def _checked(name: str) -> dict[str, Any]:
    """A single study's config, with its kind, experiment and stages checked."""
    from camx.report.study import KINDS

    cfg = load(name)
    if cfg.get("kind") not in KINDS:
        raise ConfigError(
            f"configs/study/{name}.yaml: kind {cfg.get('kind')!r} is not one of {', '.join(KINDS)}"
        )
    for key in ("experiment", "stages"):
        if key not in cfg:
            raise ConfigError(
                f"configs/study/{name}.yaml has no {key}: a study names its kind, experiment and stages"
            )
    return cfg


def plan(
    name: str, variant: str = "", study_dir: Path = Path("outputs/study"), train: Sequence[str] = ()
) -> StudyPlan:
    """Every study dir ``camx study NAME`` writes, in order, with its commands; and the report, if any."""
    cfg = load(name)
    names = cfg.get("studies", [name])
    runs = [r for sub in names for r in _study(sub, _checked(sub), variant, Path(study_dir), train)]
    report = Path(cfg["report"]) if cfg.get("report") else None
    return StudyPlan(runs, report)


def study_json(run: StudyRun, command: str, seconds: float) -> dict[str, Any]:
    """The ``study.json`` of a finished study dir: how it was started, its experiment, kind and wall time."""
    return {"command": command, "experiment": run.experiment, "kind": run.kind, "seconds": round(seconds)}
