"""Class activation maps: one entry point, :func:`explain`, and one small class per method.

    from camx.cam import explain, explain_many
    result = explain(model, images, method="gradcampp")   # result.maps: (B, H, W) in [0, 1]
    results = explain_many(model, images, ["gradcam", "layercam", "center"])  # one shared pass

Every module of this package is imported here, and every :class:`CamMethod` subclass with a ``name``
registers itself when it is defined (:mod:`camx.cam.registry`): adding a built-in method is one new
file in ``camx/cam/``. The built-in classes are importable from here (``from camx.cam import GradCAM``)
to subclass; a user's own subclass works as ``method=MyCAM`` or ``method="package.module:MyCAM"``.
Ids: :data:`REGISTRY` (``python -m camx.cam.registry`` prints the table). Each class docstring gives
the formula and the paper. What camx reads of a model is listed in :mod:`camx.cam.protocol`.
"""

from __future__ import annotations

import importlib
import pkgutil

from camx.cam.base import CamMethod, CamRun, ChannelWeightMethod
from camx.cam.explain import CamResult, explain, explain_many
from camx.cam.registry import REGISTRY, get_method, resolve_method, sort_registry

for _module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
sort_registry()

#: the built-in method classes by class name (GradCAM, ScoreCAM, ...), exported for subclassing
BUILTINS: dict[str, type[CamMethod]] = {
    cls.__name__: cls for cls in REGISTRY.values() if cls.__module__.startswith(f"{__name__}.")
}
globals().update(BUILTINS)

__all__ = [
    "BUILTINS",
    "REGISTRY",
    "CamMethod",
    "CamResult",
    "CamRun",
    "ChannelWeightMethod",
    "explain",
    "explain_many",
    "get_method",
    "resolve_method",
    *sorted(BUILTINS),
]
