"""The ``dataset`` group: dataset names, splits, and the class names and difficulty knobs of ``shapes``.

:mod:`camx.data.datasets` builds datasets from these options and :mod:`camx.data.shapes` draws the
embedded benchmark from a :class:`ShapesSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from camx.errors import ConfigError, check_range

DATASETS: tuple[str, ...] = ("shapes", "imagefolder", "cifar10", "imagenette", "oxford_pets")
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: The classes of ``shapes``, in label order; ``dataset.num_classes=n`` uses the first n.
CLASS_NAMES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "crescent",
    "arrow",
    "hexagon_hollow",
    "lshape",
)


@dataclass(frozen=True)
class ShapesSpec:
    """Difficulty knobs of the generator (all fractions are of the image side unless stated)."""

    image_size: int = 64
    num_classes: int = 8
    min_scale: float = 0.18  # object diameter / image side; 0.18 → ~3% of the image area for a disc
    max_scale: float = 0.5
    distractors: int = 6  # up to this many strokes per image
    texture: float = 0.25  # amplitude of the background texture
    min_contrast: float = 0.25  # least luminance gap between object and local background
    max_rotation: float = 180.0  # degrees: objects are rotated uniformly in [−max_rotation, max_rotation]
    grain: float = 0.0  # sensor noise: i.i.d. Gaussian pixel noise of std uniform in [0, grain] per image


def is_auto_size(value: Any) -> bool:
    """Whether ``dataset.image_size`` asks for the images' own size (``auto``, imagefolder)."""
    return isinstance(value, str) and value.strip().lower() == "auto"


def check_shapes_classes(num_classes: int) -> int:
    """``num_classes`` if ``shapes`` has that many classes (2 to ``len(CLASS_NAMES)``), else a ConfigError."""
    if not 2 <= int(num_classes) <= len(CLASS_NAMES):
        raise ConfigError(
            f"dataset.num_classes={num_classes} is out of range; shapes has 2 to {len(CLASS_NAMES)} classes"
        )
    return int(num_classes)


def shapes_spec(cfg: Mapping[str, Any]) -> ShapesSpec:
    """The :class:`ShapesSpec` of a ``dataset=shapes`` config, range-checked."""
    lo = check_range("dataset.min_scale", cfg.get("min_scale", 0.18), 0.02, 1.0, low_inclusive=True)
    hi = check_range("dataset.max_scale", cfg.get("max_scale", 0.5), lo, 1.0)
    return ShapesSpec(
        image_size=int(check_range("dataset.image_size", cfg.get("image_size", 64), 16, 1024)),
        num_classes=check_shapes_classes(int(cfg.get("num_classes", 8))),
        min_scale=lo,
        max_scale=hi,
        distractors=int(check_range("dataset.distractors", cfg.get("distractors", 6), 0, 100)),
        texture=check_range("dataset.texture", cfg.get("texture", 0.25), 0.0, 1.0),
        min_contrast=check_range("dataset.min_contrast", cfg.get("min_contrast", 0.25), 0.0, 1.0),
        max_rotation=check_range("dataset.max_rotation", cfg.get("max_rotation", 180.0), 0.0, 180.0),
        grain=check_range("dataset.grain", cfg.get("grain", 0.0), 0.0, 1.0),
    )
