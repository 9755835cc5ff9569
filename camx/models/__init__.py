"""Models: torchvision backbones with plain, attention, Dropout and DropKey heads."""

from camx.models.attention import AttentionHead, DropKey
from camx.models.build import CamxNet, build_model, layer_names, resolve_layer

__all__ = [
    "AttentionHead",
    "CamxNet",
    "DropKey",
    "build_model",
    "layer_names",
    "resolve_layer",
]
