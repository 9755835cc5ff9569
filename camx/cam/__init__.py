"""Class activation maps: one entry point, :func:`explain`, and one small class per method.

    from camx.cam import explain, explain_many
    result = explain(model, images, method="gradcampp")   # result.maps: (B, H, W) in [0, 1]
    results = explain_many(model, images, ["gradcam", "layercam", "center"])  # one shared pass

Methods (ids in :data:`camx.options.cam.METHODS`): ``cam``, ``gradcam``, ``gradcampp``, ``smoothgradcampp``,
``scorecam``, ``gradpp_scorecam``, ``xgradcam``, ``layercam``, ``eigencam``, ``hirescam`` and the
baselines ``random`` and ``center``. Each class docstring gives the formula and the paper.
"""

from __future__ import annotations

from camx.cam.base import CamMethod, CamRun, ChannelWeightMethod
from camx.cam.explain import CamResult, explain, explain_many
from camx.cam.registry import REGISTRY, get_method

__all__ = [
    "REGISTRY",
    "CamMethod",
    "CamResult",
    "CamRun",
    "ChannelWeightMethod",
    "explain",
    "explain_many",
    "get_method",
]
