"""CAM timings: camx, pytorch-grad-cam and TorchCAM on the same model and batch, plus the bare forward.

Every library explains the same module object with the same input; each extractor is built (hooks
registered) before the clock starts and removed afterwards. Targets are the predicted classes
(each library's default). camx and pytorch-grad-cam return maps at the input size; TorchCAM returns
feature-resolution maps, which are upsampled (bilinear) inside its timed call so every library
delivers the same thing. Peers run with their own defaults (pytorch-grad-cam ScoreCAM forwards 16
masked images at a time, TorchCAM 32, camx ``chunk_size="auto"``: 5 at 224 px).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from bench_common import failed, skipped, timeit
from bench_scorecam_ref import (
    LAYER,
    activations,
    count_masked_forwards,
    masked_forward_costs,
    minmax_maps,
    reference_scorecam,
)
from torch import Tensor, nn

#: camx method → {peer library: class name}; the methods the libraries share.
PEERS: dict[str, dict[str, str]] = {
    "cam": {"torchcam": "CAM"},
    "gradcam": {"pytorch-grad-cam": "GradCAM", "torchcam": "GradCAM"},
    "gradcampp": {"pytorch-grad-cam": "GradCAMPlusPlus", "torchcam": "GradCAMpp"},
    "xgradcam": {"pytorch-grad-cam": "XGradCAM", "torchcam": "XGradCAM"},
    "layercam": {"pytorch-grad-cam": "LayerCAM", "torchcam": "LayerCAM"},
    "hirescam": {"pytorch-grad-cam": "HiResCAM"},
    "smoothgradcampp": {"torchcam": "SmoothGradCAMpp"},
    "eigencam": {"pytorch-grad-cam": "EigenCAM"},
    "scorecam": {"pytorch-grad-cam": "ScoreCAM", "torchcam": "ScoreCAM"},
    "gradpp_scorecam": {},
}
#: One forward plus a backward through the head only: the methods held to ≤ 1.10× the bare forward.
GRADIENT_FAMILY = ("gradcam", "gradcampp", "xgradcam", "layercam", "hirescam")
LIBRARIES = ("camx", "pytorch-grad-cam", "torchcam")
SMOOTH_SAMPLES = 4  # smoothgradcampp: noisy samples in both libraries (TorchCAM's default)


class LogSoftmax(nn.Module):
    """Classifier → log-probabilities. Peers' Score-CAM takes a softmax over channels of the raw target
    score; on log-probabilities that becomes the paper's class probability up to a per-image factor,
    which cancels in ReLU + min–max (see tests/test_cam_agreement.py)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        return torch.log_softmax(self.inner(x), dim=1)


def camx_runner(model: nn.Module, x: Tensor, method: str, size: Any = "input") -> Callable[[], Any]:
    from camx.cam import explain

    options: dict[str, Any] = {"n_samples": SMOOTH_SAMPLES} if method == "smoothgradcampp" else {}
    return lambda: explain(model, x, method, size=size, **options)


@contextlib.contextmanager
def _pgc(model: nn.Module, x: Tensor, cls_name: str, record: dict[str, Any] | None = None):
    import pytorch_grad_cam as pgc

    cam = getattr(pgc, cls_name)(
        model=model,
        target_layers=[
            model.get_submodule(LAYER)
            if not isinstance(model, LogSoftmax)
            else model.inner.get_submodule(LAYER)
        ],
    )
    if record is not None:  # keep the channel weights of the (single) timed call
        original = cam.get_cam_weights

        def get_cam_weights(*args: Any, **kwargs: Any) -> Any:
            record["weights"] = torch.as_tensor(original(*args, **kwargs))
            return record["weights"].numpy()

        cam.get_cam_weights = get_cam_weights
    try:
        yield lambda: cam(input_tensor=x, targets=None)
    finally:
        cam.activations_and_grads.release()


