"""camx performance benchmark: ``make bench`` (= ``python benchmarks/run.py``).

In one process, on the same seeded random ResNet50 and the same input: camx, pytorch-grad-cam and
TorchCAM for every CAM method they share (batch 1 and 16, 224 px; CPU, and CUDA when present) and
the bare forward; Grad++ScoreCAM's top_k trade-off against exact Score-CAM; camx's trainer against a
bare PyTorch loop (plus channels_last, bf16 autocast, torch.compile); ``camx eval`` throughput; and,
in fresh subprocesses, the peak memory of the score family per ``chunk_size``.

Writes ``benchmarks/results/<date>.json`` (with the machine description) and regenerates
``docs/PERFORMANCE.md`` from it (:func:`render_markdown`); ``--quick`` runs leave the page alone
unless ``--docs`` is given. Options: ``--quick`` (batch 1, few repeats, no peer Score-CAM, no
torch.compile), ``--full`` (more repeats and images, batch-16 exact Score-CAM), ``--render FILE``
(re-render the page from a results file), ``--cpu-only``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's ScoreCAM draws progress bars
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from bench_common import (  # noqa: E402
    ROOT,
    command_line,
    machine_info,
)
from bench_report import evaluate_targets, print_tables, render_markdown  # noqa: E402
from bench_sections import (  # noqa: E402
    PLANS,
    cam_section,
    eval_peers_section,
    gradpp_section,
    memory_section,
    trained_scorecam_section,
)
from bench_train import evaluation, training  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "PERFORMANCE.md"
TRAIN_CONFIG = ["experiment=quick"]  # the recipe `make demo` trains on a CPU


def _console() -> Any:
    from rich.console import Console

    return Console()


def stage_bar(console: Any) -> Any:
    """A rich progress bar over the benchmark's sections, with elapsed time and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    return Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), console=console)


def write(data: dict[str, Any], docs: bool, log: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    path = RESULTS / f"{stamp}{'' if data['mode'] == 'default' else '_' + data['mode']}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {path.relative_to(ROOT)}")
    if docs:
        DOCS.parent.mkdir(parents=True, exist_ok=True)
        DOCS.write_text(render_markdown(data, str(path.relative_to(ROOT))))
        log(f"wrote {DOCS.relative_to(ROOT)}")
    return path


def latest_result() -> Path | None:
    """The newest results file of a non-quick run."""
    files = sorted(p for p in RESULTS.glob("*.json") if not p.stem.endswith("_quick"))
    return files[-1] if files else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="batch 1, few repeats, no peer Score-CAM, no torch.compile"
    )
    mode.add_argument("--full", action="store_true", help="more repeats and images, batch-16 exact Score-CAM")
    mode.add_argument(
        "--render",
        nargs="?",
        const="latest",
        metavar="JSON",
        help="only regenerate docs/PERFORMANCE.md from a results file (default: the newest)",
    )
    parser.add_argument(
        "--docs", action="store_true", help="regenerate docs/PERFORMANCE.md after a --quick run too"
    )
    parser.add_argument("--cpu-only", action="store_true", help="skip the CUDA measurements")
    parser.add_argument(
        "--checkpoint",
        help="trained camx checkpoint for the Grad++ScoreCAM trade-off (default: the newest trained resnet50 "
        "under outputs/, make demo's first; none → the random ResNet50)",
    )
    parser.add_argument(
        "--image-size", type=int, default=224, help=argparse.SUPPRESS
    )  # smoke-testing the script
    return parser


def render(which: str, log: Any) -> None:
    """Regenerate docs/PERFORMANCE.md from a results file (``latest``: the newest)."""
    path = latest_result() if which == "latest" else Path(which)
    data = json.loads(path.read_text()) if path else None
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(render_markdown(data, str(path.resolve().relative_to(ROOT)) if path else None))
    log(f"wrote {DOCS.relative_to(ROOT)} from {path or 'no results (template)'}")


def main() -> None:
    args = _parser().parse_args()
    console = _console()

    def log(message: str) -> None:
        console.log(message)

    if args.render is not None:
        render(args.render, log)
        return
    name = "quick" if args.quick else "full" if args.full else "default"
    plan = PLANS[name]
    size = args.image_size
    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.cpu_only:
        devices.append(torch.device("cuda"))
    data: dict[str, Any] = {
        "schema": "camx-bench-1",
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command_line(),
        "mode": name,
        "machine": machine_info(),
        "plan": plan,
        "image_size": size,
        "cam": [],
        "scorecam_agreement": [],
    }
    m = data["machine"]
    log(
        f"{name} run on {m['cpu']} ({m['usable_cores']} cores, {m['torch_threads']} torch threads), "
        f"torch {m['torch']}, devices: {', '.join(d.type for d in devices)}"
    )

    run_sections(data, plan, devices, size, args.checkpoint, console, log)
    data["targets"] = evaluate_targets(data)
    print_tables(data, console)
    write(data, docs=name != "quick" or args.docs, log=log)


def run_sections(
    data: dict[str, Any],
    plan: dict[str, Any],
    devices: list[torch.device],
    size: int,
    checkpoint: str | None,
    console: Any,
    log: Any,
) -> None:
    """Every measurement into ``data``, under a progress bar."""
    train_device = "cuda" if "cuda" in [d.type for d in devices] else "cpu"
    # seven sections: CAM, trade-off, trained Score-CAM, train, eval, eval against the peers, memory
    with stage_bar(console) as bar:
        task = bar.add_task("make bench", total=7)
        cam = cam_section(data, plan, devices, size, log)
        bar.advance(task)
        gradpp_section(data, plan, cam, size, log, checkpoint)
        bar.advance(task)
        trained_scorecam_section(data, plan, size, log, checkpoint)
        bar.advance(task)
        data["training"] = training(
            TRAIN_CONFIG,
            warmup=plan["train_warmup"],
            steps=plan["train_steps"],
            device=train_device,
            compile_ok=plan["compile"],
            reporter=log,
        )
        bar.advance(task)
        data["eval"] = evaluation(TRAIN_CONFIG, images=plan["eval_images"], device=train_device, reporter=log)
        bar.advance(task)
        data["eval_peers"] = eval_peers_section(plan, log)
        bar.advance(task)
        memory_section(data, plan, size, log)
        bar.advance(task)


if __name__ == "__main__":
    main()
