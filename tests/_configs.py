"""Job configs for in-process tests: the defaults of ``configs/`` (their one home) under a test's own values."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any


@functools.lru_cache(maxsize=1)
def _train_defaults() -> dict[str, Any]:
    from camx.cli.hydra_bridge import compose
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose("train", []), resolve=True)


def train_config(model: Mapping[str, Any], dataset: Mapping[str, Any], trainer: Mapping[str, Any]) -> dict:
    """``camx train``'s composed config with ``model`` and ``trainer`` values on top of their YAML
    defaults; ``dataset`` as given (the dataset builder fills its own)."""
    base = copy.deepcopy(_train_defaults())
    return {
        **base,
        "model": {**base["model"], **model},
        "dataset": dict(dataset),
        "trainer": {**base["trainer"], **trainer},
    }
