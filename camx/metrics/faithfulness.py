"""Faithfulness metrics: does the model's score follow the pixels the map calls important?

``forward`` is any callable mapping a batch of [0, 1] images (B, 3, H, W) to class probabilities
(B, K); it normalises and runs the model itself, so these functions stay model-agnostic. Maps are
(B, H, W) (or (B, 1, H, W)) in [0, 1]; maps of another size are resized bilinearly to the images.
Every function returns one value per image, (B,); means over images are the usual scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from camx.data.transforms import IMAGENET_MEAN
from camx.errors import check_choice, plural
from camx.perturb import gaussian_blur

Forward = Callable[[Tensor], Tensor]
SUBSTRATES: tuple[str, ...] = ("blur", "black", "mean")
# RISE's insertion substrate: a Gaussian blur with kernel size 11 and sigma 5.
_RISE_BLUR_SIGMA = 5.0
_RISE_BLUR_RADIUS = 5


def _maps_like(maps: Tensor, images: Tensor) -> Tensor:
    """Maps as float (B, H, W) at the images' size."""
    if maps.ndim == 3:
        maps = maps.unsqueeze(1)
    if maps.ndim != 4 or maps.shape[1] != 1 or maps.shape[0] != images.shape[0]:
        raise ValueError(
            f"maps must be (B, H, W) or (B, 1, H, W) with B={images.shape[0]}, got {tuple(maps.shape)}"
        )
    maps = maps.to(device=images.device, dtype=images.dtype)
    if maps.shape[-2:] != images.shape[-2:]:
        maps = F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return maps[:, 0]


def _targets(targets: Tensor | Sequence[int], b: int, device: torch.device) -> Tensor:
    t = torch.as_tensor(targets, dtype=torch.long, device=device).reshape(-1)
    if t.numel() != b:
        raise ValueError(
            f"targets has {plural(t.numel(), 'entry', 'entries')} but the batch has {plural(b, 'image')}"
        )
    return t


