"""Method ids → classes."""

from __future__ import annotations

from camx.cam.activation import CAM, EigenCAM
from camx.cam.base import CamMethod
from camx.cam.baselines import CenterMap, RandomMap
from camx.cam.gradient import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, SmoothGradCAMPlusPlus, XGradCAM
from camx.cam.score import GradPlusPlusScoreCAM, ScoreCAM
from camx.errors import ConfigError

_CLASSES: tuple[type[CamMethod], ...] = (
    CAM,
    GradCAM,
    GradCAMPlusPlus,
    SmoothGradCAMPlusPlus,
    ScoreCAM,
    GradPlusPlusScoreCAM,
    XGradCAM,
    LayerCAM,
    EigenCAM,
    HiResCAM,
    RandomMap,
    CenterMap,
)
REGISTRY: dict[str, type[CamMethod]] = {cls.name: cls for cls in _CLASSES}

#: Every method id, in a fixed order.
METHODS: tuple[str, ...] = tuple(REGISTRY)


def get_method(name: str) -> type[CamMethod]:
    """The class implementing method ``name``; a ConfigError listing the valid ids otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"method={name!r} is not a CAM method; choose one of: {', '.join(METHODS)}"
        ) from None
