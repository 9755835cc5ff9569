"""Pretrained classifiers by name, explained as they are: camx's four architectures with torchvision's
ImageNet weights, any torchvision classification model, and any timm model (when timm is installed).

Names (``model.arch``): ``resnet50`` / ``vgg16`` / ``vgg16_bn`` / ``alexnet`` (camx's own layout, see
:mod:`camx.models.build`), ``torchvision/<name>`` (e.g. ``torchvision/convnext_tiny``,
``torchvision/vit_b_16``, ``torchvision/swin_t``) and ``timm/<name>`` (e.g. ``timm/resnet50``,
``timm/vit_small_patch16_224``, ``timm/deit_tiny_patch16_224``). Weights (``model.weights``):
``imagenet`` (the published weights: torchvision's from the torch hub cache, timm's from the
Hugging Face cache; downloaded when online), ``none`` (random: for speed, not for quality) or the
path of a state-dict file for that architecture (``torch.load(weights_only=True)``, never runs code;
read and fitted by :mod:`camx.models.state_file`). A file whose classifier has N ≠ 1000 outputs builds
the torchvision/timm model for N classes, named ``class_names`` (``model.class_names``) or "0" … "N-1".
timm models that take ``dynamic_img_size`` (ViT, DeiT) are built with it, so they classify any input
size (position embeddings interpolated; unchanged at the native size); torchvision's ViT refuses
another size in one ConfigError (:class:`_FixedInputSize`).

A loaded model carries what camx needs of it as attributes (a small protocol the CAM library and
the jobs read): ``class_names``, ``input_mean`` / ``input_std`` (its own normalisation),
``input_size``, ``min_side``, ``cam_target_layer`` (None: the last 4-D feature map, found during the
forward pass) and ``cam_reshape`` (how a token layer's output becomes a map, see
:mod:`camx.cam.reshape`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camx.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from camx.errors import CheckpointError, ConfigError
from camx.models.state_file import fit_state, load_state_file, read_state_file, state_classes
from camx.options.model import DEFAULT_TARGET_LAYER, split_arch

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


def _timm_create(name: str, **kwargs: Any) -> nn.Module:
    """``timm.create_model``, with ``dynamic_img_size=True`` where the model takes it (ViT, DeiT, EVA…:
    position embeddings interpolated to the input's patch grid, unchanged at the native size)."""
    import timm

    try:
        return timm.create_model(name, dynamic_img_size=True, **kwargs)
    except TypeError as exc:  # a model without the option (CNNs, Swin) says so before building anything
        if "dynamic_img_size" not in str(exc):
            raise
        return timm.create_model(name, **kwargs)


def _timm(name: str, weights: str, classes: dict[str, int]) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise ConfigError(
            f"model.arch=timm/{name} needs timm: pip install 'camx[timm]' (or pip install timm)"
        ) from None
    if name not in timm.list_models():
        raise ConfigError(f"model.arch=timm/{name} is not a timm model; see timm.list_models()")
    if weights != "imagenet":
        return _timm_create(name, pretrained=False, **classes)
    cached, repo = _timm_cached(name)
    if cached is not None:  # load the cached file directly: no request to the hub at all
        return _timm_create(name, pretrained=True, pretrained_cfg_overlay={"file": cached})
    from huggingface_hub import constants
    from huggingface_hub.utils import logging as hf_logging

    missing = f"model.weights=imagenet for timm/{name}: {repo} is not in the Hugging Face cache {constants.HF_HUB_CACHE}"
    fix = "download it where you are online (same cache), or use model.weights=PATH to a state-dict file"
    if _offline() or not _reachable("huggingface.co"):
        raise CheckpointError(f"{missing} and the hub cannot be reached; {fix}")
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its retry warnings would flood the terminal
    try:
        return _timm_create(name, pretrained=True)
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


def _torchvision(name: str, weights: str, arch: str, classes: dict[str, int]) -> nn.Module:
    from torchvision import models as tvm

    if name not in tvm.list_models(module=tvm):
        raise ConfigError(
            f"model.arch={arch} is not a torchvision classification model; choose one of "
            f"torchvision.models.list_models(module=torchvision.models), e.g. torchvision/convnext_tiny"
        )
    model = tvm.get_model(name, weights=None, **classes)
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


def load_pretrained(
    arch: str,
    weights: str = "imagenet",
    target_layer: str | None = None,
    class_names: Sequence[str] | None = None,
) -> nn.Module:
    """A pretrained classifier ``arch`` with ``weights`` (see the module docstring), in eval mode.

    A state-dict file whose classifier has N ≠ 1000 outputs (a fine-tuned model) builds ``arch`` for N
    classes; ``class_names`` names them (default: ImageNet's for 1000 classes, else "0" … "N-1")."""
    source, name = split_arch(arch)
    if source == "camx":
        from camx.models.build import build_model

        model: nn.Module = build_model(name, "plain", 1000, weights=weights, output_stride=32)
        mean, std, size = IMAGENET_MEAN, IMAGENET_STD, 224
        layer, reshape = target_layer or DEFAULT_TARGET_LAYER[name], "auto"
        classes = 1000
    else:
        model = _external(source, name, weights, arch)
        mean, std, size = _input_spec(model, source, name)
        layer, reshape = _vision_transformer_defaults(model, source)
        layer = target_layer or layer
        classes = int(getattr(model, "num_classes", 0) or _num_outputs(model, size))
        model.min_side = size if _fixed_size(model) else 1
        if _fixed_size(model):
            model.__class__ = _fixed_size_class(type(model))
        model.arch = arch
    model.class_names = _class_names(
        class_names, classes, arch if weights in ("imagenet", "none") else weights
    )
    model.input_mean, model.input_std, model.input_size = tuple(mean), tuple(std), int(size)
    model.cam_target_layer = layer
    model.cam_reshape = reshape
    model.head_kind = "pretrained"
    return model.eval()


def _external(source: str, name: str, weights: str, arch: str) -> nn.Module:
    """torchvision's or timm's ``name`` with ``weights``; a state-dict file is fitted (:mod:`camx.models.state_file`)
    after building the model for its class count when that is not the architecture's own."""
    builtin = weights if weights in ("imagenet", "none") else "none"
    build = _timm if source == "timm" else partial(_torchvision, arch=arch)
    model = build(name, builtin, classes={})
    if builtin == weights:
        return model
    state = read_state_file(weights)
    count = state_classes(model.state_dict(), state, int(getattr(model, "num_classes", 0) or 1000))
    if count is not None:
        model = build(name, builtin, classes={"num_classes": count})
    fit_state(model, state, weights, arch)
    return model


def _class_names(given: Sequence[str] | None, classes: int, what: str) -> list[str]:
    """``given`` (``model.class_names``) checked against the model's ``classes``, else the default names."""
    if given is None:
        return imagenet_classes() if classes == 1000 else [str(i) for i in range(classes)]
    names = [str(c).strip() for c in given]
    if len(names) != classes or len(set(names)) != len(names) or not all(names):
        why = (
            f"holds {len(names)} names but {what} has {classes} classes"
            if len(names) != classes
            else "repeats a name or holds an empty one"
        )
        raise ConfigError(
            f"model.class_names {why}; give one distinct name per output, in its order, e.g. "
            f"model.class_names=[{','.join(names[:2] or ['cat', 'dog'])},…]"
        )
    return names


class _FixedInputSize:
    """Mixed into a model whose position embeddings fix its input size (``input_size``): another size is
    one ConfigError at the call, in place of its own assertion (a class, so copies of the model keep it)."""

    input_size: int

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        height, width, size = int(x.shape[-2]), int(x.shape[-1]), int(self.input_size)
        if (height, width) != (size, size):
            raise ConfigError(
                f"the model takes {size}×{size} px inputs only (its position embeddings are fixed), not "
                f"{height}×{width}; set image_size={size} (eval: dataset.image_size={size}), or use a timm ViT "
                "(e.g. timm/vit_tiny_patch16_224), which interpolates them to any size"
            )
        return super().forward(x, *args, **kwargs)  # type: ignore[misc]


@cache
def _fixed_size_class(base: type) -> type:
    return type(base.__name__, (_FixedInputSize, base), {"__module__": base.__module__})


def _num_outputs(model: nn.Module, size: int) -> int:
    with torch.inference_mode():
        return int(model.eval()(torch.zeros(1, 3, size, size)).shape[-1])
