"""The Hydra task behind each command: validate, call the library job, show its results."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from camx.cli import hydra_bridge as hb
from camx.cli import render
from omegaconf import DictConfig, OmegaConf

from camx.errors import IO_ERRNOS, CamxError, ConfigError, storage_error
from camx.paths import check_output_root, check_writable
from camx.runs import discard_if_empty
from camx.text import plural

GATES_FAILED: list[str] = []  # the --fail-under thresholds the command's eval jobs did not meet
# Eval jobs may run in other processes (joblib) or on other machines (SLURM): each writes the thresholds
# it missed into a file in this folder (on the shared file system: under the working directory), and
# the command reads them all once Hydra's launcher has returned.
GATES_DIR_ENV = "CAMX_GATES_DIR"


def run(task: str, overrides: list[str], *, multirun: bool, hydra_flags: list[str]) -> None:
    """Validate every job of the command before anything is written, then launch it through Hydra."""
    from camx.config import validate
    from camx.options.model import requested_target_layer

    def check(cfg: DictConfig) -> None:
        # validate() and preflight() are torch-free up to a file that must be read: a typo or a missing
        # file is reported before torch is imported (checking a chosen target layer builds the model)
        if cfg.get("task") != task:
            raise ConfigError(
                f"task={cfg.get('task')!r} cannot be changed; run `camx {cfg.get('task')}` instead"
            )
        try:
            validate(cfg)
            # explain/eval check the target layer against the checkpoint's model, inside the job
            if task == "train" and requested_target_layer(cfg.model) is not None:
                from camx.jobs.train import validate_target_layer

                validate_target_layer(cfg.model)
        except (TypeError, ValueError) as exc:  # a value of the wrong type that no check anticipated
            raise ConfigError(
                f"invalid configuration value ({exc}); check it with `camx {task} --cfg job`"
            ) from None
        from camx.jobs.preflight import preflight

        if run_parent is None:  # the run dir goes under outputs_dir
            check_writable(str(cfg.get("outputs_dir")), "outputs_dir")
        else:
            check_writable(run_parent, "hydra.sweep.dir" if multirun else "hydra.run.dir")
        preflight(cfg)

    GATES_FAILED.clear()
    run_parent = _run_parent(overrides, multirun)
    if not hydra_flags:
        try:
            hb.prevalidate(task, overrides, check)
        except ConfigError as exc:
            if not str(exc).startswith("unknown config key"):
                raise
            raise ConfigError(_unknown_key(task, overrides) or str(exc)) from None
    if task != "eval":  # only eval jobs have thresholds: no gates folder for train/explain
        hb.launch(task, overrides, _job, multirun=multirun, hydra_flags=hydra_flags)
        return
    with _gate_files() as gates:
        hb.launch(task, overrides, _job, multirun=multirun, hydra_flags=hydra_flags)
        for path in sorted(gates.glob("*.txt")):
            GATES_FAILED.extend(path.read_text().splitlines())
    if multirun and GATES_FAILED:  # the jobs' own lines may be in worker or cluster logs: repeat them
        render.error(f"fail-under: {len(GATES_FAILED)} threshold(s) not met across the sweep:")
        for line in GATES_FAILED:
            render.error(f"fail-under: {line}")


def _run_parent(overrides: list[str], multirun: bool) -> str | None:
    """The folder an explicit ``hydra.run.dir`` (``hydra.sweep.dir`` with ``-m``) puts the run dir in, checked
    like ``outputs_dir``; None when the run dir goes under ``outputs_dir`` (or its value is interpolated)."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    for item in overrides:
        name, sep, value = item.lstrip("+").partition("=")
        if sep and name == key and "${" not in value:
            check_output_root(value.strip("'\""), key)
            return str(Path(value.strip("'\"")).parent)
    return None


