"""The measured sections of ``make bench`` (benchmarks/run.py): CAM cost against the peers, the
Grad++ScoreCAM trade-off, exact Score-CAM on a trained model, eval throughput and peak memory.
Each section fills ``data`` (the JSON result) and reports through ``log``."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's ScoreCAM draws progress bars
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from bench_cam import (  # noqa: E402
    PEERS,
    bare_forward,
    camx_runner,
    gradpp_tradeoff,
    scorecam_comparison,
    time_library,
    upsample,
)
from bench_common import (  # noqa: E402
    ROOT,
    command_line,
    latest_checkpoint,
    resnet50,
    shapes_images,
    skipped,
    timeit,
    timeit_paired,
)

PLANS: dict[str, dict[str, Any]] = {
    "quick": {
        "batches": [1],
        "repeats": 2,
        "paired_repeats": 3,
        "peer_scorecam_batches": [],
        "camx_scorecam_batches": [1],
        "tradeoff_images": 1,
        "tradeoff_repeats": 1,
        "memory_chunks": ["auto", 32],
        "memory_peer": False,
        "train_warmup": 2,
        "train_steps": 3,
        "compile": False,
        "eval_images": 16,
        "eval_peer_images": 4,
    },
    "default": {
        "batches": [1, 16],
        "repeats": 5,
        "paired_repeats": 15,
        "peer_scorecam_batches": [1],
        "camx_scorecam_batches": [1],
        "tradeoff_images": 4,
        "tradeoff_repeats": 3,
        "memory_chunks": [4, 8, 16, 64, "auto"],
        "memory_peer": False,
        "train_warmup": 3,
        "train_steps": 10,
        "compile": True,
        "eval_images": 64,
        "eval_peer_images": 64,
    },
    "full": {
        "batches": [1, 16],
        "repeats": 10,
        "paired_repeats": 30,
        "peer_scorecam_batches": [1],
        "camx_scorecam_batches": [1, 16],
        "tradeoff_images": 8,
        "tradeoff_repeats": 5,
        "memory_chunks": [4, 8, 16, 32, 64, 128, "auto"],
        "memory_peer": True,
        "train_warmup": 3,
        "train_steps": 15,
        "compile": True,
        "eval_images": 200,
        "eval_peer_images": 64,
    },
}
TOP_KS: list[int | None] = [8, 16, 32, 64, None]


def _family(method: str) -> str:
    if method in ("scorecam", "gradpp_scorecam"):
        return "score"
    if method in ("cam", "eigencam"):
        return "activation"
    return "gradient"


def _gradpp_default_top_k() -> int | None:
    from camx.cam.score import GradPlusPlusScoreCAM

    return inspect.signature(GradPlusPlusScoreCAM.__init__).parameters["top_k"].default


def cam_section(
    data: dict[str, Any], plan: dict[str, Any], devices: list[torch.device], size: int, log: Any
) -> dict[str, Any]:
    """CAM timings for every device and batch; returns camx's exact Score-CAM maps per device (batch 1)."""
    model = resnet50()
    images = shapes_images(max(plan["batches"]), size)
    exact: dict[str, Any] = {}
    for device in devices:
        model = model.to(device)
        for batch in plan["batches"]:
            x = images[:batch].to(device)
            log(f"{device.type}, batch {batch}: warm-up and bare forward")
            timeit(bare_forward(model, x), device, repeats=1, warmup=3)  # first calls pay one-off setup
            time_library(model, x, "gradcam", "camx", repeats=1, device=device)
            before = timeit(bare_forward(model, x), device, repeats=plan["repeats"])
            block: dict[str, Any] = {"device": device.type, "batch": batch, "image_size": size, "methods": []}
            for method, peers in PEERS.items():
                log(f"{device.type}, batch {batch}: {method}")
                if method == "scorecam":
                    results = _scorecam_results(data, block, plan, model, x, exact)
                else:
                    results = _timed_results(plan, model, x, method, peers)
                block["methods"].append({"method": method, "family": _family(method), "results": results})
            # the reference is the faster of two bare-forward timings, before and after the methods
            after = timeit(bare_forward(model, x), device, repeats=plan["repeats"], warmup=0)
            block["bare_forward"] = {
                **min(before, after, key=lambda r: r["seconds"]),
                "before": before["seconds"],
                "after": after["seconds"],
            }
            data["cam"].append(block)
    return {"model": model.cpu(), "images": images, "exact": exact}


def _timed_results(
    plan: dict[str, Any], model: torch.nn.Module, x: torch.Tensor, method: str, peers: Any
) -> dict[str, Any]:
    """camx's time paired with the bare forward, then each peer's time, for one method."""
    # camx and the bare forward alternate, call by call, so a burst of machine load
    # hits both sides of a ratio (bare_ratio: the median of the per-pair ratios)
    device = x.device
    results = {
        "camx": timeit_paired(
            camx_runner(model, x, method), bare_forward(model, x), device, repeats=plan["paired_repeats"]
        )
    }
    for lib in peers:
        results[lib] = time_library(model, x, method, lib, repeats=plan["repeats"], device=device)
    return results


