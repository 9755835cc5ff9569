"""``model.target_layer``: check that a configured layer name is a module of the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from camx.errors import ConfigError
from camx.options import is_unset
from camx.options.model import requested_target_layer


def check_target_layer(model: nn.Module, name: Any, what: str) -> str | list[str] | None:
    """``name`` if it is a dotted module path of ``model`` (None if unset: :func:`~camx.options.is_unset`, as
    :func:`~camx.options.model.requested_target_layer`); else a ConfigError listing valid paths. A list of
    paths (``model.target_layer=[blocks.4,bn2]``: maps fused by ``cam.fuse``) is checked path by path.

    ``what`` names the model in the message (e.g. ``resnet50/plain`` or a checkpoint path).
    """
    if isinstance(name, Sequence) and not isinstance(name, str):
        return [str(check_target_layer(model, one, what)) for one in name]
    if is_unset(name):
        return None
    modules = dict(model.named_modules())
    if str(name) in modules and str(name):
        return str(name)
    shallow = [n for n in modules if n and n.count(".") <= 1]
    shown = ", ".join(shallow[:30]) + (", …" if len(shallow) > 30 else "")
    deep = next((n for n in reversed(modules) if n.count(".") >= 2), None)
    default = getattr(model, "cam_target_layer", None)
    raise ConfigError(
        f"model.target_layer={name!r} is not a module of {what}; use one of: {shown}"
        + (f" (or a deeper dotted path such as {deep})" if deep else "")
        + (f"; null picks the default, {default}" if default else "")
    )


def validate_target_layer(model_cfg: Mapping[str, Any]) -> None:
    """Check ``model.target_layer`` of a config without allocating weights (the model is built on the meta device)."""
    from camx.models.build import build_model

    name = requested_target_layer(model_cfg)
    if name is None:
        return
    if isinstance(name, Sequence) and not isinstance(name, str):
        raise ConfigError(
            f"model.target_layer={list(name)!r}: a trained model keeps one default layer; give one here "
            "(several layers, fused, are for camx explain and eval)"
        )
    options = {k: v for k, v in model_cfg.items() if k not in ("arch", "head", "target_layer", "weights")}
    with torch.device("meta"):
        model = build_model(model_cfg["arch"], model_cfg["head"], 2, **options)
    check_target_layer(model, name, f"{model_cfg['arch']}/{model_cfg['head']}")


__all__ = ["check_target_layer", "validate_target_layer"]
