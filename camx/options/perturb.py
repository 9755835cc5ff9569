"""The ``perturb`` group: the perturbation kinds, the name and range of each one's level, stretch axes.

:mod:`camx.perturb` applies them (definitions in its docstring).
"""

from __future__ import annotations

from typing import Any

from camx.errors import ConfigError, check_choice, check_range

PERTURBATIONS: tuple[str, ...] = ("none", "noise", "rotation", "stretch", "contrast", "small", "blur", "jpeg")
#: ImageNet-C's 15 corruptions in its order (noise, blur, weather, digital), :mod:`camx.corruptions`;
#: its ``contrast`` is the kind ``contrast_c`` here (camx's own ``contrast`` has the name)
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast_c",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: camx's kind → the name ``imagecorruptions`` knows it by (only where they differ)
PACKAGE_NAMES: dict[str, str] = {"contrast_c": "contrast"}
#: every kind a perturbation step may name
KINDS: tuple[str, ...] = PERTURBATIONS + CORRUPTIONS
LEVEL_NAMES: dict[str, str] = {
    "noise": "variance",
    "rotation": "degrees",
    "stretch": "factor",
    "contrast": "factor",
    "small": "factor",
    "blur": "sigma",
    "jpeg": "quality",
    **{c: "severity" for c in CORRUPTIONS},
}
AXES: tuple[str, ...] = ("horizontal", "vertical", "both")
#: Readings of the noise variance (:func:`camx.perturb.apply`, ``noise_space``): the units ε is drawn in.
NOISE_SPACES: tuple[str, ...] = ("pixel", "normalized", "minmax")
#: The reading when a perturb or trainer.noise_augment block names no ``space`` (the paper presets' reading,
#: docs/STUDY.md): the same for hand-made configs as for the shipped ones.
DEFAULT_NOISE_SPACE = "normalized"
MAX_STRETCH = 10.0

# kind -> (low, high, low_inclusive, high_inclusive); None = unbounded.
_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "none": (None, None, True, True),
    "noise": (0.0, None, True, True),
    "rotation": (None, None, True, True),
    "stretch": (0.0, MAX_STRETCH, False, True),
    "contrast": (0.0, 1.0, False, True),
    "small": (0.0, 1.0, False, True),
    "blur": (0.0, None, True, True),
    "jpeg": (1.0, 100.0, True, True),
    **{c: (1.0, 5.0, True, True) for c in CORRUPTIONS},
}


def validate(kind: str, level: float) -> float:
    """Check a perturbation and its level before any work; return the level as a float.

    Ranges: noise variance ≥ 0; rotation degrees any finite number; stretch factor in
    (0, 10]; contrast factor in (0, 1]; small factor in (0, 1]; blur sigma ≥ 0; jpeg quality an
    integer in [1, 100]; an ImageNet-C corruption's severity an integer in [1, 5]; none accepts any
    finite level. Raises :class:`ConfigError` naming the range.
    """
    check_choice("perturbation", kind, KINDS)
    low, high, low_inc, high_inc = _RANGES[kind]
    name = f"{kind}.{LEVEL_NAMES.get(kind, 'level')}"
    v = check_range(name, level, low, high, low_inclusive=low_inc, high_inclusive=high_inc)
    if kind == "jpeg" and v != round(v):
        raise ConfigError(f"{name}={level!r} is not an integer; JPEG quality must be an integer in [1, 100]")
    if kind in CORRUPTIONS and v != round(v):
        raise ConfigError(f"{name}={level!r} is not an integer; ImageNet-C severities are 1, 2, 3, 4, 5")
    return v


def corruption_grid(names: Any, severities: Any) -> list[tuple[str, dict[str, Any]]]:
    """``perturb.names`` × ``perturb.severities`` (``perturb=corruptions``) → [(kind, {"severity": [...]})].

    ``names`` null → all 15 corruptions; ``severities`` null → 1–5. ImageNet-C's ``contrast`` is
    spelled ``contrast`` or ``contrast_c``. Unknown names and empty lists are ConfigErrors.
    """
    names = list(CORRUPTIONS) if names is None else [names] if isinstance(names, str) else list(names)
    levels = (
        list(SEVERITIES)
        if severities is None
        else [severities]
        if not _is_list(severities)
        else list(severities)
    )
    if not names or not levels:
        empty = "perturb.names" if not names else "perturb.severities"
        raise ConfigError(f"{empty} is empty; give at least one (e.g. {empty}=[...])")
    bad = [v for v in levels if isinstance(v, bool) or not _is_severity(v)]
    if bad:
        raise ConfigError(
            f"perturb.severities={_shown(levels)} has {bad[0]!r}; ImageNet-C severities are the integers "
            f"1 to 5 (e.g. perturb.severities=[1,3,5])"
        )
    kinds = []
    for name in names:
        kind = "contrast_c" if str(name) == "contrast" else str(name)
        check_choice("perturb.names: corruption", kind, CORRUPTIONS)
        kinds.append(kind)
    return [(kind, {"severity": levels}) for kind in dict.fromkeys(kinds)]


def _is_severity(value: Any) -> bool:
    try:
        return float(value) in SEVERITIES
    except (TypeError, ValueError):
        return False


def _shown(values: list[Any]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


def _is_list(value: Any) -> bool:
    return not isinstance(value, (str, bytes)) and hasattr(value, "__iter__")
