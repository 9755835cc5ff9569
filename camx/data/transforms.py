"""Normalisation between the [0, 1] images datasets yield and the tensors models take."""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """(x − mean) / std with ImageNet statistics, for (3, H, W) or (B, 3, H, W) tensors in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=images.dtype).view(-1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device, dtype=images.dtype).view(-1, 1, 1)
    return (images - mean) / std


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize`, clipped to [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=images.dtype).view(-1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device, dtype=images.dtype).view(-1, 1, 1)
    return (images * std + mean).clamp(0, 1)