@contextlib.contextmanager
def _torchcam(model: nn.Module, x: Tensor, cls_name: str, method: str, record: dict[str, Any] | None = None):
    import torchcam.methods as tcm

    prefix = "inner." if isinstance(model, LogSoftmax) else ""
    kwargs: dict[str, Any] = {"input_shape": tuple(x.shape[1:])}
    if method == "cam":
        kwargs["fc_layer"] = prefix + "head.fc"
    if method == "smoothgradcampp":
        kwargs["num_samples"] = SMOOTH_SAMPLES
    extractor = getattr(tcm, cls_name)(model, prefix + LAYER, **kwargs)
    if record is not None:
        original = extractor._get_weights

        def get_weights(*args: Any, **kw: Any) -> Any:
            record["weights"] = original(*args, **kw)[0].detach()
            return [record["weights"]]

        extractor._get_weights = get_weights
    no_grad = method in ("cam", "scorecam")

    def run() -> Tensor:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            scores = model(x)
        maps = extractor(scores.argmax(1).tolist(), scores)[0]
        return F.interpolate(
            maps.unsqueeze(1), size=x.shape[-2:], mode="bilinear", align_corners=False
        ).squeeze(1)

    try:
        yield run
    finally:
        extractor.remove_hooks()


def bare_forward(model: nn.Module, x: Tensor) -> Callable[[], Any]:
    def run() -> Tensor:
        with torch.inference_mode():
            return model(x)

    return run


def time_library(
    model: nn.Module, x: Tensor, method: str, library: str, *, repeats: int, device: torch.device
) -> dict[str, Any]:
    """One (method, library) timing; ``skipped``/``failed`` rows instead of exceptions."""
    try:
        if library == "camx":
            return timeit(camx_runner(model, x, method), device, repeats=repeats)
        cls_name = PEERS[method][library]
        factory = (
            _pgc(model, x, cls_name)
            if library == "pytorch-grad-cam"
            else _torchcam(model, x, cls_name, method)
        )
        with factory as run:
            return timeit(run, device, repeats=repeats)
    except Exception as exc:  # a peer that cannot run this case is reported, not fatal
        return failed(exc)


def scorecam_comparison(
    model: nn.Module,
    x: Tensor,
    *,
    device: torch.device,
    run_peers: bool,
    skip_reason: str,
    reference: bool = False,
    stats: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Tensor]:
    """Exact Score-CAM by each library, each run once (they take minutes), and how the peers' maps agree.

    ``reference=True`` also computes :func:`reference_scorecam` (untimed) and adds its agreement with
    camx as library ``"reference"``: the check that camx's speed-ups leave the map as defined.

    camx's map is at feature resolution (``size=None``); each peer runs on ``LogSoftmax(model)`` (the
    paper's definition, see :class:`LogSoftmax`) and its channel weights, captured during the timed
    call, give its feature-resolution map ReLU(Σ_k w_k A_k), min–max normalised like camx's.
    ``stats``, when given, receives how many masked images camx forwarded (``camx_forwards``; the peers
    forward one per channel, ``channels``) and :func:`masked_forward_costs`: together they bound what
    any exact implementation can gain over the peers on this model.
    Returns (timing rows, agreement rows, camx's map).
    """
    from camx.cam import explain

    rows: list[dict[str, Any]] = []
    holder: dict[str, Tensor] = {}

    def camx_run() -> None:
        holder["map"] = explain(model, x, "scorecam", size=None).maps

    with count_masked_forwards() as tally:
        timing = timeit(camx_run, device, repeats=1, warmup=0)
    timing["note"] = "maps at feature resolution (size=None)"
    if stats is not None:
        stats["camx_forwards"] = tally[0]
        stats["channels"] = int(activations(model, x[:1]).shape[1]) * int(x.shape[0])
        stats["per_image_ms"] = masked_forward_costs(model, x[:1])
    rows.append({"library": "camx", **timing})
    ours = holder["map"].float().cpu()
    agreement: list[dict[str, Any]] = []
    act = activations(model, x).cpu()
    if reference:
        agreement.append(_agreement("reference", reference_scorecam(model, x).cpu(), ours))
    wrapped = LogSoftmax(model).eval()
    for library, cls_name in PEERS["scorecam"].items():
        if not run_peers:
            rows.append({"library": library, **skipped(skip_reason)})
            continue
        try:
            timing, theirs = _peer_scorecam(wrapped, x, library, cls_name, act, device)
        except Exception as exc:
            rows.append({"library": library, **failed(exc)})
            continue
        rows.append({"library": library, **timing})
        agreement.append(_agreement(library, theirs, ours))
    return rows, agreement, ours