def _probs_of(forward: Forward, images: Tensor, targets: Tensor, chunk_size: int) -> Tensor:
    """p_{targets[i]}(images[i]) for every image, running ``forward`` on chunks."""
    out = []
    with torch.no_grad():
        for s in range(0, images.shape[0], chunk_size):
            p = forward(images[s : s + chunk_size])
            out.append(p.gather(1, targets[s : s + chunk_size, None].to(p.device)).squeeze(1).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


def target_probs(
    forward: Forward, images: Tensor, targets: Tensor | Sequence[int], chunk_size: int = 64
) -> Tensor:
    """(B,) p_{targets[i]}(images[i]) on the CPU, ``forward`` run on chunks of ``chunk_size`` images."""
    return _probs_of(forward, images, _targets(targets, images.shape[0], images.device), chunk_size)


def average_drop_increase(
    forward: Forward,
    images: Tensor,
    maps: Tensor,
    targets: Tensor | Sequence[int],
    base_probs: Tensor | None = None,
    *,
    fill: float | Sequence[float] | Tensor = IMAGENET_MEAN,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """Per-image drop and increase in confidence when the image is masked by its map.

    With Y = p_c(x) and O = p_c(x ⊙ map):
        drop_i     = max(0, Y − O) / Y · 100      (0 when Y = 0)
        increase_i = 100 · [O > Y]
    These are the Grad-CAM++ definitions (Chattopadhay et al., WACV 2018) that the Grad++ScoreCAM
    paper (IEEE Access 2024, §IV-A) uses; their means over images are "Average Drop %" (lower is
    better) and "Increase in Confidence %" (higher is better).

    "x ⊙ map" is taken where the model sees it, as in the reference codes (Score-CAM's, and
    pytorch-grad-cam's ``DropInConfidence``/``IncreaseInConfidence``, which multiply the *normalised*
    input): the [0, 1] image becomes ``fill + (x − fill) · map``, and with ``fill`` the mean of the
    model's normalisation (default: ImageNet's, camx's models) the model's input is exactly
    ``normalize(x) · map`` — where the map is 0 the pixel is the mean colour. ``fill=0.0`` gives the
    literal product of the [0, 1] image and the map (a black substrate). pytorch-grad-cam reports
    max(0, Y − O) without the division by Y.

    Args:
        base_probs: Y, either (B,) already for the target class or (B, K) probabilities of the clean
            images; computed with ``forward`` if None.
        fill: the colour of a pixel whose map value is 0: a number, or one value per channel.

    Returns:
        (drop, increase), each a (B,) float tensor in percent, on the CPU.
    """
    b = images.shape[0]
    t = _targets(targets, b, images.device)
    m = _maps_like(maps, images)
    y = (
        _probs_of(forward, images, t, chunk_size)
        if base_probs is None
        else _target_probs(base_probs, t, "base_probs")
    )
    f = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)
    o = _probs_of(forward, f + (images - f) * m[:, None], t, chunk_size)
    drop = torch.where(
        y > 0, (y - o).clamp_min(0) / torch.where(y > 0, y, torch.ones_like(y)) * 100, torch.zeros_like(y)
    )
    increase = (o > y).float() * 100
    return drop, increase


def _substrate(images: Tensor, substrate: str) -> Tensor:
    if substrate == "black":
        return torch.zeros_like(images)
    if substrate == "mean":
        return images.mean(dim=(2, 3), keepdim=True).expand_as(images).clone()
    # RISE: a Gaussian blur with kernel size 11 (radius 5) and sigma 5 on every channel.
    return gaussian_blur(images, _RISE_BLUR_SIGMA, radius=_RISE_BLUR_RADIUS)


def deletion_insertion_ends(
    forward: Forward,
    images: Tensor,
    targets: Tensor | Sequence[int],
    substrate: str = "blur",
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """(p_c(black), p_c(canvas)), each (B,) on the CPU: the points of the deletion and insertion curves that
    do not depend on the map, so one evaluation serves every method's maps of the same images (pass it as
    :func:`deletion_insertion_auc`'s ``ends``). The all-black image is the same for every image: it is
    forwarded once; with ``substrate="black"`` the canvas is that image too."""
    check_choice("substrate", substrate, SUBSTRATES)
    b = images.shape[0]
    t = _targets(targets, b, images.device)
    with torch.no_grad():
        p = forward(torch.zeros_like(images[:1]))
    black = p[0].float().cpu()[t.cpu()]
    if substrate == "black":
        return black, black.clone()
    return black, _probs_of(forward, _substrate(images, substrate), t, chunk_size)


def _target_probs(probs: Tensor, t: Tensor, what: str) -> Tensor:
    """(B,) p_c from (B,) values already for the target class or (B, K) probabilities."""
    if probs.ndim == 2:
        y = probs.detach().gather(1, t[:, None].to(probs.device)).squeeze(1)
    else:
        y = probs.detach().reshape(-1)
    if y.numel() != t.numel():
        raise ValueError(
            f"{what} gives {plural(y.numel(), 'value')} but the batch has {plural(t.numel(), 'image')}"
        )
    return y.float().cpu()


def deletion_insertion_auc(
    forward: Forward,
    images: Tensor,
    maps: Tensor,
    targets: Tensor | Sequence[int],
    steps: int = 16,
    chunk_size: int = 64,
    substrate: str = "blur",
    *,
    base_probs: Tensor | None = None,
    ends: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Deletion and insertion AUCs (Petsiuk et al., BMVC 2018, "RISE", §4.1).

    Pixels are ranked by the map, highest first (ties: row-major order). For k = 0 … ``steps`` the
    top n_k = round(k/steps · H·W) pixels are
      - deletion: replaced by black (0) in the image, so the curve starts at p_c(x) and ends at
        p_c(black);
      - insertion: copied from the image onto a start canvas, so the curve starts at
        p_c(canvas) and ends at p_c(x). The canvas is ``substrate``: "blur" (RISE's choice: the
        image blurred by a Gaussian with kernel 11 and σ = 5), "black" or "mean" (the image's mean
        colour).
    The AUC is the trapezoid mean of p_c over the fractions in [0, 1]:
        AUC = (p_0/2 + p_1 + … + p_{S−1} + p_S/2) / S.
    Lower deletion and higher insertion are better. RISE's reference code zeroes the *normalised*
    tensor for deletion, which is the dataset-mean colour; camx deletes to true black (0 in [0, 1]
    space), independent of the normalisation inside ``forward``.

    The two ends of both curves do not depend on the map: p_c(x) (``base_probs``: (B,) for the target
    class or (B, K), e.g. the prediction's own) and p_c(black), p_c(canvas) (``ends``, from
    :func:`deletion_insertion_ends`, shared by every method's maps of the same images); what is not
    given is computed with ``forward``. The 2·(S − 1)·B interior copies go through ``forward`` in chunks
    of ``chunk_size``, built chunk by chunk so memory stays at one chunk.

    Returns:
        (deletion, insertion), each a (B,) float tensor on the CPU.
    """
    check_choice("substrate", substrate, SUBSTRATES)
    if int(steps) < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size}")
    steps, chunk_size = int(steps), int(chunk_size)
    b, _, h, w = images.shape
    n = h * w
    t = _targets(targets, b, images.device)
    rank = _pixel_ranks(_maps_like(maps, images).reshape(b, n))
    counts = torch.tensor([round(k * n / steps) for k in range(1, steps)], device=images.device)
    y = (
        _probs_of(forward, images, t, chunk_size)
        if base_probs is None
        else _target_probs(base_probs, t, "base_probs")
    )
    black, start = (
        deletion_insertion_ends(forward, images, t, substrate, chunk_size) if ends is None else ends
    )
    black, start = _target_probs(black, t, "ends"), _target_probs(start, t, "ends")
    canvas = None if substrate == "black" else _substrate(images, substrate)
    inner = _curves(forward, images, canvas, rank, counts, t, chunk_size)
    dele = torch.cat([y[:, None], inner[0], black[:, None]], dim=1)
    ins = torch.cat([start[:, None], inner[1], y[:, None]], dim=1)
    return _trapezoid_auc(dele), _trapezoid_auc(ins)


def _pixel_ranks(m: Tensor) -> Tensor:
    """(B, N) rank of every pixel of each flattened map, 0 for the highest (ties: row-major order)."""
    b, n = m.shape
    order = torch.argsort(m, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n, device=m.device).expand(b, n))
    return rank


def _curves(
    forward: Forward,
    images: Tensor,
    canvas: Tensor | None,
    rank: Tensor,
    counts: Tensor,
    t: Tensor,
    chunk_size: int,
) -> tuple[Tensor, Tensor]:
    """(deletion, insertion) p_c at the interior steps, each (B, len(counts)): the top ``counts[k]`` pixels of
    the image replaced by black, and copied onto ``canvas`` (None: black). The copies of every (curve,
    image, step) are built and forwarded ``chunk_size`` at a time, deletion and insertion in the same chunks."""
    b, _, h, w = images.shape
    k = len(counts)
    total = 2 * b * k
    job = torch.arange(total, device=images.device)
    curve, img_idx, step_idx = job // (b * k), (job // k) % b, job % k
    probs = torch.empty(total)
    with torch.no_grad():
        for s in range(0, total, chunk_size):
            cc, ii, kk = (
                curve[s : s + chunk_size, None, None, None],
                img_idx[s : s + chunk_size],
                step_idx[s : s + chunk_size],
            )
            top = (rank[ii] < counts[kk][:, None]).reshape(-1, 1, h, w)
            # deletion (curve 0) keeps the image off the top pixels, insertion (curve 1) on them
            use = top == (cc == 1)
            rest = images.new_zeros(()) if canvas is None else torch.where(cc == 0, 0.0, canvas[ii])
            x = torch.where(use, images[ii], rest)
            p = forward(x)
            probs[s : s + chunk_size] = p.gather(1, t[ii][:, None].to(p.device)).squeeze(1).float().cpu()
    probs = probs.reshape(2, b, k)
    return probs[0], probs[1]


def _trapezoid_auc(p: Tensor) -> Tensor:
    """Trapezoid mean of each row of ``p`` over S equal steps: (p_0/2 + p_1 + … + p_{S−1} + p_S/2) / S."""
    steps = p.shape[1] - 1
    return (p.sum(dim=1) - p[:, 0] / 2 - p[:, -1] / 2) / steps
