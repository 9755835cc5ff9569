"""The Hydra task behind each command: validate, call the library job, show its results."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from camx.cli import hydra_bridge as hb
from camx.cli import render
from omegaconf import DictConfig, OmegaConf

from camx.errors import IO_ERRNOS, CamxError, ConfigError, plural, storage_error
from camx.paths import check_output_root, check_writable
from camx.runs import discard_if_empty


def run(task: str, overrides: list[str], *, multirun: bool = False, show: str | None = None) -> list[str]:
    """Run the command's job (every job of a ``-m`` sweep) through Hydra; return the ``--fail-under``
    thresholds the eval runs missed, judged from their ``metrics.json`` once all have returned.

    A single run is validated before its run dir exists; so is every job's config of a sweep (its sweep
    values; each job checks its files when it starts, and removes its run dir when refused).
    """
    launched = hb.launch(
        task,
        overrides,
        functools.partial(_job, task),
        multirun=multirun,
        show=show,
        check=functools.partial(_before_launch, task, multirun),
        check_job=functools.partial(check_values, task),
    )
    if task != "eval" or launched.config is None or not launched.config.get("fail_under"):
        return []
    gates = OmegaConf.to_container(launched.config.fail_under, resolve=True)
    return _judge(gates, launched.run_dirs, multirun)


def _before_launch(task: str, multirun: bool, cfg: DictConfig) -> None:
    """The composed config, before Hydra writes anything: a single run's values, the folder the run (or
    the sweep) goes to, then the files the run reads (docs/ERRORS.md lists this order)."""
    from camx.cli.config_keys import check_added_keys

    check_added_keys(task, cfg)  # +key=VALUE that no job would read
    if not multirun:
        check_values(task, cfg)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    outputs = check_output_root(cfg.get("outputs_dir"))
    where = Path(str(OmegaConf.select(cfg, key)))
    if where.is_relative_to(outputs):
        check_writable(outputs, "outputs_dir")
    else:  # a folder named with hydra.run.dir= / hydra.sweep.dir=
        check_output_root(str(where), key)
        check_writable(where.parent, key)
    if not multirun:  # the files it reads: inputs, checkpoints (torch only for a file that is there)
        from camx.jobs.preflight import preflight

        preflight(cfg)


def check_values(task: str, cfg: DictConfig) -> None:
    """Every value of a job's config (:func:`camx.config.validate`): torch-free, so a typo is reported
    before torch is imported."""
    from camx.config import validate
    from camx.options.model import requested_target_layer

    if cfg.get("task") != task:
        raise ConfigError(f"task={cfg.get('task')!r} cannot be changed; run `camx {cfg.get('task')}` instead")
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


def _judge(gates: Any, run_dirs: list[Path], multirun: bool) -> list[str]:
    """Check every eval run's records (its ``metrics.json``) against ``gates``; print and return the misses."""
    from camx.report.sweep_labels import job_names
    from camx.results import check_gates, flatten_gates, read_metrics

    names = job_names(run_dirs) if multirun else {}  # a sweep's lines name their job
    missed = []
    for run_dir in run_dirs:
        if (run_dir / "metrics.json").is_file():
            where = f"{names[run_dir]}: " if run_dir in names else ""
            missed += [where + line for line in check_gates(read_metrics(run_dir / "metrics.json"), gates)]
    if multirun and missed:
        render.error(f"fail-under: {len(missed)} threshold(s) not met across the sweep:")
    for line in missed:
        render.error(f"fail-under: {line}")
    if not missed:
        render.console.print(f"[green]all {len(flatten_gates(gates))} fail-under threshold(s) hold[/]")
    return missed


def _job(task: str, cfg: DictConfig) -> Any:
    """The Hydra task function: one job of ``camx TASK`` in its run dir."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from camx.jobs.guard import Diverged
    from camx.jobs.train import Interrupted

    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    try:
        if hydra.mode == RunMode.MULTIRUN:  # a single run was checked before its run dir existed
            from camx.jobs.preflight import preflight

            check_values(task, cfg)
            preflight(cfg)
        render.console.print(f"[dim]run dir:[/] {run_dir}")
        jobs = {"train": _train, "explain": _explain, "eval": _eval, "sanity": _sanity}
        with _terminate_interrupts(task):
            return jobs[task](cfg, run_dir)
    except (
        KeyboardInterrupt
    ) as exc:  # explain, eval, sanity: Ctrl-C or SIGTERM (train saves its state instead)
        _interrupted(exc, run_dir)
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


@contextlib.contextmanager
def _terminate_interrupts(task: str) -> Iterator[None]:
    """SIGTERM stops explain, eval and sanity as Ctrl-C does (a KeyboardInterrupt carrying the signal's
    number); ``camx train`` has its own handlers, which save a resumable state."""
    if task == "train" or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(exc: KeyboardInterrupt, run_dir: Path) -> None:
    """One line for an interrupted job, its run dir removed if it holds nothing finished; exit 130."""
    signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else int(signal.SIGINT)
    discard_if_empty(run_dir)
    kept = f"the finished files stay in {run_dir}" if run_dir.exists() else "nothing was written"
    render.error(f"interrupted by signal {signum} ({signal.Signals(signum).name}); {kept}")
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
    from camx.results import summary_rows

    result = evaluate(cfg, run_dir, render.RichReporter())
    cols, rows = summary_rows(result.records)
    render.metrics_table("evaluation (mean, 95% CI in metrics.json)", cols, rows)
    for path in result.written:
        render.console.print(f"wrote {path}")
    render.console.print(
        f"[bold]eval done[/] in {result.seconds:.0f} s: {plural(len(result.records), 'record')} · "
        f"open {run_dir / 'report.html'}"
    )


def _sanity(cfg: DictConfig, run_dir: Path) -> None:
    from camx.jobs.sanity import sanity_images

    result = sanity_images(cfg, run_dir, render.RichReporter())
    for path in result.written:
        render.console.print(f"wrote {path}")
    rows = [[m, "passes" if ok else "FAILS"] for m, ok in result.verdicts.items()]
    render.table("model-parameter randomisation (cascading)", ["method", "verdict"], rows)
    verdict = f"{sum(result.verdicts.values())} of {len(result.verdicts)} methods pass · " if rows else ""
    render.console.print(
        f"[bold]sanity done[/] in {result.seconds:.0f} s: {verdict}open {run_dir / 'sanity.md'} "
        f"or {run_dir / 'report.html'}"
    )


def samples(folder: str, count: int, overrides: list[str]) -> None:
    """The first ``count`` test images of the ``eval`` config's shapes dataset (with ``overrides``) as PNGs."""
    from camx.data.shapes import export_samples
    from camx.options.dataset import shapes_spec

    cfg = hb.compose("eval", overrides)
    if cfg.dataset.name != "shapes":
        raise ConfigError(f"dataset={cfg.dataset.name} has no generator; camx samples draws dataset=shapes")
    paths = export_samples(folder, count, "test", shapes_spec(cfg.dataset), seed=int(cfg.dataset.seed))
    render.console.print(f"wrote {plural(len(paths), 'test image')} to {folder}")


def report(sweep_dir: str, out: str | None) -> None:
    from camx.report.sweep import build_report
    from camx.results import summary_rows

    try:
        result = build_report(Path(sweep_dir), Path(out) if out else None)
    except OSError as exc:  # the file system refused a write (disk full, quota, read-only)
        if exc.errno not in IO_ERRNOS:
            raise
        raise storage_error(exc, exc.filename, "cannot write the report") from None
    cols, rows = summary_rows(result.records)
    render.metrics_table(f"report of {sweep_dir}", cols, rows)
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
