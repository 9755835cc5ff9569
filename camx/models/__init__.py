"""Models: torchvision backbones with plain, attention, Dropout and DropKey heads."""

from camx.models.attention import AttentionHead, DropKey
from camx.models.build import (
    ARCHS,
    DEFAULT_TARGET_LAYER,
    HEADS,
    CamxNet,
    build_model,
    layer_names,
    resolve_layer,
)

__all__ = [
    "ARCHS",
    "DEFAULT_TARGET_LAYER",
    "HEADS",
    "AttentionHead",
    "CamxNet",
    "DropKey",
    "build_model",
    "layer_names",
    "resolve_layer",
]
