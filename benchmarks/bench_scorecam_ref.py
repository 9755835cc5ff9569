"""The exact Score-CAM reference the benchmarks compare against (every channel, masks at the input
size, the model as given), and the counters that bound a score method's cost: masked forwards per image
and the cost of one masked forward (inference copy and model as given)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LAYER = "layer4"  #: the ResNet50 target layer every benchmark explains


def activations(model: nn.Module, x: Tensor) -> Tensor:
    store: dict[str, Tensor] = {}
    handle = model.get_submodule(LAYER).register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    try:
        with torch.inference_mode():
            model(x)
    finally:
        handle.remove()
    return store["a"].detach().float().clone()


def minmax_maps(maps: Tensor) -> Tensor:
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
    return minmax_maps(torch.stack(maps))


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
