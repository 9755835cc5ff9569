"""Localisation metrics: does a class activation map point at the ground-truth object?

All functions take maps (B, H, W) and masks (B, H, W) or (B, 1, H, W) of the same spatial size
and return one float per image, (B,), so callers aggregate with confidence intervals
(:func:`camx.metrics.stats.mean_ci`). Masks are binarised as ``mask > 0.5``. Images whose mask is
empty have no object to point at: callers must drop them, using :func:`has_object`. Maps holding NaN or
inf are refused (ValueError), as by the complexity, faithfulness, ROAD, random-logit and sensitivity
metrics.
"""

from __future__ import annotations

import torch
from torch import Tensor

from camx.metrics._maps import check_finite


def _prepare(maps: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """Flatten to (B, H·W): maps as float, masks as bool."""
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3 or masks.ndim != 3:
        raise ValueError(
            f"maps must be (B, H, W) and masks (B, H, W) or (B, 1, H, W); got {tuple(maps.shape)}, {tuple(masks.shape)}"
        )
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} differ in shape")
    check_finite(maps)
    b = maps.shape[0]
    return maps.reshape(b, -1).float(), (masks.reshape(b, -1).float() > 0.5)


def has_object(masks: Tensor) -> Tensor:
    """(B,) bool: whether each mask has at least one object pixel (value > 0.5)."""
    b = masks.shape[0]
    return (masks.reshape(b, -1).float() > 0.5).any(dim=1)


def pointing_game(maps: Tensor, masks: Tensor) -> Tensor:
    """Pointing game (Zhang et al., ECCV 2016 "Top-down neural attention by excitation backprop").

    hit_i = 1 if argmax_p map_i(p) ∈ mask_i else 0, with no tolerance margin; ties go to the first
    maximum in row-major order. The mean over images is the pointing accuracy.
    """
    m, g = _prepare(maps, masks)
    idx = m.argmax(dim=1, keepdim=True)
    return g.gather(1, idx).squeeze(1).float()


def energy_pointing_game(maps: Tensor, masks: Tensor) -> Tensor:
    """Energy-based pointing game (Wang et al., CVPR-W 2020, Score-CAM §5.2).

    E_i = Σ_p map_i(p)·mask_i(p) / Σ_p map_i(p), the share of the map's energy inside the object.
    Negative map values are clamped to 0 first (only positive evidence counts; camx's own maps are
    in [0, 1]), so E_i ∈ [0, 1]; a map with no positive value (all zero or all ≤ 0) scores 0.
    """
    m, g = _prepare(maps, masks)
    m = m.clamp_min(0)
    total = m.sum(dim=1)
    inside = (m * g).sum(dim=1)
    return torch.where(
        total > 0, inside / torch.where(total > 0, total, torch.ones_like(total)), torch.zeros_like(total)
    )


def iou(maps: Tensor, masks: Tensor, threshold: float = 0.5) -> Tensor:
    """Intersection over union of the thresholded map and the mask.

    IoU_i = |{map_i ≥ t} ∩ mask_i| / |{map_i ≥ t} ∪ mask_i|, 0 when the union is empty. Maps are
    expected normalised to [0, 1] (as camx's CAMs are), so ``threshold`` is a fraction of the peak.
    """
    m, g = _prepare(maps, masks)
    pred = m >= threshold
    inter = (pred & g).sum(dim=1).float()
    union = (pred | g).sum(dim=1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union))