@contextmanager
def _gate_files() -> Iterator[Path]:
    """A fresh folder for the eval jobs' missed thresholds, named to them by an environment variable."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=".camx-gates-", dir=Path.cwd()))
    except OSError:  # a read-only working directory: local launchers still share the system's temp dir
        folder = Path(tempfile.mkdtemp(prefix="camx-gates-"))
    saved = os.environ.get(GATES_DIR_ENV)
    os.environ[GATES_DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop(GATES_DIR_ENV, None)
        else:
            os.environ[GATES_DIR_ENV] = saved
        shutil.rmtree(folder, ignore_errors=True)


def _unknown_key(task: str, overrides: list[str]) -> str | None:
    """One line naming the first override whose key does not exist, the keys that do, and a close match."""
    import difflib

    for job in hb.expand(overrides)[:8]:
        for item in job:
            if item.startswith(("+", "~")) or "=" not in item:
                continue
            key = item.partition("=")[0]
            if key in hb.GROUPS or key.startswith("hydra"):
                continue
            try:
                cfg = hb.compose(task, [o for o in job if o is not item])
            except ConfigError:
                continue
            parts = key.split(".")
            node: Any = cfg
            for depth, part in enumerate(parts):
                if not isinstance(node, DictConfig):
                    where = ".".join(parts[:depth])
                    return (
                        f"unknown config key {key}: {where} is a value, not a group of keys; "
                        f"set it with {where}=VALUE"
                    )
                if part not in node:
                    where = ".".join(parts[:depth])
                    valid = [str(k) for k in node]
                    close = difflib.get_close_matches(part, valid, n=1)
                    hint = f" (did you mean {'.'.join([*parts[:depth], close[0]])}?)" if close else ""
                    group = parts[0] if depth == 1 and parts[0] in hb.GROUPS else None
                    select = (
                        f"; {group}={part} selects it"
                        if group and part in hb.group_choices(group)
                        else f"; add a new key with +{key}=VALUE"
                    )
                    return (
                        f"unknown config key {key}: {where or 'the config'} has no {part!r}{hint}; "
                        f"valid keys: {', '.join(valid)}{select}"
                    )
                node = node[part]
    return None


def _job(cfg: DictConfig) -> Any:
    from hydra.core.hydra_config import HydraConfig

    from camx.jobs.guard import Diverged
    from camx.jobs.train import Interrupted

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    render.console.print(f"[dim]run dir:[/] {run_dir}")
    try:
        jobs = {"train": _train, "explain": _explain, "eval": _eval, "sanity": _sanity}
        return jobs[str(cfg.task)](cfg, run_dir)
    except CamxError as exc:
        _fail(exc, run_dir)
    except OSError as exc:  # the file system refused a read or write no library call anticipated
        if exc.errno not in IO_ERRNOS:
            raise
        _fail(storage_error(exc, exc.filename, "failed"), run_dir)
    except Diverged as exc:  # the run dir keeps run.json (status diverged) and the last good checkpoints
        render.error(str(exc))
        sys.exit(exc.exit_code)
    except Interrupted as exc:
        render.error(f"{exc}; continue with the same command plus trainer.resume=true")
        sys.exit(130)


def _fail(exc: CamxError, run_dir: Path) -> None:
    """One line for ``exc``, the run dir tidied (see :func:`discard_if_empty`), exit with its code."""
    render.error(str(exc))
    discard_if_empty(run_dir)
    sys.exit(exc.exit_code)


def _train(cfg: DictConfig, run_dir: Path) -> None:
    from camx.jobs.train import train

    m = cfg.model
    render.console.print(
        f"training [bold]{m.arch}/{m.head}[/] on {cfg.dataset.name} "
        f"({_size_text(cfg.dataset.image_size)}) for {plural(int(cfg.trainer.epochs), 'epoch')}"
    )
    result = train(cfg, run_dir, render.RichReporter())
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: only rank 0 reports (and writes the run dir)
        return
    render.table(
        "training",
        ["epoch", "train loss", "train acc", "val acc", "val conf", "seconds"],
        [
            [
                h["epoch"],
                h["train_loss"],
                h["train_accuracy"],
                h["val_accuracy"],
                h["val_confidence"],
                h["seconds"],
            ]
            for h in result.history
        ],
    )
    render.console.print(
        f"best val accuracy {result.best_val_accuracy:.3f} · {result.images_per_second:.1f} img/s · "
        f"{result.seconds:.0f} s"
    )
    render.console.print(f"checkpoints: {result.best} (best), {result.last} (last)")


def _size_text(size: Any) -> str:
    from camx.options.dataset import is_auto_size

    return "the images' own size" if is_auto_size(size) else f"{size} px"


def _explain(cfg: DictConfig, run_dir: Path) -> None:
    from camx.jobs.explain import explain_images

    result = explain_images(cfg, run_dir, render.RichReporter())
    for pred in result.predictions:
        render.table(
            f"{pred['file']} — {pred['head']}",
            ["rank", "class", "probability"],
            [[i + 1, c, p] for i, (c, p) in enumerate(pred["top"])],
        )
    for path in result.written:
        render.console.print(f"wrote {path}")
    render.console.print(
        f"[bold]explained[/] {plural(len({p['file'] for p in result.predictions}), 'image')} in {run_dir}"
    )
    if result.failures:
        for f in result.failures:
            render.error(f"{f.path}: {f.reason}")
        render.error(f"{len(result.failures)} input(s) could not be read; the others were explained")
        sys.exit(2)


def _eval(cfg: DictConfig, run_dir: Path) -> None:
    from camx.jobs.evaluate import evaluate
    from camx.results import check_gates, summary_rows

    result = evaluate(cfg, run_dir, render.RichReporter())
    cols, rows = summary_rows(result.records)
    render.table("evaluation (mean, 95% CI in metrics.json)", cols, rows)
    for path in result.written:
        render.console.print(f"wrote {path}")
    render.console.print(
        f"[bold]eval done[/] in {result.seconds:.0f} s: {plural(len(result.records), 'record')} · "
        f"open {run_dir / 'report.html'}"
    )
    gates = OmegaConf.to_container(cfg.fail_under, resolve=True) if cfg.get("fail_under") else {}
    failures = check_gates(result.records, gates)
    for line in failures:
        render.error(f"fail-under: {line}")
    if failures and os.environ.get(GATES_DIR_ENV):
        folder = Path(os.environ[GATES_DIR_ENV])
        (folder / f"{os.getpid()}-{uuid.uuid4().hex}.txt").write_text("\n".join(failures) + "\n")
    elif gates and not failures:
        render.console.print(f"[green]all {len(gates)} fail-under threshold(s) hold[/]")


def _sanity(cfg: DictConfig, run_dir: Path) -> None:
    from camx.jobs.sanity import sanity_images

    result = sanity_images(cfg, run_dir)
    for path in result.written:
        render.console.print(f"wrote {path}")
    rows = [[m, "passes" if ok else "FAILS"] for m, ok in result.verdicts.items()]
    render.table("model-parameter randomisation (cascading)", ["method", "verdict"], rows)


def report(sweep_dir: str, out: str | None) -> None:
    from camx.report.sweep import build_report
    from camx.results import summary_rows

    result = build_report(Path(sweep_dir), Path(out) if out else None)
    cols, rows = summary_rows(result.records)
    render.table(f"report of {sweep_dir}", cols, rows)
    for path in result.written:
        render.console.print(f"wrote {path}")
    for line in result.missing:
        render.err_console.print(f"[yellow]missing:[/] {line}")
    page = next((p for p in result.written if p.name == "report.html"), None)
    render.console.print(f"[bold]report[/] of {plural(len(result.records), 'record')}: open {page}")


def study_report(dirs: list[str], results: str, out: str | None = None) -> None:
    from camx.report.study import write_results

    report = write_results([Path(d) for d in dirs], Path(results), Path(out) if out else None)
    for path in report.written:
        render.console.print(f"wrote {path}")
    render.console.print(f"[bold]study report[/]: {results} and {report.written[-1]}")


def demo_summary(folder: str, seconds: float) -> None:
    from camx.report.demo import write_summary

    text, path = write_summary(Path(folder), seconds)
    render.console.print(text, end="", markup=False)
    render.console.print(f"written to {path}")


def study(
    name: str,
    variant: str,
    study_dir: str,
    train: str,
    results: str | None,
    command: str | None,
    dry_run: bool,
) -> int:
    """Run a study config's commands, one ``camx`` process each, write each dir's study.json, then the
    report; returns the exit code of the first command that failed (0 when all ran)."""
    import json
    import shlex
    import subprocess
    import time

    from camx.atomic import atomic_write_text
    from camx.jobs.study import plan, study_json

    todo = plan(name, variant, Path(study_dir), shlex.split(train))
    label = command or shlex.join(["camx", "study", *sys.argv[2:]])
    report = Path(results) if results else todo.report
    for r in todo.runs:
        if dry_run:
            needs = ", ".join(map(str, r.requires)) or "nothing"
            render.console.print(f"# {r.experiment} → {r.dir} (needs {needs})", markup=False)
            for step in r.steps:
                render.console.print(shlex.join(["camx", *step.argv]), markup=False)
            continue
        missing = [p for p in r.requires if not p.is_dir()]
        if missing:
            hint = (
                f"camx study {r.needs}" + (f" --variant {variant}" if variant else "")
                if r.needs
                else "the study that writes it"
            )
            raise ConfigError(f"{r.experiment} needs {missing[0]}, which does not exist: run `{hint}` first")
        shutil.rmtree(r.dir, ignore_errors=True)
        start = time.time()
        for step in r.steps:
            line = f"{r.experiment} {step.name}: {shlex.join(['camx', *step.argv])}"
            render.console.print(line, style="bold", markup=False)
            code = subprocess.run([sys.executable, "-m", "camx.cli.main", *step.argv], check=False).returncode
            if code:
                render.error(
                    f"{r.experiment}: stage {step.name} failed (exit code {code}); the study stops here"
                )
                return code
        seconds = time.time() - start
        atomic_write_text(r.dir / "study.json", json.dumps(study_json(r, label, seconds)) + "\n")
        render.console.print(
            f"{r.experiment}: finished in {seconds:.0f} s; results under {r.dir}/", markup=False
        )
    if report and not dry_run:
        study_report([str(r.dir) for r in todo.runs], str(report))
    elif report:
        render.console.print(
            shlex.join(["camx", "report", *(str(r.dir) for r in todo.runs), "--results", str(report)])
        )
    return 0
