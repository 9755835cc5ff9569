"""How a target layer's output becomes the (B, C, h, w) map every CAM method works on.

Vision Transformers output tokens: ViT and DeiT blocks give (B, N, C) with N = p + h·w, p class,
distillation or register tokens first, then the h×w patch grid in row-major order; Swin blocks (timm,
torchvision) give (B, h, w, C). A *reshape* maps such an output to (B, C, h, w); it is applied to the
activation and, being a selection and permutation of entries, to its gradient too, exactly as
pytorch-grad-cam's ``reshape_transform`` is (so ∂y/∂A of the map is ∂y/∂(tokens) rearranged).

Choices (``reshape=`` of :func:`camx.cam.explain`, ``cam.reshape`` in configs, the model's
``cam_reshape`` attribute as the default):

- ``"auto"``: 4-D outputs as they are, 3-D outputs as ``"tokens"``;
- ``"tokens"``: (B, N, C) → drop the first p tokens, where p is the smallest count (0–8) that leaves
  an h×w grid with h:w equal to the input's aspect ratio (224×224 ViT-B/16: p = 1, 14×14);
- ``"nhwc"``: (B, h, w, C) → (B, C, h, w);
- a callable ``f(output) -> (B, C, h, w)``, or ``"package.module:function"`` naming one.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from torch import Tensor

from camx.errors import ConfigError

Reshape = str | Callable[[Tensor], Tensor]
CHOICES = ("auto", "tokens", "nhwc")  #: camx.options.model.RESHAPES (torch-free) equals it; a test checks
MAX_PREFIX = 8  #: class + distillation + up to 6 register tokens


def resolve_reshape(reshape: Any) -> Reshape:
    """A valid reshape: one of :data:`CHOICES`, a callable, or the callable a ``"module:name"`` string names."""
    if reshape is None:
        return "auto"
    if callable(reshape):
        return reshape
    if isinstance(reshape, str) and reshape in CHOICES:
        return reshape
    if isinstance(reshape, str) and ":" in reshape:
        module, _, name = reshape.partition(":")
        try:
            fn = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"reshape={reshape!r}: cannot import it ({type(exc).__name__}: {exc})"
            ) from None
        if callable(fn):
            return fn
    raise ConfigError(
        f"reshape={reshape!r} is not valid; use {', '.join(CHOICES)}, a callable or 'package.module:function'"
    )


def token_grid(tokens: int, image_hw: tuple[int, int]) -> tuple[int, int, int]:
    """(prefix, h, w) with tokens = prefix + h·w and h:w = the input's aspect ratio (smallest prefix)."""
    height, width = image_hw
    for prefix in range(min(MAX_PREFIX, tokens - 1) + 1):
        cells = tokens - prefix
        h = math.isqrt(cells * height // width) if height != width else math.isqrt(cells)
        for cand in (h, h + 1, h - 1):
            if cand >= 1 and cells % cand == 0 and cand * width == (cells // cand) * height:
                return prefix, cand, cells // cand
    raise ConfigError(
        f"cannot lay {tokens} tokens out as a patch grid of a {height}×{width} input (with up to "
        f"{MAX_PREFIX} leading class/register tokens); pass reshape= a callable that returns (B, C, h, w)"
    )


def to_map(output: Tensor, reshape: Reshape, image_hw: tuple[int, int]) -> Tensor:
    """``output`` of the target layer (or its gradient) as (B, C, h, w)."""
    if callable(reshape):
        out = reshape(output)
        if not isinstance(out, Tensor) or out.ndim != 4:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ConfigError(f"the reshape callable returned {shape}; it must return (B, C, h, w)")
        return out
    if reshape == "nhwc":
        if output.ndim != 4:
            raise ConfigError(
                f"reshape='nhwc' needs a (B, h, w, C) output; the target layer gives {tuple(output.shape)}"
            )
        return output.permute(0, 3, 1, 2)
    if output.ndim == 4 and reshape == "auto":
        return output
    if output.ndim == 3 and reshape in ("auto", "tokens"):
        b, n, c = output.shape
        prefix, h, w = token_grid(int(n), image_hw)
        return output[:, prefix:, :].reshape(b, h, w, c).permute(0, 3, 1, 2)
    raise ConfigError(
        f"the target layer outputs {tuple(output.shape)}; CAM methods need a 4-D feature map (B, C, h, w) "
        "or (B, N, C) tokens — pick another target_layer or pass reshape="
    )