def _scorecam_results(
    data: dict[str, Any],
    block: dict[str, Any],
    plan: dict[str, Any],
    model: torch.nn.Module,
    x: torch.Tensor,
    exact: dict[str, Any],
) -> dict[str, Any]:
    """Exact Score-CAM by camx and the peers (or why not), its agreement, and camx's batch-1 maps."""
    device, batch = x.device, block["batch"]
    if batch not in plan["camx_scorecam_batches"] and device.type == "cpu":
        reason = "exact Score-CAM at this batch runs with --full only (minutes per image)"
        return {lib: skipped(reason) for lib in ("camx", *PEERS["scorecam"])}
    run_peers = batch in plan["peer_scorecam_batches"] or device.type == "cuda"
    reason = (
        "--quick"
        if not plan["peer_scorecam_batches"]
        else "peers at batch > 1: pytorch-grad-cam materialises B·C·3·H·W floats "
        "(19 GB at batch 16) and both take B× the batch-1 time"
    )
    stats: dict[str, Any] = {}
    # the "same map" half is judged against the paper's definition computed plainly
    # (the peers' maps differ from it by definition; see "How it is measured")
    rows, agreement, ours = scorecam_comparison(
        model,
        x,
        device=device,
        run_peers=run_peers,
        skip_reason=reason,
        reference=run_peers and batch == 1,
        stats=stats,
    )
    block["scorecam_forwards"] = stats
    data["scorecam_agreement"] += [{**a, "device": device.type, "batch": batch} for a in agreement]
    if batch == 1:
        exact[device.type] = ours
    return {r.pop("library"): r for r in rows}


def _cpu_batch1(data: dict[str, Any], method: str) -> dict[str, Any] | None:
    """The CPU batch-1 row of ``method`` in the CAM timings."""
    return next(
        (
            r
            for b in data["cam"]
            if b["device"] == "cpu" and b["batch"] == 1
            for r in b["methods"]
            if r["method"] == method
        ),
        None,
    )


def gradpp_section(
    data: dict[str, Any],
    plan: dict[str, Any],
    cam: dict[str, Any],
    size: int,
    log: Any,
    checkpoint: str | None,
) -> None:
    """Grad++ScoreCAM: its headline (random ResNet50 at ``size``) and its top_k trade-off."""
    from camx.cam import explain
    from camx.metrics import pearson

    model, images = cam["model"], cam["images"]
    row = _cpu_batch1(data, "gradpp_scorecam")
    head: dict[str, Any] = {
        "image_size": size,
        "model": "random ResNet50 (seed 0)",
        "seconds_per_image": (row or {}).get("results", {}).get("camx", {}).get("seconds"),
    }
    if "cpu" in cam["exact"]:
        ours = explain(model, images[:1], "gradpp_scorecam").maps
        ref = upsample(cam["exact"]["cpu"][:1], (size, size))
        head["pearson_vs_scorecam"] = float(pearson(ours, ref).mean())
    ckpt = checkpoint or latest_checkpoint(ROOT / "outputs")
    trade = _trained_tradeoff(ckpt, plan, log) if ckpt else _random_tradeoff(data, plan, cam, size, log)
    data["gradpp"] = {"default_top_k": _gradpp_default_top_k(), "headline": head, "tradeoff": trade}


def _trained_tradeoff(ckpt: str, plan: dict[str, Any], log: Any) -> dict[str, Any]:
    """The top_k trade-off on a trained checkpoint's own test images, at its own size."""
    from camx.checkpoint import load_checkpoint
    from camx.data.datasets import build_dataset
    from camx.data.transforms import normalize

    trained, meta = load_checkpoint(ckpt)
    dcfg = dict(
        (meta.get("config") or {}).get("dataset")
        or {"name": "shapes", "image_size": meta.get("image_size", 64)}
    )
    data_set = build_dataset(dcfg, "test")
    n = min(plan["tradeoff_images"], len(data_set))
    x = normalize(torch.stack([data_set[i]["image"] for i in range(n)]))
    log(f"gradpp trade-off on {ckpt} ({n} image(s) at {x.shape[-1]} px)")
    cpu = torch.device("cpu")
    trade = gradpp_tradeoff(trained, x, None, device=cpu, top_ks=TOP_KS, repeats=plan["tradeoff_repeats"])
    shown = Path(ckpt).resolve()
    shown = shown.relative_to(ROOT) if ROOT in shown.parents else shown
    trade.update(model=f"trained checkpoint {shown} ({meta['arch']}/{meta['head']})", trained=True)
    return trade


