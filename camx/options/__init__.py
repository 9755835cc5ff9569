"""The torch-free half of each config group: its valid choices and its range checks.

One module per group — :mod:`~camx.options.model`, :mod:`~camx.options.dataset`,
:mod:`~camx.options.trainer`, :mod:`~camx.options.cam`, :mod:`~camx.options.perturb` — plus the metric
ids (:mod:`~camx.options.metrics`). :func:`camx.config.validate` checks a composed config with these
alone, so a typo costs one line without importing torch; the modules that do the work
(:mod:`camx.models.build`, :mod:`camx.data.datasets`, :mod:`camx.cam.registry`, …) take their names
from here. This is the one home of these names: import them from here, not from those modules.
"""
