"""Inference-only copies of a model for the many forward passes of the score family.

Score-CAM forwards one masked image per activation channel (2,048 for ResNet50), so the cost of a
single forward pass is what matters. :func:`inference_copy` returns a frozen copy of the model in
which every BatchNorm that directly follows a convolution is folded into it,

    W' = W · γ / √(σ² + ε),    b' = (b − μ) · γ / √(σ² + ε) + β,

(the standard eval-mode fold; the output is the same function up to float rounding, ~1e-6
relative) and whose weights use the ``channels_last`` memory format on CPU, where oneDNN
convolutions are faster with it, and timm's TensorFlow-"SAME" convolutions (every ``tf_*`` model) run
without the padded copy of their input (:class:`~camx.cam.fast_layers.StaticSameConv2d`). The copy
is cached per model and rebuilt when any parameter or buffer of the original changes (in-place updates
bump a tensor's version counter), so repeated ``explain`` calls on the same model pay the fold once.

Only models entirely in eval mode get a copy (a Monte-Carlo pass needs the original's stochastic
modules); a model that cannot be deep-copied is used as it is.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.models.resnet import BasicBlock, Bottleneck

from camx.cam.fast_layers import static_same_padding
from camx.cam.protocol import class_path

_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[Any, nn.Module]] = weakref.WeakKeyDictionary()


def _fold_pairs(module: nn.Module) -> None:
    """Fold BatchNorm2d into the Conv2d it follows, in place, where the order is known: consecutive
    children of an ``nn.Sequential``, the pairs of timm's EfficientNet blocks (:data:`_TIMM_PAIRS`; a
    BatchNormAct2d leaves its activation), and ``convN``/``bnN`` of torchvision's ResNet blocks (a block of
    another kind may apply its ``bn1`` before ``conv1``, as pre-activation ResNets do, so names alone
    are not trusted)."""
    for child in module.children():
        _fold_pairs(child)
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            _fold_named(module, first, second)  # a BatchNorm subclass of unknown forward stays
    pairs = _TIMM_PAIRS.get(class_path(module))
    if pairs is not None:
        for conv_name, bn_name in pairs:
            _fold_named(module, conv_name, bn_name)
        return
    if not isinstance(module, (BasicBlock, Bottleneck)):  # blocks whose forward is convN → bnN
        return
    for name, conv in list(module._modules.items()):
        if not (isinstance(conv, nn.Conv2d) and name.startswith("conv")):
            continue
        bn_name = "bn" + name[len("conv") :]
        bn = module._modules.get(bn_name)
        if isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
            module._modules[name] = fuse_conv_bn_eval(conv, bn)
            module._modules[bn_name] = nn.Identity()


#: timm classes whose forward runs each (conv, bn) pair back to back (timm ≥ 1.0's EfficientNet family;
#: the exact class, so subclasses with other convolutions, e.g. CondConvResidual, are left alone).
_TIMM_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "timm.models.efficientnet.EfficientNet": (("conv_stem", "bn1"), ("conv_head", "bn2")),
    "timm.models._efficientnet_blocks.DepthwiseSeparableConv": (
        ("conv_s2d", "bn_s2d"),
        ("conv_dw", "bn1"),
        ("conv_pw", "bn2"),
    ),
    "timm.models._efficientnet_blocks.InvertedResidual": (
        ("conv_s2d", "bn_s2d"),
        ("conv_pw", "bn1"),
        ("conv_dw", "bn2"),
        ("conv_pwl", "bn3"),
    ),
    "timm.models._efficientnet_blocks.EdgeResidual": (("conv_exp", "bn1"), ("conv_pwl", "bn2")),
}


def _fold_named(module: nn.Module, conv_name: str, bn_name: str) -> None:
    """Fold ``module.<bn_name>`` into ``module.<conv_name>``; a timm BatchNormAct2d leaves its dropout and
    activation behind (its forward is BatchNorm → drop → act)."""
    conv, bn = module._modules.get(conv_name), module._modules.get(bn_name)
    if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats):
        return
    if type(bn) is nn.BatchNorm2d:
        rest: nn.Module = nn.Identity()
    elif type(bn).__name__ == "BatchNormAct2d" and hasattr(bn, "act") and hasattr(bn, "drop"):
        rest = nn.Sequential(bn.drop, bn.act)
    else:  # another BatchNorm subclass: its forward is unknown
        return
    module._modules[conv_name] = fuse_conv_bn_eval(conv, bn)
    module._modules[bn_name] = rest


def _state_key(model: nn.Module) -> tuple[Any, ...]:
    tensors = [*model.parameters(), *model.buffers()]
    return tuple((t.data_ptr(), t._version, t.device.type) for t in tensors)


_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def _copy_without_hooks(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)`` leaving out the hooks (a CAM probe's hooks stay on the original only)."""
    saved = []
    for module in model.modules():
        for attr in _HOOK_DICTS:
            hooks = module.__dict__.get(attr)
            if hooks:
                saved.append((module, attr, hooks))
                module.__dict__[attr] = type(hooks)()
    try:
        return copy.deepcopy(model)
    finally:
        for module, attr, hooks in saved:
            module.__dict__[attr] = hooks


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` (in eval mode, gradients off, no hooks) with BatchNorm folded into the
    convolutions and timm's "SAME" convolutions without their padded copy (:mod:`camx.cam.fast_layers`)."""
    fused = _copy_without_hooks(model).eval()
    for param in fused.parameters():
        param.requires_grad_(False)
    with torch.no_grad():
        _fold_pairs(fused)
    static_same_padding(fused)
    return fused


def inference_layout(device: torch.device) -> torch.memory_format:
    """The memory format of :func:`inference_copy`'s weights, and so of the inputs to give it:
    channels-last on CPU (oneDNN's fast layout), the default elsewhere."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def inference_copy(model: nn.Module) -> nn.Module:
    """The cached BatchNorm-folded, channels-last copy of ``model``, or ``model`` itself when no copy applies."""
    if any(m.training for m in model.modules()):
        return model
    key = _state_key(model)
    cached = _CACHE.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        fused = fold_batchnorm(model)
    except Exception:  # e.g. a module holding something deepcopy refuses: use the model as it is
        return model
    fused = fused.to(memory_format=inference_layout(next(model.parameters(), torch.empty(0)).device))
    _CACHE[model] = (key, fused)
    return fused
