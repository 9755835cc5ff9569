"""Normalisation between the [0, 1] images datasets yield and the tensors models take."""

from __future__ import annotations

from typing import Any

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def stats_of(model: Any = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) a model expects: its ``input_mean`` / ``input_std`` attributes (pretrained classifiers,
    :mod:`camx.models.pretrained`), else ImageNet's (every camx-trained model)."""
    mean = getattr(model, "input_mean", None) or IMAGENET_MEAN
    std = getattr(model, "input_std", None) or IMAGENET_STD
    return tuple(mean), tuple(std)


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
