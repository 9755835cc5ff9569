"""The ``model`` group: architectures, heads, ImageNet weights, and the checks of their options.

:mod:`camx.models.build` builds models from these options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from camx.errors import ConfigError
from camx.options import is_unset

ARCHS: tuple[str, ...] = ("resnet50", "vgg16", "vgg16_bn", "alexnet")
HEADS: tuple[str, ...] = ("plain", "attention", "dropout", "dropkey")
#: built-in weights; any other value of ``model.weights`` is the path of a state-dict file
WEIGHTS: tuple[str, ...] = ("none", "imagenet")
#: ``model.arch`` prefixes of pretrained classifiers from other libraries (:mod:`camx.models.pretrained`)
SOURCES: tuple[str, ...] = ("torchvision", "timm")
#: VGG16/AlexNet: torchvision's features + fully connected stack, or (gap) the features without the last
#: max-pool, the plain head GAP → fc and the attention heads on that map.
CLASSIFIERS: tuple[str, ...] = ("full", "gap")
DEFAULT_TARGET_LAYER = {
    "resnet50": "layer4",
    "vgg16": "features.29",
    "vgg16_bn": "features.42",
    "alexnet": "features.11",
}
#: Smallest input side each (architecture, classifier) turns into at least a 1×1 final feature map: with
#: torchvision's classifier the last max-pool counts, with classifier="gap" the features end before it
#: (measured: AlexNet 63 / 31 px, VGG16 32 / 16 px). ResNet50: its output stride.
MIN_SIDE: dict[tuple[str, str], int] = {
    ("alexnet", "full"): 63,
    ("alexnet", "gap"): 31,
    ("vgg16", "full"): 32,
    ("vgg16", "gap"): 16,
    ("vgg16_bn", "full"): 32,
    ("vgg16_bn", "gap"): 16,
}


def min_input_side(model: Mapping[str, Any]) -> int:
    """The smallest input side ``model`` (a ``model`` config) accepts (:data:`MIN_SIDE`, else its output stride)."""
    return MIN_SIDE.get((str(model["arch"]), str(model["classifier"])), int(model["output_stride"]))


def weights_message(weights: object) -> str:
    """The one line for a ``model.weights`` that is neither a built-in choice nor an existing file."""
    return (
        f"model.weights={str(weights)!r} is not valid: neither {' nor '.join(WEIGHTS)} nor an existing "
        "state-dict file; check the path"
    )


def split_arch(arch: str) -> tuple[str, str]:
    """``model.arch`` → (source, name): ``("camx", "resnet50")``, ``("torchvision", "convnext_tiny")`` for
    ``torchvision/convnext_tiny``, ``("timm", "vit_small_patch16_224")`` for ``timm/vit_small_patch16_224``."""
    text = str(arch)
    source, _, name = text.partition("/")
    if name and source in SOURCES:
        return source, name
    if text in ARCHS:
        return "camx", text
    raise ConfigError(
        f"model.arch={arch!r} is not a valid choice; choose one of: {', '.join(ARCHS)}, "
        "torchvision/<name> (any torchvision classification model) or timm/<name> (any timm model)"
    )


def is_external(arch: str) -> bool:
    """Whether ``arch`` names another library's classifier (explained as it is, not trained by camx)."""
    return split_arch(arch)[0] != "camx"


#: named token layouts of :mod:`camx.cam.reshape` (kept torch-free here for config validation)
RESHAPES = ("auto", "tokens", "nhwc")


def validate_model_options(
    arch: str = "resnet50",
    head: str = "plain",
    weights: str = "none",
    output_stride: int = 32,
    dim: int = 256,
    num_heads: int = 4,
    depth: int = 1,
    mask_ratio: float = 0.1,
    init_backbone: str | None = None,
    classifier: str = "full",
    reshape: str | None = None,
    **_: Any,
) -> None:
    """Raise ConfigError for an unknown choice or out-of-range option of :func:`~camx.models.build.build_model`."""
    from camx.options.schema import check_group

    external = is_external(arch)
    # types, ranges and choices: camx.options.schema; the rules between options below
    options = dict(head=head, classifier=classifier, mask_ratio=mask_ratio, dim=dim, num_heads=num_heads)
    check_group({**options, "depth": depth}, "model")
    if reshape is not None and reshape not in RESHAPES and ":" not in str(reshape):
        raise ConfigError(
            f"model.reshape={reshape!r} is not valid; use null (the model's own), {', '.join(RESHAPES)} "
            "or package.module:function"
        )
    if is_unset(weights) or not str(weights).strip():
        raise ConfigError("model.weights is empty; use none, imagenet or the path of a state-dict file")
    if external:
        return  # another library's network: its own layout, none of camx's head options apply
    if init_backbone and weights != "none":
        raise ConfigError(
            f"model.weights={weights} and model.init_backbone={init_backbone} both set the backbone; "
            "keep one (model.weights=none to start from the checkpoint)"
        )
    if output_stride not in (16, 32) or (arch != "resnet50" and output_stride != 32):
        raise ConfigError(
            f"model.output_stride={output_stride} is not supported for {arch}; use 32"
            + (" or 16 (dilated layer4)" if arch == "resnet50" else "")
            + (
                f" (model.arch={arch} keeps model=resnet50's output_stride=16: choose model={arch} instead)"
                if arch != "resnet50" and output_stride == 16
                else ""
            )
        )
    if int(dim) % int(num_heads):
        raise ConfigError(f"model.dim={dim} must be divisible by model.num_heads={num_heads}")


def requested_target_layer(model: Mapping[str, Any]) -> Any:
    """``model.target_layer`` if the config names a layer, else None (:func:`~camx.options.is_unset`: the default layer)."""
    name = model.get("target_layer")
    return None if is_unset(name) else name
