"""What every benchmark section shares: timing, the machine description, models and inputs."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from camx.runtime import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], Any], device: torch.device, *, repeats: int, warmup: int = 1) -> dict[str, Any]:
    """Median and minimum wall time of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "min": min(times), "runs": len(times), "status": "ok"}


def timeit_paired(
    fn: Callable[[], Any], ref: Callable[[], Any], device: torch.device, *, repeats: int
) -> dict[str, Any]:
    """``fn`` and ``ref`` timed alternately, ``repeats`` pairs: medians of each and of the pair ratios.

    A burst of load on a shared machine hits both calls of a pair, so the median of ``fn/ref`` per pair
    is steadier than the ratio of two medians timed seconds apart.
    """
    fn()
    ref()
    sync(device)
    a, b = [], []
    for _ in range(max(1, repeats)):
        for call, into in ((fn, a), (ref, b)):
            start = time.perf_counter()
            call()
            sync(device)
            into.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(a),
        "min": min(a),
        "runs": len(a),
        "status": "ok",
        "bare_adjacent": statistics.median(b),
        "bare_ratio": statistics.median(x / y for x, y in zip(a, b)),
    }


def skipped(reason: str) -> dict[str, Any]:
    return {"seconds": None, "status": "skipped", "note": reason}


def failed(exc: BaseException) -> dict[str, Any]:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return {"seconds": None, "status": "failed", "note": f"{type(exc).__name__}: {first}"}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": run("rev-parse", "--short", "HEAD") or None,
        "dirty": bool(run("status", "--porcelain")),
    }


def load_note() -> str:
    """The machine's 1-minute load average now against its usable cores, as a sentence for a result's
    footnote: above the cores, other jobs shared the machine and seconds are upper bounds."""
    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = "shared with other jobs, seconds are upper bounds" if load > cores + 0.5 else "otherwise idle"
    return f"load average {load:.1f} on {cores} cores at the end ({busy})"


def machine_info() -> dict[str, Any]:
    """CPU, cores, threads, GPUs and library versions: everything the numbers depend on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "camx": _version("camx"),
        "pytorch-grad-cam": _version("grad-cam"),
        "torchcam": _version("torchcam"),
        "git": _git(),
        "cuda": torch.cuda.is_available(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else [],
    }
    return info


def command_line() -> str:
    """How this run was started, e.g. ``python benchmarks/run.py --quick`` (script path relative to the repo)."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = sys.argv[0]
    return " ".join(["python", shown, *sys.argv[1:]])


def resnet50(seed: int = 0, num_classes: int = 1000) -> torch.nn.Module:
    """The benchmark model: camx's ResNet50 (torchvision layers, plain head, output stride 32) with seeded
    random weights, in eval mode. Same module object for camx and the peers."""
    from camx.models import build_model

    torch.manual_seed(seed)
    return build_model("resnet50", "plain", num_classes, output_stride=32).eval()


def shapes_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``n`` normalised images of the embedded shapes test split at ``size`` px, (n, 3, size, size)."""
    from camx.data.shapes import ShapesDataset
    from camx.data.transforms import normalize
    from camx.options.dataset import ShapesSpec

    data = ShapesDataset("test", n, ShapesSpec(image_size=size), seed=seed)
    return normalize(torch.stack([data[i]["image"] for i in range(n)]))


def latest_checkpoint(outputs: Path, image_size: int | None = None) -> str | None:
    """A trained resnet50 checkpoint under ``outputs``, or None.

    Only finished runs whose best validation accuracy is at least twice chance count as trained (a
    smoke-test run is not). With ``image_size``, runs trained at that size come first (the run's
    ``.hydra/config.yaml``; ``make bench-model`` writes one at 224 px); then runs under
    ``outputs/demo`` (``make demo``), then the newest, the plain head preferred.
    """
    from camx.runs import find_runs

    def trained(rec: dict[str, Any]) -> bool:
        try:
            return rec.get("status") == "finished" and float(rec["best_val_accuracy"]) >= 2 / int(
                rec["num_classes"]
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return False

    def trained_size(rec: dict[str, Any]) -> int | None:
        import yaml

        try:
            cfg = yaml.safe_load((Path(rec["run_dir"]) / ".hydra" / "config.yaml").read_text())
            return int(cfg["dataset"]["image_size"])
        except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError):
            return None

    runs = [r for r in find_runs(outputs, arch="resnet50") if trained(r)]
    demo = (outputs / "demo").resolve()
    runs.sort(
        key=lambda r: (
            image_size is not None and trained_size(r) != image_size,
            demo not in Path(r["run_dir"]).resolve().parents,
            r.get("head") != "plain",
        )
    )
    return str(runs[0]["checkpoint"]) if runs else None


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux: ``VmHWM`` of ``/proc/self/status``, which starts afresh at ``exec`` (``ru_maxrss`` would
    carry over the peak of the parent that forked this process). Elsewhere ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def publish(text: str, out: Path | None) -> None:
    """Print a markdown result and, when ``out`` is given, write it there too (folders created)."""
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def steps(items: Any, description: str, total: int | None = None) -> Any:
    """``items`` with a rich progress bar and ETA on stderr (stdout keeps the markdown clean)."""
    from rich.console import Console
    from rich.progress import track

    items = list(items)
    return track(items, description=description, total=total or len(items), console=Console(stderr=True))
