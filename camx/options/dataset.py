"""The ``dataset`` group: dataset names, splits, and the class names and difficulty knobs of ``shapes``.

:mod:`camx.data.datasets` builds datasets from these options and :mod:`camx.data.shapes` draws the
embedded benchmark from a :class:`ShapesSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from camx.errors import ConfigError

DATASETS: tuple[str, ...] = ("shapes", "imagefolder", "cifar10", "imagenette", "oxford_pets")
SPLITS: tuple[str, ...] = ("train", "val", "test")
RESIZE_MODES = ("stretch", "crop")  #: dataset.resize: how an image meets image_size (camx.data.fit)
#: the datasets with ground-truth object masks: only they give the localisation metrics
MASKED: tuple[str, ...] = ("shapes", "oxford_pets")

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


def check_auto_size(d: Mapping[str, Any]) -> bool:
    """Whether ``dataset.image_size`` is ``auto``, which only ``imagefolder`` allows (else a ConfigError)."""
    auto = is_auto_size(d.get("image_size"))
    if auto and d.get("name") != "imagefolder":
        raise ConfigError(
            f"dataset.image_size=auto (the images' own size) is for dataset=imagefolder; "
            f"{d.get('name', 'shapes')} needs a number"
        )
    return auto


def check_shapes_classes(num_classes: int) -> int:
    """``num_classes`` if ``shapes`` has that many classes (2 to ``len(CLASS_NAMES)``), else a ConfigError."""
    if not 2 <= int(num_classes) <= len(CLASS_NAMES):
        raise ConfigError(
            f"dataset.num_classes={num_classes} is out of range; shapes has 2 to {len(CLASS_NAMES)} classes"
        )
    return int(num_classes)


def shapes_spec(cfg: Mapping[str, Any]) -> ShapesSpec:
    """The :class:`ShapesSpec` of a ``dataset=shapes`` config: each knob it holds checked against
    :data:`camx.options.schema.SCHEMA` (``dataset:shapes``), and ``min_scale`` ≤ ``max_scale``; a knob
    it lacks keeps the :class:`ShapesSpec` value."""
    from camx.options.schema import check_group

    check_group(cfg, "dataset", table="dataset:shapes")
    check_auto_size({**cfg, "name": "shapes"})
    knobs = {f.name: f.type for f in fields(ShapesSpec)}
    spec = ShapesSpec(**{k: (int if t == "int" else float)(cfg[k]) for k, t in knobs.items() if k in cfg})
    if spec.max_scale < spec.min_scale:
        raise ConfigError(
            f"dataset.max_scale={spec.max_scale:g} is below dataset.min_scale={spec.min_scale:g}; "
            "raise max_scale or lower min_scale"
        )
    return spec
