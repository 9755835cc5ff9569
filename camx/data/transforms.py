"""Normalisation between the [0, 1] images datasets yield and the tensors models take."""

from __future__ import annotations

from typing import Any

import torch

from camx.cam.protocol import IMAGENET_MEAN, IMAGENET_STD
from camx.cam.protocol import input_stats as stats_of

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "denormalize", "normalize", "stats_of"]


def _stats(images: torch.Tensor, model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = stats_of(model)
    as_tensor = {"device": images.device, "dtype": images.dtype}
    return torch.tensor(mean, **as_tensor).view(-1, 1, 1), torch.tensor(std, **as_tensor).view(-1, 1, 1)


def normalize(images: torch.Tensor, model: Any = None) -> torch.Tensor:
    """(x − mean) / std for (3, H, W) or (B, 3, H, W) tensors in [0, 1], with ``model``'s statistics
    (:func:`stats_of`; ImageNet's when it has none)."""
    mean, std = _stats(images, model)
    return (images - mean) / std


def denormalize(images: torch.Tensor, model: Any = None) -> torch.Tensor:
    """Inverse of :func:`normalize`, clipped to [0, 1]."""
    mean, std = _stats(images, model)
    return (images * std + mean).clamp(0, 1)
