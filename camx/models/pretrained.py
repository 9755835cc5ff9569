"""Pretrained classifiers by name, explained as they are: camx's four architectures with torchvision's
ImageNet weights, any torchvision classification model, and any timm model (when timm is installed).

Names (``model.arch``): ``resnet50`` / ``vgg16`` / ``vgg16_bn`` / ``alexnet`` (camx's own layout, see
:mod:`camx.models.build`), ``torchvision/<name>`` (e.g. ``torchvision/convnext_tiny``,
``torchvision/vit_b_16``, ``torchvision/swin_t``) and ``timm/<name>`` (e.g. ``timm/resnet50``,
``timm/vit_small_patch16_224``, ``timm/deit_tiny_patch16_224``). Weights (``model.weights``):
``imagenet`` (the published weights: torchvision's from the torch hub cache, timm's from the
Hugging Face cache; downloaded when online), ``none`` (random: for speed, not for quality) or the
path of a state-dict file for that architecture (``torch.load(weights_only=True)``, never runs code).

A loaded model carries what camx needs of it as attributes (a small protocol the CAM library and
the jobs read): ``class_names``, ``input_mean`` / ``input_std`` (its own normalisation),
``input_size``, ``min_side``, ``cam_target_layer`` (None: the last 4-D feature map, found during the
forward pass) and ``cam_reshape`` (how a token layer's output becomes a map, see
:mod:`camx.cam.reshape`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camx.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from camx.errors import CheckpointError, ConfigError
from camx.options.model import DEFAULT_TARGET_LAYER, split_arch, weights_message

__all__ = ["imagenet_classes", "load_pretrained", "load_state_file", "weights_file"]


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names in the standard index order (torchvision's list)."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return list(_IMAGENET_CATEGORIES)


def _offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("CAMX_OFFLINE", "HF_HUB_OFFLINE"))


def weights_file(arch: str) -> tuple[str, Path]:
    """(download URL, cache path) of the published ImageNet weights of a camx or torchvision ``arch``."""
    from torchvision import models as tvm

    source, name = split_arch(arch)
    if source == "timm":
        raise ConfigError(f"{arch}: timm weights live in the Hugging Face cache, not the torch hub cache")
    url = tvm.get_model_weights(name).DEFAULT.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def imagenet_state_dict(name: str, arch: str) -> dict[str, Any]:
    """The state dict of torchvision's default ImageNet weights for ``name``; one clear line when missing."""
    from torchvision import models as tvm

    url, cached = weights_file(arch)
    if not cached.is_file() and _offline():
        raise CheckpointError(_missing(arch, url, cached, "CAMX_OFFLINE is set"))
    try:
        return tvm.get_model_weights(name).DEFAULT.get_state_dict(progress=False, check_hash=False)
    except Exception as exc:  # offline: URLError; a half-downloaded file: RuntimeError
        raise CheckpointError(_missing(arch, url, cached, f"{type(exc).__name__}: {exc}")) from None


def _missing(arch: str, url: str, cached: Path, why: str) -> str:
    return (
        f"model.weights=imagenet for {arch}: {cached} is not there and it could not be downloaded ({why}); "
        f"copy {url} to {cached.parent}/, or use model.weights=PATH to a state-dict file"
    )


def _unwrap(state: Any, path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a file that holds one, also inside ``{"state_dict": …}`` / ``{"model": …}``,
    with a ``module.`` prefix (DataParallel) removed."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(
            f"{path}: not a state dict of tensors; save one with torch.save(model.state_dict())"
        )
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def load_state_file(model: nn.Module, path: str | Path) -> str:
    """Load the state-dict file ``path`` into ``model``; returns how it matched ("names" or "order").

    Keys are matched by name; when no name matches but the file holds exactly the model's tensors
    in the same order with the same shapes (the same architecture under other module names, e.g. a
    port of the original code), they are matched by position. Anything else is a CheckpointError
    naming the first mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(weights_message(path))
    try:
        state = _unwrap(torch.load(path, map_location="cpu", weights_only=True), path)
    except CheckpointError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: cannot read the state dict ({first[:200]})") from None
    own = model.state_dict()
    if set(state) & set(own):
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            which = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
            raise CheckpointError(
                f"{path}: does not fit this model ({len(missing)} missing, {len(unexpected)} unexpected keys, "
                f"e.g. {which}); is it for another architecture?"
            )
        return "names"
    shapes = [tuple(v.shape) for v in own.values()]
    if [tuple(v.shape) for v in state.values()] != shapes:
        raise CheckpointError(
            f"{path}: its {len(state)} tensors match neither the names nor the shapes of this model's "
            f"{len(own)}; is it for another architecture?"
        )
    model.load_state_dict(dict(zip(own, state.values())))
    return "order"


def _timm(name: str, weights: str) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise ConfigError(
            f"model.arch=timm/{name} needs timm: pip install 'camx[timm]' (or pip install timm)"
        ) from None
    if name not in timm.list_models():
        raise ConfigError(f"model.arch=timm/{name} is not a timm model; see timm.list_models()")
    if weights != "imagenet":
        return timm.create_model(name, pretrained=False)
    cached, repo = _timm_cached(name)
    if cached is not None:  # load the cached file directly: no request to the hub at all
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": cached})
    from huggingface_hub import constants
    from huggingface_hub.utils import logging as hf_logging

    missing = f"model.weights=imagenet for timm/{name}: {repo} is not in the Hugging Face cache {constants.HF_HUB_CACHE}"
    fix = "download it where you are online (same cache), or use model.weights=PATH to a state-dict file"
    if _offline() or not _reachable("huggingface.co"):
        raise CheckpointError(f"{missing} and the hub cannot be reached; {fix}")
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its retry warnings would flood the terminal
    try:
        return timm.create_model(name, pretrained=True)
    except Exception as exc:
        raise CheckpointError(f"{missing} and the download failed ({type(exc).__name__}); {fix}") from None
    finally:
        hf_logging.set_verbosity(level)


def _timm_cached(name: str) -> tuple[str | None, str]:
    """(path of timm's cached ImageNet weights for ``name`` or None, the Hugging Face repo id)."""
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) or f"timm/{name}"
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return found, repo
    return None, repo


