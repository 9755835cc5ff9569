"""The ``cam`` group: the CAM method ids and the check of ``chunk_size``.

:data:`METHODS` is checked against the method classes when :mod:`camx.cam.registry` is imported, so
the two can never disagree: a new method needs its class in the registry and its id here.
"""

from __future__ import annotations

from camx.errors import ConfigError

#: Every method id, in the registry's order (see :mod:`camx.cam.registry`).
METHODS: tuple[str, ...] = (
    "cam",
    "gradcam",
    "gradcampp",
    "smoothgradcampp",
    "scorecam",
    "gradpp_scorecam",
    "xgradcam",
    "layercam",
    "eigencam",
    "hirescam",
    "random",
    "center",
)


def check_chunk_size(value: object, name: str = "chunk_size") -> int | str:
    """``value`` if it is ``"auto"`` or a positive integer, else a ConfigError naming ``name``."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value  # type: ignore[return-value]
    raise ConfigError(f"{name}={value!r} is not valid; use auto (sized to the input) or an integer ≥ 1")
