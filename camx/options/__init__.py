"""The torch-free half of each config group: its valid choices and its range checks.

One module per group — :mod:`~camx.options.model`, :mod:`~camx.options.dataset`,
:mod:`~camx.options.trainer`, :mod:`~camx.options.cam`, :mod:`~camx.options.perturb` — plus the metric
ids (:mod:`~camx.options.metrics`). :func:`camx.config.validate` checks a composed config with these
alone, so a typo costs one line without importing torch; the modules that do the work
(:mod:`camx.models.build`, :mod:`camx.data.datasets`, …) take their names from here. This is the one
home of these names: import them from here, not from those modules. The CAM methods are the exception:
their one list is the method classes (:mod:`camx.cam` stands alone), which :mod:`~camx.options.cam`
reads torch-free from their source.

:func:`is_unset` is the one rule for an optional setting left at its default (``model.target_layer``,
``target``): ``null``, empty, or the text ``null`` or ``None``.
"""

from __future__ import annotations

from typing import Any

#: Texts that mean "not set" in an optional setting (the CLI may pass ``None`` or a quoted ``null`` as text).
UNSET_TEXTS: tuple[str, ...] = ("", "null", "None")


def is_unset(value: Any) -> bool:
    """Whether an optional setting is left at its default: ``None`` or one of :data:`UNSET_TEXTS`."""
    return value is None or str(value) in UNSET_TEXTS