def _random_tradeoff(
    data: dict[str, Any], plan: dict[str, Any], cam: dict[str, Any], size: int, log: Any
) -> dict[str, Any]:
    """The top_k trade-off on the random ResNet50, against camx's exact maps (computed where missing)."""
    from camx.cam import explain

    model, images = cam["model"], cam["images"]
    n = plan["tradeoff_images"]
    log(f"gradpp trade-off on the random ResNet50 ({n} image(s) at {size} px; no checkpoint under outputs/)")
    exact = cam["exact"].get("cpu")
    if exact is not None and n > 1:
        rest = torch.cat([explain(model, images[i : i + 1], "scorecam", size=None).maps for i in range(1, n)])
        exact = torch.cat([exact[:1], rest])
    trade = gradpp_tradeoff(
        model,
        images[:n],
        exact[:n] if exact is not None else None,
        device=torch.device("cpu"),
        top_ks=TOP_KS,
        repeats=plan["tradeoff_repeats"],
    )
    trade.update(model="random ResNet50 (seed 0) — no trained checkpoint under outputs/", trained=False)
    if exact is not None:
        trade["exact_seconds_per_image"] = (
            ((_cpu_batch1(data, "scorecam") or {}).get("results", {})).get("camx", {}).get("seconds")
        )
    return trade


def trained_scorecam_section(
    data: dict[str, Any], plan: dict[str, Any], size: int, log: Any, checkpoint: str | None
) -> None:
    """Exact Score-CAM by camx and both peers on a *trained* ResNet50 (batch 1, CPU): a trained network's
    activations are sparse, unlike a random one's, and that is the case the ≥ 2× target is about."""
    ckpt = checkpoint or latest_checkpoint(ROOT / "outputs", image_size=size)
    if not ckpt:
        log(
            "exact Score-CAM on a trained ResNet50: skipped (no trained checkpoint under outputs/; run make demo)"
        )
        return
    from camx.checkpoint import load_checkpoint

    trained, meta = load_checkpoint(ckpt)
    trained = trained.eval()
    x = shapes_images(1, size, seed=1)
    shown = Path(ckpt).resolve()
    shown = shown.relative_to(ROOT) if ROOT in shown.parents else shown
    trained_size = ((meta.get("config") or {}).get("dataset") or {}).get("image_size")
    log(f"exact Score-CAM on the trained {meta['arch']}/{meta['head']} ({shown}) at {size} px")
    run_peers = bool(plan["peer_scorecam_batches"])
    stats: dict[str, Any] = {}
    rows, agreement, exact = scorecam_comparison(
        trained,
        x,
        device=torch.device("cpu"),
        run_peers=run_peers,
        skip_reason="--quick",
        reference=run_peers,
        stats=stats,
    )
    log(f"Grad++ScoreCAM against that exact map at {size} px (top_k {TOP_KS})")
    gradpp = gradpp_tradeoff(trained, x, exact, device=torch.device("cpu"), top_ks=TOP_KS, repeats=1)
    data["scorecam_trained"] = {
        "model": f"{shown} ({meta['arch']}/{meta['head']}, trained at {trained_size} px)",
        "image_size": size,
        "results": {r.pop("library"): r for r in rows},
        "agreement": agreement,
        "forwards": stats,
        "gradpp": gradpp,
    }


def eval_peers_section(plan: dict[str, Any], log: Any) -> dict[str, Any]:
    """``camx eval`` against pytorch-grad-cam + TorchCAM in a plain loop (benchmarks/bench_eval.py), and
    docs/results/eval_throughput.md from it (not after --quick)."""
    import bench_eval
    from bench_common import publish

    n = plan["eval_peer_images"]
    log(
        f"eval grid against the peers: {n} photos × {len(bench_eval.METHODS)} methods × clean + 3 noise levels"
    )
    res = bench_eval.run(n, bench_eval.SIZE, list(bench_eval.METHODS), list(bench_eval.LEVELS), 16, 32)
    if plan is not PLANS["quick"]:
        publish(bench_eval.markdown(res, command_line()), bench_eval.RESULT)
    return res


MEMORY_TOP_K = 64  # scorecam channels per memory probe: enough for several chunks, seconds not minutes


def memory_section(data: dict[str, Any], plan: dict[str, Any], size: int, log: Any) -> None:
    chunks = plan["memory_chunks"]
    probes: list[tuple[str, int | str, int | None]] = [("scorecam", c, MEMORY_TOP_K) for c in chunks]
    probes.append(("gradpp_scorecam", "auto", None))
    if plan["memory_peer"]:
        probes.append(("pytorch-grad-cam", 0, None))
    rows = []
    for method, chunk, top_k in probes:
        log(f"memory: {method} chunk_size={chunk}")
        cmd = [
            sys.executable,
            str(Path(__file__).with_name("bench_memory.py")),
            "--method",
            method,
            "--chunk",
            str(chunk),
            "--size",
            str(size),
            "--threads",
            str(torch.get_num_threads()),
        ]
        if top_k is not None:
            cmd += ["--top-k", str(top_k)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        try:
            row = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            row = {
                "method": method,
                "chunk_size": chunk,
                "top_k": top_k,
                "status": "failed",
                "note": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200],
            }
        if method == "pytorch-grad-cam":
            row["method"] = "pytorch-grad-cam ScoreCAM"
        rows.append(row)
    data["memory"] = {"image_size": size, "rows": rows}
