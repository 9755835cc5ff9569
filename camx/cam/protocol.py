"""What camx.cam reads of a model: nothing but ``forward`` is required; a model may define these
optional attributes (camx's own models do, :mod:`camx.models`), each with a generic fallback.

=====================  ===========================================================  ====================================
attribute              meaning                                                      without it
=====================  ===========================================================  ====================================
``cam_target_layer``   the default target layer: a dotted module path or a module   the last 4-D feature map of the pass
``cam_reshape``        how the target layer's output becomes (B, C, h, w)           ``"auto"`` (:mod:`camx.cam.reshape`)
``min_side``           the smallest input side the network can classify, px         1 (no limit known)
``arch``               the model's name in messages                                 ``"the model"``
``input_mean``,        the per-channel mean and std the model's inputs are          ImageNet's (:func:`input_stats`)
``input_std``          normalised with (baselines that read the image's pixels)
=====================  ===========================================================  ====================================

and on any submodule, ``cam_stochastic = True``: the module is random in training mode, like Dropout, and
is switched on for Monte-Carlo sampling (``mc_samples > 1``) while every other module stays in eval mode
(:data:`STOCHASTIC_MODULES` are the torch ones). Layer paths resolve with :func:`resolve_layer`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from camx.errors import ConfigError

#: torch's modules that are stochastic in training mode (a module of another class opts in with ``cam_stochastic``)
STOCHASTIC_MODULES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def class_path(module: nn.Module) -> str:
    """``module``'s exact class as ``"package.module.Class"``, to recognise a library's class (timm's)
    without importing the library or matching its subclasses."""
    return f"{type(module).__module__}.{type(module).__qualname__}"


#: ImageNet's per-channel mean and std: the normalisation of a model that does not give its own
IMAGENET_MEAN: tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, ...] = (0.229, 0.224, 0.225)


def input_stats(model: Any = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) a model expects: its ``input_mean`` / ``input_std`` attributes (pretrained classifiers,
    :mod:`camx.models.pretrained`), else ImageNet's (every camx-trained model)."""
    mean = getattr(model, "input_mean", None) or IMAGENET_MEAN
    std = getattr(model, "input_std", None) or IMAGENET_STD
    return tuple(mean), tuple(std)


def is_stochastic(module: nn.Module) -> bool:
    """Whether ``module`` draws random numbers in training mode (torch's dropouts, or ``cam_stochastic``)."""
    return isinstance(module, STOCHASTIC_MODULES) or bool(getattr(module, "cam_stochastic", False))


def min_side(model: nn.Module) -> int:
    """The smallest input side ``model`` can classify (its ``min_side``; 1 when it does not say)."""
    return int(getattr(model, "min_side", 1) or 1)


def model_label(model: nn.Module) -> str:
    """The model's name in messages (its ``arch``; ``"the model"`` when it has none)."""
    return str(getattr(model, "arch", None) or "the model")


def default_target_layer(model: nn.Module) -> nn.Module | None:
    """The module ``model.cam_target_layer`` names, or None (the probe then finds the last feature map)."""
    default = getattr(model, "cam_target_layer", None)
    return None if default is None else resolve_layer(model, default)


def default_reshape(model: nn.Module) -> Any:
    """``model.cam_reshape``, or ``"auto"``."""
    return getattr(model, "cam_reshape", "auto")


def layer_names(model: nn.Module) -> list[str]:
    """Dotted names of every submodule, in definition order (the valid ``target_layer`` values)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """Return the submodule at dotted path ``layer`` (or ``layer`` itself if it is a module of ``model``)."""
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ConfigError("target_layer is a module that is not part of the model")
        return layer
    try:
        return model.get_submodule(str(layer))
    except AttributeError:
        shallow = [n for n in layer_names(model) if n.count(".") <= 1]
        shown = ", ".join(shallow[:40]) + (", …" if len(shallow) > 40 else "")
        raise ConfigError(
            f"target_layer={layer!r} is not a module of this model; use one of: {shown} (or a deeper dotted path)"
        ) from None
