"""What explain and eval share: loading a job's checkpoints and the options of its CAM methods.

Which checkpoints a job uses is :func:`camx.runs.resolve_checkpoints` (torch-free; re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from camx.checkpoint import load_checkpoint
from camx.config import methods_of
from camx.runs import resolve_checkpoints


def load_for_job(path: str, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint at ``path`` as a model on ``device`` in eval mode, and its metadata."""
    model, meta = load_checkpoint(path, map_location="cpu")
    return model.to(device).eval(), meta


def method_options(cfg: Mapping[str, Any], method: str) -> dict[str, Any]:
    """Options of ``method``: the ``cam`` group's options when it selects this method, else the method's defaults."""
    cam = cfg.get("cam") or {}
    if cam.get("name") == method:
        return dict(cam.get("options") or {})
    return {}


__all__ = ["load_for_job", "method_options", "methods_of", "resolve_checkpoints"]


def preflight(cfg: Mapping[str, Any]) -> None:
    """Checks that need the file system, run before a job creates its run dir: checkpoints and inputs exist."""
    task = cfg.get("task")
    if task == "explain":
        if cfg.get("checkpoint"):
            resolve_checkpoints(cfg, all_heads=False)  # an explicit path that does not exist is named first
        from camx.data.inputs import require_images

        require_images(list(cfg.get("inputs") or []))
        resolve_checkpoints(cfg, all_heads=cfg.get("heads") is not None and not cfg.get("checkpoint"))
    elif task == "eval":
        found = resolve_checkpoints(cfg, all_heads=True)
        if cfg.get("checkpoints"):
            for path in found.values():
                load_checkpoint(path)
    if task in ("explain",) and cfg.get("checkpoint"):
        load_checkpoint(cfg["checkpoint"])
    init = (cfg.get("model") or {}).get("init_backbone")
    if task == "train" and init:  # the file, its architecture and output stride (train checks the tensors)
        from camx.checkpoint import backbone_state

        backbone_state(init, cfg["model"]["arch"], int(cfg["model"].get("output_stride", 32)))
