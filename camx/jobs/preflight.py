"""The file-system checks a job passes before it starts: its inputs and checkpoints exist.

The CLI runs :func:`preflight` on every job of a command after :func:`camx.config.validate` and
before Hydra creates a run dir. Like ``validate`` it is torch-free up to the first file that exists
and has to be read: a missing input, a missing checkpoint file or no trained checkpoint under
``outputs_dir`` is reported in one line without importing torch or torchvision
(``tests/test_cli.py`` checks that); torch is imported only to load a checkpoint that is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from camx.checkpoint import backbone_state, check_checkpoint
from camx.data.inputs import require_images
from camx.errors import ConfigError
from camx.options.model import WEIGHTS, weights_message
from camx.runs import resolve_checkpoints

__all__ = ["check_method_options", "preflight"]


def _require_inputs(cfg: Mapping[str, Any]) -> None:
    """The input files exist; sanity's ``dataset:N`` inputs (the dataset's own images) need none."""
    inputs = [str(i) for i in cfg.get("inputs") or []]
    if cfg.get("task") == "sanity":
        inputs = [i for i in inputs if not i.startswith("dataset:")]
        if not inputs and cfg.get("inputs"):
            return
    require_images(inputs)


def preflight(cfg: Mapping[str, Any]) -> None:
    """Checks that need the file system, run before a job creates its run dir: checkpoints and inputs exist."""
    task = cfg.get("task")
    explicit = cfg.get("checkpoint")
    weights = str(cfg["model"]["weights"])
    if weights not in WEIGHTS and not Path(weights).is_file():
        raise ConfigError(weights_message(weights))
    if task in ("explain", "sanity"):
        if explicit:  # an explicit path that does not exist is named before the inputs are looked at
            found = resolve_checkpoints(cfg, all_heads=False)
            _require_inputs(cfg)
            for path in found.values():  # a file, a run dir or a sweep dir: each checkpoint it holds
                check_checkpoint(path)
        else:
            _require_inputs(cfg)
            resolve_checkpoints(cfg, all_heads=cfg.get("heads") is not None)
    elif task == "eval":
        found = resolve_checkpoints(cfg, all_heads=True)
        if cfg.get("checkpoints"):
            for path in found.values():
                check_checkpoint(path)
    if task in ("explain", "eval", "sanity"):
        check_method_options(cfg)
    init = (cfg.get("model") or {}).get("init_backbone")
    if task == "train" and init:  # the file, its architecture and output stride (train checks the tensors)
        backbone_state(init, cfg["model"]["arch"], int(cfg["model"]["output_stride"]))


def check_method_options(cfg: Mapping[str, Any]) -> None:
    """Build every CAM method of the job from its options (``cam.options``), so an unknown option or a value
    of the wrong type or range is a ConfigError naming the method before the run dir exists. Imports
    torch (the method classes), so it runs after every torch-free check."""
    from camx.cam import resolve_method
    from camx.cam.base import make_method
    from camx.config import methods_of
    from camx.options.cam import method_options

    baselines = list(cfg.get("baselines") or []) if cfg.get("task") in ("eval", "sanity") else []
    for method in [*methods_of(cfg), *baselines]:
        make_method(resolve_method(method), method_options(cfg, method))
