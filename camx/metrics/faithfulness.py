"""Faithfulness metrics: does the model's score follow the pixels the map calls important?

``forward`` is any callable mapping a batch of [0, 1] images (B, 3, H, W) to class probabilities
(B, K); it normalises and runs the model itself, so these functions stay model-agnostic. Maps are
(B, H, W) (or (B, 1, H, W)) in [0, 1]; maps of another size are resized bilinearly to the images.
Every function returns one value per image, (B,); means over images are the usual scores.
Average Drop / Increase in Confidence live here, deletion / insertion in
:mod:`camx.metrics.deletion_insertion` (both exported by :mod:`camx.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from camx.data.transforms import IMAGENET_MEAN
from camx.errors import plural
from camx.metrics._maps import check_finite

Forward = Callable[[Tensor], Tensor]


def _maps_like(maps: Tensor, images: Tensor) -> Tensor:
    """Maps as float (B, H, W) at the images' size."""
    if maps.ndim == 3:
        maps = maps.unsqueeze(1)
    if maps.ndim != 4 or maps.shape[1] != 1 or maps.shape[0] != images.shape[0]:
        raise ValueError(
            f"maps must be (B, H, W) or (B, 1, H, W) with B={images.shape[0]}, got {tuple(maps.shape)}"
        )
    check_finite(maps)
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
    return average_drop_increase_many(
        forward, images, [maps], targets, base_probs, fill=fill, chunk_size=chunk_size
    )[0]


def average_drop_increase_many(
    forward: Forward,
    images: Tensor,
    maps: Sequence[Tensor],
    targets: Tensor | Sequence[int],
    base_probs: Tensor | None = None,
    *,
    fill: float | Sequence[float] | Tensor = IMAGENET_MEAN,
    chunk_size: int = 64,
) -> list[tuple[Tensor, Tensor]]:
    """:func:`average_drop_increase` of each of several maps of the same images (e.g. every method's): Y
    once, and the masked copies of every map forwarded in shared chunks of ``chunk_size``, built chunk by
    chunk. Returns one (drop, increase) pair per map, in order."""
    b = images.shape[0]
    t = _targets(targets, b, images.device)
    ms = torch.stack([_maps_like(m, images) for m in maps])  # (M, B, H, W)
    y = (
        _probs_of(forward, images, t, chunk_size)
        if base_probs is None
        else _target_probs(base_probs, t, "base_probs")
    )
    f = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)
    o = torch.empty(len(maps) * b)
    with torch.no_grad():
        for s in range(0, len(o), chunk_size):
            job = torch.arange(s, min(s + chunk_size, len(o)), device=images.device)
            jj, ii = job // b, job % b
            p = forward(f + (images[ii] - f) * ms[jj, ii][:, None])
            o[s : s + len(job)] = p.gather(1, t[ii][:, None].to(p.device)).squeeze(1).float().cpu()
    out = []
    for oj in o.reshape(len(maps), b):
        drop = torch.where(
            y > 0, (y - oj).clamp_min(0) / torch.where(y > 0, y, torch.ones_like(y)) * 100, 0.0
        )
        out.append((drop, (oj > y).float() * 100))
    return out


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
