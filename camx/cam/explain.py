"""``explain`` / ``explain_many``: class activation maps for a batch, by any methods, leaving the model as it was found."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from camx.cam.base import CamMethod, CamRun, make_method, minmax
from camx.cam.fusion import check_fuse, check_layer_list, fuse_maps, is_layer_list
from camx.cam.hooks import Pass, Probe, frozen_model, module_name
from camx.cam.protocol import default_reshape, default_target_layer, resolve_layer
from camx.cam.registry import display_name, method_key, resolve_method
from camx.cam.reshape import Reshape, resolve_reshape
from camx.cam.smoothing import augmented, check_flags, eigen_smoothed
from camx.cam.targets import names_to_indices, resolve_targets
from camx.errors import ConfigError, DataError, check_chunk_size

Size = str | tuple[int, int] | None
Targets = int | str | Sequence[int | str] | Tensor | None  #: indices, or class names (model.class_names)
MethodSpec = str | type[CamMethod]  #: an id, "package.module:Class", or a CamMethod subclass
Layer = str | nn.Module
Layers = Layer | Sequence[Layer] | None  #: one layer, several (fused, :mod:`camx.cam.fusion`) or the default


@dataclass(frozen=True)
class CamResult:
    """Maps and the prediction they explain, for a batch of B images and K classes."""

    maps: Tensor  #: (B, H, W) float32 in [0, 1]
    logits: Tensor  #: (B, K) logits of the same forward pass (mean over MC samples)
    probs: Tensor  #: (B, K) softmax probabilities (mean of per-sample softmax over MC samples)
    targets: Tensor  #: (B,) long, the class each map explains
    method: str = ""
    target_layer: str = ""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r} must be a positive integer")
    return value


def _check_images(images: Any) -> Tensor:
    if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise DataError(f"images must be a float tensor of shape (B, 3, H, W); got {shape}")
    if images.shape[0] == 0:
        raise DataError("images is an empty batch")
    return images.detach()


def _check_size(size: Size, images: Tensor) -> tuple[int, int] | None:
    if size is None:
        return None
    if size == "input":
        return (int(images.shape[-2]), int(images.shape[-1]))
    if (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)
    ):
        return (int(size[0]), int(size[1]))
    raise ConfigError(f"size={size!r} is not valid; use 'input', None (feature-map resolution) or (h, w)")


def _target_module(model: nn.Module, target_layer: str | nn.Module | None) -> nn.Module | None:
    if target_layer is None:
        return default_target_layer(model)
    return resolve_layer(model, target_layer)


def _raw_map(impl: CamMethod, run: CamRun, eigen_smooth: bool = False) -> Tensor:
    with nullcontext() if impl.needs_gradients else torch.inference_mode():
        raw = eigen_smoothed(impl, run) if eigen_smooth else None
        raw = impl.compute(run) if raw is None else raw
    raw = raw.detach().to(torch.float32)
    if impl.relu:
        raw = raw.clamp_min(0)
    return raw


def explain(
    model: nn.Module,
    images: Tensor,
    method: MethodSpec = "gradcam",
    target_layer: Layers = None,
    targets: Targets = None,
    size: Size = "input",
    mc_samples: int = 1,
    chunk_size: int | str = "auto",
    reshape: Reshape | None = None,
    fuse: str = "mean",
    eigen_smooth: bool = False,
    aug_smooth: bool = False,
    **method_options: Any,
) -> CamResult:
    """Class activation maps of ``images`` (normalised, (B, 3, H, W)) for ``model`` (returns logits).

    - ``method``: a registered id (:data:`camx.cam.REGISTRY`), a :class:`~camx.cam.base.CamMethod` subclass,
      or ``"package.module:Class"`` naming one; ``method_options`` go to its class (see its docstring).
    - ``target_layer``: a module of ``model`` or its dotted path; None → ``model.cam_target_layer``
      when the model has it, else the last module whose output is a 4-D map with more than one
      spatial position (found by hooks during the forward pass). A list of layers: the map of each
      layer, fused by ``fuse`` (``"mean"``, pytorch-grad-cam's; ``"layercam"``, Layer-CAM's tanh
      scaling and maximum; :mod:`camx.cam.fusion`), one forward pass per layer.
    - ``targets``: None (each image's predicted class), an int, or B ints; class names (a str or B strs)
      when the model has ``class_names`` (:func:`camx.cam.targets.names_to_indices`).
    - ``size``: ``"input"`` (bilinear, align_corners=False, to H×W), None (feature-map resolution) or (h, w).
    - ``mc_samples`` > 1: Monte-Carlo sampling with the model's Dropout and DropKey modules in
      training mode (everything else, BatchNorm included, in eval mode): the raw maps (after the
      method's ReLU, before resizing and min–max) and the softmax probabilities are averaged over
      the samples. With ``targets=None`` the explained class is the argmax of the averaged
      probabilities, so the samples' forward passes are kept until it is known.
    - ``chunk_size``: at most this many masked images per forward pass (scorecam, gradpp_scorecam);
      ``"auto"`` sizes the chunk to the masked inputs' pixels (:func:`camx.cam.score.chunk_for`).
    - ``reshape``: how the target layer's output becomes a (B, C, h, w) map — ``"auto"``, ``"tokens"``
      (ViT/DeiT), ``"nhwc"`` (Swin) or a callable like pytorch-grad-cam's ``reshape_transform``
      (:mod:`camx.cam.reshape`); None → the model's ``cam_reshape`` attribute, else ``"auto"``.
    - ``eigen_smooth``, ``aug_smooth``: pytorch-grad-cam's options (:mod:`camx.cam.smoothing`): the principal
      component of the per-channel maps, and the mean map over six mirrored and rescaled input copies.

    One forward pass of the B images (plus one backward pass, down to the target layer only, for gradient
    methods) per sample. The model is left exactly as found: train/eval flags, ``requires_grad`` flags,
    hooks and parameter ``.grad`` buffers. :func:`explain_many` shares that pass between several methods.
    """
    key = method_key(method)
    return explain_many(
        model,
        images,
        [method],
        target_layer=target_layer,
        targets=targets,
        size=size,
        mc_samples=mc_samples,
        chunk_size=chunk_size,
        reshape=reshape,
        options={key: method_options},
        fuse=fuse,
        eigen_smooth=eigen_smooth,
        aug_smooth=aug_smooth,
    )[key]


def explain_many(
    model: nn.Module,
    images: Tensor,
    methods: Sequence[MethodSpec],
    target_layer: Layers = None,
    targets: Targets = None,
    size: Size = "input",
    mc_samples: int = 1,
    chunk_size: int | str = "auto",
    options: Mapping[str, Mapping[str, Any]] | None = None,
    reshape: Reshape | None = None,
    fuse: str = "mean",
    eigen_smooth: bool = False,
    aug_smooth: bool = False,
) -> dict[str, CamResult]:
    """:func:`explain` for several methods at once, keyed by method: the same maps, fewer passes.

    Every method explains the same forward pass (one per Monte-Carlo sample) and the gradient
    methods share its backward pass (∂y^c/∂A is computed once per pass and target), so
    ``explain_many(model, x, ["gradcam", "gradcampp", "layercam", "random"])`` costs one forward
    and one head-only backward instead of four forwards and three backwards. Passes a method makes
    on its own (Score-CAM's masked inputs, SmoothGrad's noisy copies) are not shared.
    ``options`` maps a method to its options; results and options are keyed by
    :func:`~camx.cam.registry.method_key`; the other arguments are :func:`explain`'s. Each result
    equals ``explain(model, images, method, …)`` (with ``mc_samples > 1`` too, unless a score method's
    masked passes draw from the global RNG between samples).
    """
    check_fuse(fuse)
    check_flags(eigen_smooth=eigen_smooth, aug_smooth=aug_smooth)
    targets = names_to_indices(targets, getattr(model, "class_names", None))
    common: dict[str, Any] = dict(mc_samples=mc_samples, chunk_size=chunk_size, options=options)
    common.update(reshape=reshape, eigen_smooth=eigen_smooth)
    if aug_smooth:
        copies = partial(
            explain_many, model, methods=methods, target_layer=target_layer, size=size, fuse=fuse
        )
        return augmented(lambda x, t: copies(x, targets=t, **common), _check_images(images), targets)
    if is_layer_list(target_layer):
        layers = check_layer_list(target_layer)
        return _explain_layers(model, images, methods, layers, fuse, size, {**common, "targets": targets})
    return _explain_layer(model, images, methods, target_layer, targets, size, **common)


def _explain_layer(
    model: nn.Module,
    images: Tensor,
    methods: Sequence[MethodSpec],
    target_layer: Layer | None,
    targets: Targets,
    size: Size,
    *,
    mc_samples: int,
    chunk_size: int | str,
    options: Mapping[str, Mapping[str, Any]] | None,
    reshape: Reshape | None,
    eigen_smooth: bool,
) -> dict[str, CamResult]:
    """:func:`explain_many` at one target layer: one pass per Monte-Carlo sample shared by every method."""
    impls = build_methods(methods, options)
    images = _check_images(images)
    mc = _positive_int("mc_samples", mc_samples)
    chunk = check_chunk_size(chunk_size)
    out_size = _check_size(size, images)
    layer = _target_module(model, target_layer)
    layout = resolve_reshape(default_reshape(model) if reshape is None else reshape)
    gradients = any(impl.needs_gradients for impl in impls.values())
    track = any(impl.tracks_head for impl in impls.values())
    with (
        frozen_model(model, stochastic=mc > 1),
        Probe(model, layer, gradients=gradients, track=track, reshape=layout) as probe,
    ):
        maps = _MapSum(model, images, impls, out_size, chunk, probe, bool(eigen_smooth))
        sampled = _sample(probe, images, mc, targets, maps.add)
        assert probe.layer is not None
        layer_name = module_name(model, probe.layer)
    return {
        key: CamResult(
            maps=_final_maps(maps.totals[key] / mc, out_size),
            logits=sampled.logits,
            probs=sampled.probs,
            targets=sampled.targets,
            method=display_name(type(impl)),
            target_layer=layer_name,
        )
        for key, impl in impls.items()
    }


def _explain_layers(
    model: nn.Module,
    images: Tensor,
    methods: Sequence[MethodSpec],
    layers: list[Any],
    fuse: str,
    size: Size,
    common: dict[str, Any],
) -> dict[str, CamResult]:
    """:func:`explain_many` at each layer (maps at feature-map resolution), fused per method by ``fuse``."""
    out_size = _check_size(size, _check_images(images))
    first = explain_many(model, images, methods, target_layer=layers[0], size=None, **common)
    # the other layers explain the classes the first layer's pass chose (the same argmax without MC sampling)
    common = {**common, "targets": next(iter(first.values())).targets}
    rest = [
        explain_many(model, images, methods, target_layer=layer, size=None, **common) for layer in layers[1:]
    ]
    per_layer = [first, *rest]
    return {
        key: CamResult(
            maps=fuse_maps([res[key].maps for res in per_layer], out_size, fuse),
            logits=first[key].logits,
            probs=first[key].probs,
            targets=first[key].targets,
            method=first[key].method,
            target_layer=",".join(res[key].target_layer for res in per_layer),
        )
        for key in first
    }


def build_methods(
    methods: Sequence[MethodSpec], options: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, CamMethod]:
    """Each method, keyed by :func:`~camx.cam.registry.method_key`, built with its ``options``: a
    ConfigError for no method, a method twice, options of a method not listed, or an invalid option."""
    keys = [method_key(m) for m in methods]
    if not keys:
        raise ConfigError("methods is empty; name at least one CAM method")
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"methods lists {', '.join(map(repr, twice))} more than once")
    options = dict(options or {})
    unknown = sorted(set(options) - set(keys))
    if unknown:
        raise ConfigError(
            f"options given for {', '.join(map(repr, unknown))}, which is not among methods={keys}"
        )
    return {k: make_method(resolve_method(m), dict(options.get(k) or {})) for k, m in zip(keys, methods)}


class _MapSum:
    """The raw maps of every method summed over the Monte-Carlo passes (``add`` one pass at a time)."""

    def __init__(
        self,
        model: nn.Module,
        images: Tensor,
        impls: Mapping[str, CamMethod],
        out_size: tuple[int, int] | None,
        chunk: int | str,
        probe: Probe,
        eigen_smooth: bool = False,
    ) -> None:
        self.model, self.images, self.impls = model, images, impls
        self.out_size, self.chunk, self.probe = out_size, chunk, probe
        self.eigen_smooth = eigen_smooth
        self.totals: dict[str, Tensor] = {}

    def add(self, p: Pass, tgt: Tensor) -> None:
        feat = (int(p.activation.shape[-2]), int(p.activation.shape[-1]))
        run = CamRun(
            model=self.model,
            images=self.images,
            activation=p.activation.detach(),
            logits=p.logits.detach(),
            targets=tgt,
            out_size=self.out_size or feat,
            chunk_size=self.chunk,
            probe=self.probe,
            forward_pass=p,
        )
        for key, impl in self.impls.items():
            raw = _raw_map(impl, run, self.eigen_smooth)
            self.totals[key] = raw if key not in self.totals else self.totals[key] + raw


@dataclass(frozen=True)
class _Sampled:
    logits: Tensor  #: (B, K) mean over the passes
    probs: Tensor  #: (B, K) mean of the per-pass softmax
    targets: Tensor  #: (B,) the explained classes


def _sample(
    probe: Probe, images: Tensor, mc: int, targets: Targets, add_maps: Callable[[Pass, Tensor], None]
) -> _Sampled:
    """Run the ``mc`` passes and hand each to ``add_maps`` with the explained classes. With
    ``targets=None`` these are the argmax of the averaged probabilities, so the passes are kept until
    all are done; with fixed targets each pass is explained at once."""
    logits_sum: Tensor | None = None
    probs_sum: Tensor | None = None
    pending: list[Pass] = []
    tgt: Tensor | None = None
    for _ in range(mc):
        p = probe.run(images)
        logits = _finite_logits(p)
        probs = torch.softmax(logits, dim=1)
        logits_sum = logits if logits_sum is None else logits_sum + logits
        probs_sum = probs if probs_sum is None else probs_sum + probs
        if targets is not None:
            tgt = resolve_targets(targets, probs) if tgt is None else tgt
            add_maps(p, tgt)
        else:
            pending.append(p)
    assert logits_sum is not None and probs_sum is not None
    mean_probs = probs_sum / mc
    if tgt is None:
        tgt = resolve_targets(targets, mean_probs)
    while pending:
        add_maps(pending.pop(0), tgt)
    return _Sampled(logits=logits_sum / mc, probs=mean_probs, targets=tgt)


def _finite_logits(p: Pass) -> Tensor:
    logits = p.logits.detach().float()
    if not bool(torch.isfinite(logits).all()):
        raise DataError(
            "the model returned NaN or infinite logits for these images; no map can explain "
            "them — check the checkpoint and the input normalisation"
        )
    return logits


def _final_maps(maps: Tensor, out_size: tuple[int, int] | None) -> Tensor:
    """Mean raw maps resized (bilinear) to ``out_size`` and min–max normalised per map."""
    final = out_size or (int(maps.shape[-2]), int(maps.shape[-1]))
    if tuple(maps.shape[-2:]) != final:
        maps = F.interpolate(maps.unsqueeze(1), size=final, mode="bilinear", align_corners=False).squeeze(1)
    return minmax(maps).to(torch.float32)
