"""The ``perturb`` group: the perturbation kinds, the name and range of each one's level, stretch axes.

:mod:`camx.perturb` applies them (definitions in its docstring).
"""

from __future__ import annotations

from camx.errors import ConfigError, check_choice, check_range

PERTURBATIONS: tuple[str, ...] = ("none", "noise", "rotation", "stretch", "contrast", "small", "blur", "jpeg")
LEVEL_NAMES: dict[str, str] = {
    "noise": "variance",
    "rotation": "degrees",
    "stretch": "factor",
    "contrast": "factor",
    "small": "factor",
    "blur": "sigma",
    "jpeg": "quality",
}
AXES: tuple[str, ...] = ("horizontal", "vertical", "both")
#: Readings of the noise variance (:func:`camx.perturb.apply`, ``noise_space``): the units ε is drawn in.
NOISE_SPACES: tuple[str, ...] = ("pixel", "normalized", "minmax")
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
}


def validate(kind: str, level: float) -> float:
    """Check a perturbation and its level before any work; return the level as a float.

    Ranges: noise variance ≥ 0; rotation degrees any finite number; stretch factor in
    (0, 10]; contrast factor in (0, 1]; small factor in (0, 1]; blur sigma ≥ 0; jpeg quality an
    integer in [1, 100]; none accepts any finite level. Raises :class:`ConfigError` naming the range.
    """
    check_choice("perturbation", kind, PERTURBATIONS)
    low, high, low_inc, high_inc = _RANGES[kind]
    name = f"{kind}.{LEVEL_NAMES.get(kind, 'level')}"
    v = check_range(name, level, low, high, low_inclusive=low_inc, high_inclusive=high_inc)
    if kind == "jpeg" and v != round(v):
        raise ConfigError(f"{name}={level!r} is not an integer; JPEG quality must be an integer in [1, 100]")
    return v
