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
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from bench_common import failed, skipped, timeit
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
LAYER = "layer4"


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


def activations(model: nn.Module, x: Tensor) -> Tensor:
    store: dict[str, Tensor] = {}
    handle = model.get_submodule(LAYER).register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    try:
        with torch.inference_mode():
            model(x)
    finally:
        handle.remove()
    return store["a"].detach().float().clone()


def _minmax(maps: Tensor) -> Tensor:
    flat = maps.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1), flat.max(1).values.view(-1, 1, 1)
    return (maps - lo) / (hi - lo).clamp_min(1e-12)


def reference_scorecam(model: nn.Module, x: Tensor, chunk: int = 16) -> Tensor:
    """Exact Score-CAM as the paper defines it, written plainly, at feature resolution and min–max normalised.

    α_k = softmax(f(X ⊙ s(Up(A_k))))_c with c the predicted class, Up bilinear (align_corners=False) to
    the input size and s min–max (a map whose range is ≤ 1e-6·max|A| counts as constant: a zero mask);
    L = ReLU(Σ_k α_k A_k). Every channel is forwarded through the model as given — BatchNorm not
    folded, default memory format, no deduplication — so camx's map must match it to float rounding.
    """
    act = activations(model, x)
    maps = []
    with torch.inference_mode():
        target = model(x).argmax(1)
        for b in range(x.shape[0]):
            up = F.interpolate(act[b][:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)
            flat = up.flatten(1)
            lo, hi = flat.min(1).values, flat.max(1).values
            constant = (hi - lo) <= torch.maximum(hi.abs(), lo.abs()) * 1e-6
            span = torch.where(constant, torch.ones_like(hi), hi - lo)
            masks = torch.where(
                constant[:, None], torch.zeros_like(flat), (flat - lo[:, None]) / span[:, None]
            )
            masks = masks.view_as(up)
            alpha = torch.cat(
                [
                    torch.softmax(model(x[b : b + 1] * masks[i : i + chunk]), dim=1)[:, target[b]]
                    for i in range(0, masks.shape[0], chunk)
                ]
            )
            maps.append(torch.einsum("k,khw->hw", alpha, act[b]).clamp_min(0))
    return _minmax(torch.stack(maps))


@contextlib.contextmanager
def count_masked_forwards() -> Iterator[list[int]]:
    """Count the masked images camx's Score-CAM forwards (``[n]``, filled while the block runs).

    Wraps ``camx.cam.score._forward_probs``, the one call every masked chunk goes through; the cost
    is an integer addition per chunk.
    """
    import camx.cam.score as score

    tally = [0]
    original = score._forward_probs

    def counting(model: nn.Module, x: Tensor, what: str) -> Tensor:
        tally[0] += int(x.shape[0])
        return original(model, x, what)

    score._forward_probs = counting
    try:
        yield tally
    finally:
        score._forward_probs = original


def masked_forward_costs(model: nn.Module, x: Tensor, repeats: int = 3) -> dict[str, float]:
    """Milliseconds per masked image (batch of masked copies of ``x[:1]``, best of ``repeats``):
    camx's inference copy (BatchNorm folded, channels-last) in camx's automatic chunk, and the model as
    given in pytorch-grad-cam's (16) and TorchCAM's (32) batch sizes.

    Exact Score-CAM forwards one masked image per channel in every library, so the ratio of these
    costs, times the ratio of forwards, is the most an exact implementation can be faster by.
    """
    from camx.cam.inference import inference_copy, inference_layout
    from camx.cam.score import chunk_for

    size = (int(x.shape[-2]), int(x.shape[-1]))
    fast = inference_copy(model)
    auto = chunk_for("auto", size, x.device)
    layout = inference_layout(x.device)
    cases = {
        f"camx (chunk {auto})": (fast, auto, layout),
        "model as given (batch 16)": (model, 16, torch.contiguous_format),
        "model as given (batch 32)": (model, 32, torch.contiguous_format),
    }
    out: dict[str, float] = {}
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for name, (net, batch, fmt) in cases.items():
            masks = torch.rand(batch, 1, *size, generator=gen).to(x.device)
            batch_x = (x[:1] * masks).contiguous(memory_format=fmt)
            net(batch_x)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                net(batch_x)
                best = min(best, time.perf_counter() - start)
            out[name] = 1000 * best / batch
    return out


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
    return timing, _minmax(torch.einsum("bk,bkhw->bhw", weights, act).clamp_min(0))


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
