"""A ``-m`` sweep's jobs, composed and checked before the first one runs.

Hydra's basic sweeper launches one job per combination of the sweep values and each job's config is
composed only when it starts, so a bad value in the last job used to cost every job before it. Here
every job's config is composed as the sweeper will (cheap: no model is built or loaded) and passed to
a check; the first refusal names the job (:func:`camx.report.sweep_labels.job_name`) before the sweep
dir exists. Other sweepers (their jobs known only as they run) are left to the jobs' own checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from camx.cli.config_keys import task_overrides
from omegaconf import DictConfig, OmegaConf

from camx.errors import ConfigError
from camx.report.sweep_labels import job_labels, job_name

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def job_overrides(cfg: DictConfig, config_loader: Any) -> list[list[str]] | None:
    """Each job's overrides, in job-number order, as Hydra's basic sweeper splits the sweep of ``cfg``
    (its ``hydra.sweeper.params`` and the command's overrides); None for another sweeper."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if OmegaConf.select(cfg, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    arguments += task_overrides(cfg)
    parsed = OverridesParser.create(config_loader=config_loader).parse_overrides(arguments)
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def check_jobs(cfg: DictConfig, config_loader: Any, check: Callable[[DictConfig], None]) -> None:
    """Compose every job of the sweep of ``cfg`` and ``check`` it; a refusal is re-raised as one
    ConfigError naming the job: ``sweep job 1 (image_size=abc): <the refusal>``."""
    jobs = job_overrides(cfg, config_loader)
    if not jobs:
        return
    labels = job_labels(dict(enumerate(jobs)))
    for number, overrides in enumerate(jobs):
        job_cfg = config_loader.load_sweep_config(cfg, list(overrides))
        try:
            check(job_cfg)
        except ConfigError as exc:
            raise ConfigError(f"sweep {job_name(number, labels[number])}: {exc}") from None
