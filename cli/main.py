"""``camx``: train, explain and evaluate CNN classifiers with class activation maps.

Each command is a Hydra application: ``key=value`` overrides (and ``+key=value``, ``~key``) may
follow it, ``-m`` runs a sweep, ``--cfg job`` prints the composed config. This module only parses
arguments and hands them to :mod:`camx.cli.tasks`, which calls the library.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from camx.cli import args, render, tasks
from camx.cli import hydra_bridge as hb

from camx import __version__
from camx.errors import CamxError

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


def _epilog(task: str, groups: tuple[str, ...], examples: list[str]) -> str:
    """``--help``'s end: the config groups with their options, how to override, examples."""
    choices = [f"  {g}: {', '.join(hb.group_choices(g))}" for g in groups]
    return "\n\n".join(
        ["Config groups (choose with GROUP=OPTION):", *choices]
        + [f"Overrides: key=value, +key=value (add), ~key (remove); `camx {task} --cfg job` shows every key."]
        + ["Examples:", *(f"  {e}" for e in examples)]
    )


app = typer.Typer(
    name="camx",
    help="Class activation maps for CNN classifiers — and whether they survive noise, rotation, "
    "stretching, low contrast and small objects.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        render.console.print(f"camx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """camx command line."""


@contextmanager
def _user_errors() -> Iterator[None]:
    """A camx error as one ``error:`` line and its exit code (2 user error, 3 storage)."""
    try:
        yield
    except CamxError as exc:
        render.error(str(exc))
        raise typer.Exit(exc.exit_code) from None


def _run(task: str, overrides: list[str], multirun: bool, show: str | None) -> list[str]:
    with _user_errors():
        return tasks.run(task, overrides, multirun=multirun, show=show)


GROUPS_TRAIN = ("model", "dataset", "trainer", "experiment", "hydra/launcher")


@app.command(
    cls=args.Command,
    context_settings=EXTRA,
    epilog=_epilog(
        "train",
        GROUPS_TRAIN,
        [
            "camx train                                   # ResNet50, plain head, embedded shapes",
            "camx train model.head=dropkey model.mask_ratio=0.2",
            "camx train -m model.head=plain,dropout,dropkey   # a sweep: three runs",
            "camx train experiment=smoke                  # seconds, for a first try",
            "camx train model=vgg16 dataset=imagefolder dataset.root=~/pets trainer.epochs=20",
            "camx train trainer.resume=true               # continue the interrupted run",
        ],
    ),
)
def train(
    ctx: typer.Context,
    multirun: bool = typer.Option(
        False, "-m", "--multirun", help="Sweep: comma-separated values run as separate jobs."
    ),
    cfg: str = typer.Option(None, "--cfg", help="Print the composed config (job, hydra or all) and exit."),
    info: bool = typer.Option(
        False, "--info", help="Print Hydra's information about the config search path."
    ),
) -> None:
    """Train a classifier (plain, attention, Dropout or DropKey head) and save checkpoints."""
    _run("train", list(ctx.args), multirun, "info" if info else cfg)


GROUPS_EXPLAIN = ("model", "cam", "dataset", "experiment")


@app.command(
    cls=args.ImagesCommand,
    context_settings=EXTRA,
    epilog=_epilog(
        "explain",
        GROUPS_EXPLAIN,
        [
            "camx explain cat.jpg                         # Grad-CAM of the latest trained resnet50/plain",
            "camx explain photos/ cam=gradcampp model.head=dropkey",
            "camx explain 'imgs/*.png' --method gradcam,gradcampp,scorecam --target 3",
            "camx explain img.png --checkpoint outputs/train/…/checkpoints/best.pt --mc-samples 16",
            "camx explain experiment=smoke -- 'odd=name.png' '${HOME}.png'   # after --: file names only",
        ],
    ),
)
def explain(
    ctx: typer.Context,
    method: list[str] = typer.Option(
        None, "--method", help="CAM methods, comma-separated or repeated (default: cam.name)."
    ),
    target: str = typer.Option(
        None, "--target", help="Class to explain: index or name (default: predicted)."
    ),
    checkpoint: str = typer.Option(
        None,
        "--checkpoint",
        help="A checkpoint file, a run dir or a sweep dir (default: latest of model/head).",
    ),
    mc_samples: int = typer.Option(
        None, "--mc-samples", help="Monte-Carlo DropKey samples averaged per map."
    ),
    multirun: bool = typer.Option(
        False, "-m", "--multirun", help="Sweep over comma-separated override values."
    ),
    cfg: str = typer.Option(None, "--cfg", help="Print the composed config (job, hydra or all) and exit."),
) -> None:
    """Draw heatmaps for IMAGE files, folders or globs (existing paths and arguments that are not key=value
    overrides are images; every argument after -- is an image)."""
    overrides = args.with_images(ctx, "explain", cfg)
    if method:
        overrides.append(args.methods_override(method))
    if target is not None:
        overrides.append(f"target={hb.quote(target)}")
    if checkpoint:
        overrides.append(f"checkpoint={hb.quote(checkpoint)}")
    if mc_samples is not None:
        overrides.append(f"cam.mc_samples={mc_samples}")
    _run("explain", overrides, multirun, cfg)


GROUPS_EVAL = ("model", "perturb", "cam", "dataset", "experiment", "hydra/launcher")


@app.command(
    name="eval",
    cls=args.Command,
    context_settings=EXTRA,
    epilog=_epilog(
        "eval",
        GROUPS_EVAL,
        [
            "camx eval --noise 0.6                        # every trained head under noise of variance 0.6",
            "camx eval perturb=noise_sweep methods=[gradcam,gradcampp]",
            "camx eval perturb=[rotation,contrast] heads=[plain,dropkey]",
            "camx eval --noise 0.6 --fail-under confidence=0.8 --fail-under dropkey.pointing_game=0.6",
            "camx eval checkpoints=[a/best.pt,b/best.pt] map_metrics=false",
        ],
    ),
)
def evaluate(
    ctx: typer.Context,
    noise: str = typer.Option(
        None, "--noise", help="Shorthand for perturb=noise perturb.noise.variance=[V,...]."
    ),
    method: list[str] = typer.Option(
        None, "--method", help="CAM methods to score, comma-separated or repeated."
    ),
    checkpoint: str = typer.Option(
        None, "--checkpoint", help="Evaluate only this checkpoint file, run dir or sweep dir."
    ),
    fail_under: list[str] = typer.Option(
        None, "--fail-under", help="METRIC=VALUE or QUALIFIER.METRIC=VALUE; exit 1 if any falls short."
    ),
    multirun: bool = typer.Option(
        False, "-m", "--multirun", help="Sweep over comma-separated override values."
    ),
    cfg: str = typer.Option(None, "--cfg", help="Print the composed config (job, hydra or all) and exit."),
) -> None:
    """Measure accuracy, confidence and CAM quality of trained models, clean and perturbed."""
    overrides = list(ctx.args)
    if noise is not None:
        overrides += ["perturb=noise", f"perturb.noise.variance=[{noise}]"]
    if method:
        overrides.append(args.methods_override(method))
    if checkpoint:
        overrides.append(f"checkpoints=[{hb.quote(checkpoint)}]")
    for item in fail_under or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            render.error(f"--fail-under {item!r}: expected METRIC=VALUE, e.g. --fail-under confidence=0.8")
            raise typer.Exit(2)
        overrides.append(f"++fail_under.{key}={value}")
    if _run("eval", overrides, multirun, cfg):  # --fail-under thresholds missed
        raise typer.Exit(1)


GROUPS_SANITY = ("model", "cam", "dataset", "experiment", "hydra/launcher")


@app.command(
    cls=args.ImagesCommand,
    context_settings=EXTRA,
    epilog=_epilog(
        "sanity",
        GROUPS_SANITY,
        [
            "camx sanity cat.jpg                          # every method and baseline, the latest resnet50",
            "camx sanity photos/ model.arch=timm/tf_efficientnet_lite0 model.weights=W.pth image_size=128",
            "camx sanity cat.jpg --method gradcam modes=[cascading]   # + the baselines (baselines=[] drops them)",
        ],
    ),
)
def sanity(
    ctx: typer.Context,
    method: list[str] = typer.Option(
        None, "--method", help="CAM methods, comma-separated or repeated (default: all)."
    ),
    checkpoint: str = typer.Option(None, "--checkpoint", help="A checkpoint file or run dir."),
    cfg: str = typer.Option(None, "--cfg", help="Print the composed config (job, hydra or all) and exit."),
) -> None:
    """Randomise the model's weights block by block and see whether each method's maps change
    (Adebayo et al., NeurIPS 2018); IMAGE files, folders or globs as for explain."""
    overrides = args.with_images(ctx, "sanity", cfg)
    if method:
        overrides.append(args.methods_override(method))  # the baselines stay, as with methods=[…]
    if checkpoint:
        overrides.append(f"checkpoint={hb.quote(checkpoint)}")
    _run("sanity", overrides, False, cfg)


@app.command(
    epilog="Examples:\n\n"
    "  camx report outputs/multirun/2026-11-22_10-00-00_eval_ab12\n\n"
    "  camx report outputs/study/paper_dropkey_quick outputs/study/paper_gradpp_scorecam_quick "
    "--results docs/RESULTS.md\n\n"
    "  camx report outputs/demo --demo 734"
)
def report(
    dirs: list[str] = typer.Argument(
        ..., help="A Hydra multirun dir (or any folder of eval runs); with --results, study dirs."
    ),
    out: str = typer.Option(
        None,
        "--out",
        help="Where to write the report (default: SWEEP_DIR/report); with --results, the HTML page "
        "(default: report.html in the study dirs' common parent).",
    ),
    results: str = typer.Option(
        None,
        "--results",
        help="Write the studies (dirs from `make study-quick`/`make study`) as one markdown file, "
        "e.g. docs/RESULTS.md, with its figures in docs/results/.",
    ),
    demo: float = typer.Option(
        None,
        "--demo",
        metavar="SECONDS",
        help="DIR is `make demo`'s output dir and SECONDS its wall time: write DIR/summary.md, the "
        "heads' accuracy and confidence under noise and the demo's targets.",
    ),
) -> None:
    """Aggregate the eval runs of a sweep into one table (metrics.md/json/csv), the figures and report.html."""
    overrides = [d for d in dirs if "=" in d and not Path(d).exists()]
    if overrides:
        render.error(
            f"camx report takes no config overrides (got {', '.join(overrides)}): it draws the figures with "
            "the sweep jobs' own figure settings (.hydra/config.yaml of each job); set them on the sweep, "
            "e.g. camx eval -m ... figure.format=pdf"
        )
        raise typer.Exit(2)
    if len(dirs) > 1 and not results:
        render.error(f"got {len(dirs)} dirs; pass one sweep dir (several only with --results)")
        raise typer.Exit(2)
    with _user_errors():
        if results:
            tasks.study_report(dirs, results, out)
        elif demo is not None:
            tasks.demo_summary(dirs[0], demo)
        else:
            tasks.report(dirs[0], out)


@app.command(
    epilog="Examples:\n\n"
    "  camx study papers --variant _quick --dry-run\n\n"
    "  camx study paper_dropkey --variant _quick --train trainer.device=cuda"
)
def study(
    name: str = typer.Argument(
        ..., help="A study config: configs/study/NAME.yaml (papers, paper_dropkey, …)."
    ),
    variant: str = typer.Option(
        "", "--variant", help="Appended to the experiments' names, e.g. _quick, _pets."
    ),
    study_dir: str = typer.Option(
        "outputs/study", "--study-dir", help="Each study writes STUDY_DIR/<experiment>."
    ),
    train: str = typer.Option(
        "hydra/launcher=parallel hydra.launcher.n_jobs=2 trainer.threads=1",
        "--train",
        help="Overrides added to every training sweep ('' on a GPU: one training at a time).",
    ),
    results: str = typer.Option(
        None, "--results", help="The report's markdown (default: the config's report)."
    ),
    command: str = typer.Option(None, "--as-command", help="How the study was started, for study.json."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands instead of running them."),
) -> None:
    """Run a study: every stage's camx command in order, each study dir's study.json, then the report."""
    with _user_errors():
        code = tasks.study(name, variant, study_dir, train, results, command, dry_run)
    if code:
        raise typer.Exit(code)


@app.command(
    cls=args.Command,
    context_settings=EXTRA,
    epilog="Examples:\n\n  camx samples outputs/demo/samples --count 4 experiment=quick   # then: camx explain "
    "outputs/demo/samples",
)
def samples(
    ctx: typer.Context,
    folder: str = typer.Argument(..., help="Folder to write the PNG files into (created if missing)."),
    count: int = typer.Option(4, "--count", "-n", min=1, help="How many test images."),
) -> None:
    """Write the first test images of a shapes preset (key=value overrides, e.g. experiment=quick) as PNG
    files, drawn like the images the preset's models were trained on."""
    with _user_errors():
        tasks.samples(folder, count, list(ctx.args))


def main() -> None:
    """Console-script entry point. The working directory is importable (last on ``sys.path``, so it
    shadows no installed package): ``--method mycams:MyCAM`` finds ``./mycams.py``, a user's own method."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        app()
    except KeyboardInterrupt:
        render.error("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