def _agreement(library: str, theirs: Tensor, ours: Tensor) -> dict[str, Any]:
    """How far ``theirs`` is from camx's map: the largest absolute difference and the mean Pearson r."""
    from camx.metrics import pearson

    return {
        "library": library,
        "max_abs_diff": float((theirs - ours).abs().max()),
        "pearson": float(pearson(theirs, ours).mean()),
    }


def _peer_scorecam(
    wrapped: nn.Module, x: Tensor, library: str, cls_name: str, act: Tensor, device: torch.device
) -> tuple[dict[str, Any], Tensor]:
    """One timed exact Score-CAM call of a peer, and its feature-resolution map from the captured weights."""
    record: dict[str, Any] = {}
    factory = (
        _pgc(wrapped, x, cls_name, record)
        if library == "pytorch-grad-cam"
        else _torchcam(wrapped, x, cls_name, "scorecam", record)
    )
    with factory as run:
        timing = timeit(run, device, repeats=1, warmup=0)
    timing["note"] = "run on LogSoftmax(model): the paper's class-probability weights"
    weights = torch.as_tensor(record["weights"]).float().cpu()
    return timing, minmax_maps(torch.einsum("bk,bkhw->bhw", weights, act).clamp_min(0))


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1).float(), size=size, mode="bilinear", align_corners=False).squeeze(
        1
    )


def gradpp_tradeoff(
    model: nn.Module,
    images: Tensor,
    exact: Tensor | None,
    *,
    device: torch.device,
    top_ks: list[int | None],
    repeats: int,
) -> dict[str, Any]:
    """Grad++ScoreCAM per ``top_k``: seconds per image (batch 1) and Pearson against exact Score-CAM.

    ``exact`` (maps of ``images`` at any resolution) is computed here when None. Pearson is over the
    input-resolution maps of each image; ``None`` means every channel with a positive Grad-CAM++ weight.
    """
    from camx.cam import explain
    from camx.metrics import pearson

    size = (int(images.shape[-2]), int(images.shape[-1]))
    result: dict[str, Any] = {"images": int(images.shape[0]), "image_size": size[0]}
    if exact is None:
        maps, seconds = [], 0.0
        for i in range(images.shape[0]):
            t = timeit(
                lambda i=i: maps.append(explain(model, images[i : i + 1], "scorecam", size=None).maps.cpu()),
                device,
                repeats=1,
                warmup=0,
            )
            seconds += t["seconds"]
        exact = torch.cat(maps)
        result["exact_seconds_per_image"] = seconds / images.shape[0]
    exact = upsample(exact.float().cpu(), size)
    rows = []
    for k in top_ks:
        per_image, scores = [], []
        for i in range(images.shape[0]):
            x = images[i : i + 1]
            holder: dict[str, Tensor] = {}

            def run(x: Tensor = x, holder: dict[str, Tensor] = holder, k: int | None = k) -> None:
                holder["map"] = explain(model, x, "gradpp_scorecam", top_k=k).maps

            t = timeit(run, device, repeats=repeats, warmup=1 if i == 0 else 0)
            per_image.append(t["seconds"])
            scores.append(float(pearson(holder["map"].float().cpu(), exact[i : i + 1]).mean()))
        rows.append(
            {
                "top_k": "all" if k is None else k,
                "seconds_per_image": sum(per_image) / len(per_image),
                "pearson_mean": sum(scores) / len(scores),
                "pearson_min": min(scores),
            }
        )
    result["rows"] = rows
    return result