def _reachable(host: str) -> bool:
    """Whether ``host`` resolves (no DNS, no network: fail at once instead of retrying for a minute)."""
    import socket

    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _torchvision(name: str, weights: str, arch: str) -> nn.Module:
    from torchvision import models as tvm

    if name not in tvm.list_models(module=tvm):
        raise ConfigError(
            f"model.arch={arch} is not a torchvision classification model; choose one of "
            f"torchvision.models.list_models(module=torchvision.models), e.g. torchvision/convnext_tiny"
        )
    model = tvm.get_model(name, weights=None)
    if weights == "imagenet":
        model.load_state_dict(imagenet_state_dict(name, arch))
    return model


def _vision_transformer_defaults(model: nn.Module, source: str) -> tuple[str | None, str]:
    """(target layer, reshape) of token models, after pytorch-grad-cam's documented choices: the first
    LayerNorm of the last block (ViT/DeiT: tokens (B, N, C); Swin: (B, H, W, C))."""
    names = dict(model.named_modules())
    if source == "timm" and "patch_embed" in names:
        if hasattr(model, "layers") and hasattr(model.layers[-1], "blocks"):  # Swin
            return f"layers.{len(model.layers) - 1}.blocks.{len(model.layers[-1].blocks) - 1}.norm1", "nhwc"
        if hasattr(model, "blocks"):
            return f"blocks.{len(model.blocks) - 1}.norm1", "tokens"
    if source == "torchvision":
        from torchvision.models import SwinTransformer, VisionTransformer

        if isinstance(model, VisionTransformer):
            return f"encoder.layers.encoder_layer_{len(model.encoder.layers) - 1}.ln_1", "tokens"
        if isinstance(model, SwinTransformer):
            last = len(model.features) - 1
            return f"features.{last}.{len(model.features[last]) - 1}.norm1", "nhwc"
    return None, "auto"


def _input_spec(model: nn.Module, source: str, name: str) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    if source == "timm":
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        size = int((cfg.get("input_size") or (3, 224, 224))[-1])
        return tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD)), size
    from torchvision import models as tvm

    t = tvm.get_model_weights(name).DEFAULT.transforms()
    return tuple(t.mean), tuple(t.std), int(t.crop_size[0])


def _fixed_size(model: nn.Module) -> bool:
    """Whether the model only classifies inputs of its own size (ViTs with fixed position embeddings)."""
    from torchvision.models import VisionTransformer

    if isinstance(model, VisionTransformer):
        return True
    embed = getattr(model, "patch_embed", None)
    return bool(getattr(embed, "strict_img_size", False)) and not getattr(model, "dynamic_img_size", False)


def load_pretrained(arch: str, weights: str = "imagenet", target_layer: str | None = None) -> nn.Module:
    """A pretrained classifier ``arch`` with ``weights`` (see the module docstring), in eval mode."""
    source, name = split_arch(arch)
    if source == "camx":
        from camx.models.build import build_model

        model: nn.Module = build_model(name, "plain", 1000, weights=weights, output_stride=32)
        model.class_names = imagenet_classes()
        mean, std, size = IMAGENET_MEAN, IMAGENET_STD, 224
        layer, reshape = target_layer or DEFAULT_TARGET_LAYER[name], "auto"
    else:
        builtin = weights if weights in ("imagenet", "none") else "none"
        model = _timm(name, builtin) if source == "timm" else _torchvision(name, builtin, arch)
        if builtin != weights:
            load_state_file(model, weights)
        mean, std, size = _input_spec(model, source, name)
        layer, reshape = _vision_transformer_defaults(model, source)
        layer = target_layer or layer
        classes = int(getattr(model, "num_classes", 0) or _num_outputs(model, size))
        model.class_names = imagenet_classes() if classes == 1000 else [str(i) for i in range(classes)]
        model.min_side = size if _fixed_size(model) else 1
        model.arch = arch
    model.input_mean, model.input_std, model.input_size = tuple(mean), tuple(std), int(size)
    model.cam_target_layer = layer
    model.cam_reshape = reshape
    model.head_kind = "pretrained"
    return model.eval()


def _num_outputs(model: nn.Module, size: int) -> int:
    with torch.inference_mode():
        return int(model.eval()(torch.zeros(1, 3, size, size)).shape[-1])
