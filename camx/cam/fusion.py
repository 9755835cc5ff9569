"""Several target layers, one map: per-layer maps fused as pytorch-grad-cam or Layer-CAM combine them.

:func:`camx.cam.explain` with ``target_layer=[...]`` (two or more layers) explains the images at each
layer (feature-map resolution, min–max normalised there), then fuses the maps at the output size:

- ``fuse="mean"`` (pytorch-grad-cam's ``target_layers`` list, its ``BaseCAM.aggregate_multi_layers``):
  M = minmax( (1/L) Σ_l resize(M̂_l) ), with M̂_l the layer's min–max normalised map;
- ``fuse="layercam"`` (Jiang et al., "LayerCAM", IEEE TIP 2021, Eq. 9 and Sec. III-C, as TorchCAM's
  ``fuse_cams``): shallow layers' maps are scaled by tanh(γ·M̂_l) with γ = 2 and the maps are fused by
  the element-wise maximum, M = minmax( max_l resize(tanh(2·M̂_l)) ).

Each layer has its own forward pass (one per layer and Monte-Carlo sample): a fused map costs L times
a single-layer one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from camx.cam.base import minmax
from camx.errors import ConfigError

FUSES = ("mean", "layercam")  #: the valid ``fuse`` values
LAYERCAM_GAMMA = 2.0  #: γ of Layer-CAM's tanh scaling (TIP 2021, Eq. 9)


def check_fuse(fuse: object) -> str:
    """``fuse`` itself if it is one of :data:`FUSES`; a ConfigError otherwise."""
    if fuse not in FUSES:
        raise ConfigError(f"fuse={fuse!r} is not valid; use one of: {', '.join(FUSES)}")
    return str(fuse)


def is_layer_list(target_layer: object) -> bool:
    """Whether ``target_layer`` names several layers (a list or tuple, not a string or a module)."""
    return isinstance(target_layer, (list, tuple))


def check_layer_list(target_layer: Sequence[object]) -> list[object]:
    """The layers of a list ``target_layer``: at least one, none twice."""
    layers = list(target_layer)
    if not layers:
        raise ConfigError("target_layer=[] names no layer; give one layer or a list of layers")
    names = [layer if isinstance(layer, str) else id(layer) for layer in layers]
    if len(set(names)) != len(names):
        raise ConfigError(f"target_layer={layers!r} names a layer twice; list each layer once")
    return layers


def fuse_maps(maps: Sequence[Tensor], out_size: tuple[int, int] | None, fuse: str) -> Tensor:
    """Fuse per-layer maps (each (B, h_l, w_l) in [0, 1]) at ``out_size`` (None: the largest map's size)."""
    size = out_size or max((tuple(m.shape[-2:]) for m in maps), key=lambda s: s[0] * s[1])
    resized = []
    for m in maps:
        if fuse == "layercam":
            m = torch.tanh(LAYERCAM_GAMMA * m)
        if tuple(m.shape[-2:]) != size:
            m = F.interpolate(m.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
        resized.append(m)
    stacked = torch.stack(resized)
    fused = stacked.mean(0) if fuse == "mean" else stacked.amax(0)
    return minmax(fused).to(torch.float32)
