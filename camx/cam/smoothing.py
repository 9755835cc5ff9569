"""pytorch-grad-cam's two smoothing options, for camx's methods: ``eigen_smooth`` and ``aug_smooth``.

- ``eigen_smooth``: a method whose map is a sum of per-channel maps, L = Σ_k P_k
  (:meth:`~camx.cam.base.CamMethod.channel_maps`: P_k = w_k A_k for the channel-weight methods,
  ReLU(g_k) ⊙ A_k for Layer-CAM, g_k ⊙ A_k for HiResCAM, ReLU(g_k ⊙ A_k) for element-wise Grad-CAM)
  gives instead P's first principal component, L = ±O·v₁ (O = P as an hw × C matrix, each channel's
  spatial mean subtracted, O = UΣVᵀ; :func:`~camx.cam.activation.class_oriented_projection`), then the
  method's ReLU. pytorch-grad-cam (``get_2d_projection``) leaves the sign of v₁ to LAPACK, so its map can
  be the ReLU of the negative component; camx takes the sign that correlates with Σ_k P_k. Up to that
  sign the maps are equal. pytorch-grad-cam's FEM ignores the option; camx's applies it. Methods with no
  channel maps are unchanged (Eigen-CAM, Eigen-Grad-CAM, KPCA-CAM: projections already; FullGrad,
  LeGrad, the baselines).
- ``aug_smooth``: test-time augmentation, pytorch-grad-cam's default ``tta_transforms`` (ttach's
  ``HorizontalFlip`` × ``Multiply([0.9, 1, 1.1])``): the mean of the maps of the six copies
  {as is, mirrored} × {×0.9, ×1, ×1.1} of the normalised input, each mirrored map flipped back. Every copy
  explains the class the unaugmented image's pass chose (pytorch-grad-cam with ``targets=None`` lets each
  copy explain its own argmax); logits and probabilities are the unaugmented pass's. camx min–max
  normalises the mean like every map (pytorch-grad-cam returns the mean of its min–max maps as it is).
  Six times the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from torch import Tensor

from camx.cam.activation import class_oriented_projection
from camx.cam.base import CamMethod, CamRun, minmax
from camx.errors import ConfigError

#: (mirrored, factor) of each copy, in ttach's order; the first with (False, 1.0) is the input itself
AUGMENTATIONS: tuple[tuple[bool, float], ...] = tuple(
    (flip, f) for flip in (False, True) for f in (0.9, 1.0, 1.1)
)


def check_flags(**flags: Any) -> None:
    """A ConfigError for a smoothing flag that is not a bool (e.g. the string "yes")."""
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise ConfigError(f"{name}={flag!r} must be True or False")


def eigen_smoothed(impl: CamMethod, run: CamRun) -> Tensor | None:
    """The method's raw map with ``eigen_smooth`` (before its ReLU), or None if it has no channel maps."""
    maps = impl.channel_maps(run)
    return None if maps is None else class_oriented_projection(maps)


def augmented(
    explain_copy: Callable[[Tensor, Any], dict[str, Any]], images: Tensor, targets: Any
) -> dict[str, Any]:
    """``aug_smooth`` around ``explain_copy(images, targets) → {method: CamResult}``: the input itself first
    (its targets, logits and probabilities are the result's), then the other copies with its targets."""
    first = explain_copy(images, targets)
    chosen = next(iter(first.values())).targets
    totals = {key: res.maps.clone() for key, res in first.items()}
    for flip, factor in AUGMENTATIONS:
        if (flip, factor) == (False, 1.0):
            continue
        copy = images * factor
        out = explain_copy(copy.flip(-1) if flip else copy, chosen)
        for key, res in out.items():
            totals[key] += res.maps.flip(-1) if flip else res.maps
    return {key: replace(res, maps=minmax(totals[key] / len(AUGMENTATIONS))) for key, res in first.items()}
