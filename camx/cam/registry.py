"""Method ids → classes.

The ids themselves live in :data:`camx.options.cam.METHODS` (torch-free, for config validation); this
module refuses to import if they and the classes' ``name`` attributes ever disagree.
"""

from __future__ import annotations

from camx.cam.activation import CAM, EigenCAM
from camx.cam.base import CamMethod
from camx.cam.baselines import CenterMap, RandomMap
from camx.cam.gradient import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, SmoothGradCAMPlusPlus, XGradCAM
from camx.cam.score import GradPlusPlusScoreCAM, ScoreCAM
from camx.errors import ConfigError
from camx.options.cam import METHODS

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
if tuple(REGISTRY) != METHODS:
    raise ImportError(
        f"camx.options.cam.METHODS {METHODS} does not match the registered classes' ids {tuple(REGISTRY)}; "
        "list every method id there, in the registry's order"
    )


def get_method(name: str) -> type[CamMethod]:
    """The class implementing method ``name``; a ConfigError listing the valid ids otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"method={name!r} is not a CAM method; choose one of: {', '.join(METHODS)}"
        ) from None


def method_table() -> str:
    """The README's method table, one row per registered method (kept in sync by tests/test_readme.py)."""
    lines = [
        "| id | what the map is | paper | gradients | cost per image |",
        "|---|---|---|---|---|",
    ]
    for name, cls in REGISTRY.items():
        grads = "yes" if cls.needs_gradients else "no"
        lines.append(f"| `{name}` | {cls.summary} | {cls.paper} | {grads} | {cls.cost} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m camx.cam.registry: the table to paste into the README
    print(method_table(), end="")
