"""What explain and eval share: loading a job's checkpoints and the options of its CAM methods.

The torch-free parts live elsewhere: which checkpoints a job uses in
:func:`camx.runs.resolve_checkpoints`, the checks before it starts in :func:`camx.jobs.preflight.preflight`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from camx.checkpoint import load_checkpoint


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


__all__ = ["load_for_job", "method_options"]
