"""The base class of every CAM method, the per-pass context it receives, and shared tensor helpers.

A method is a small subclass of :class:`CamMethod` that turns one forward pass (:class:`CamRun`)
into a raw map ``(B, h, w)``; :func:`camx.cam.explain` does the rest (forward/backward, ReLU when
the method defines it, Monte-Carlo averaging, resizing, per-image min–max). Most methods only
define channel weights (:class:`ChannelWeightMethod`), giving ``L = Σ_k w_k A_k``.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from camx.cam.hooks import Pass, Probe
from camx.cam.registry import display_name, register
from camx.errors import ConfigError


@dataclass
class CamRun:
    """What a method sees of one forward pass of B images."""

    model: nn.Module
    images: Tensor  #: (B, 3, H, W) normalised input, detached
    activation: Tensor  #: (B, C, h, w) target-layer output A, detached
    logits: Tensor  #: (B, K) detached
    targets: Tensor  #: (B,) long, the class each map explains
    out_size: tuple[int, int]  #: the size the final map will have
    chunk_size: int | str  #: masked images per forward pass (score methods), or "auto"
    probe: Probe
    forward_pass: Pass

    def gradients(self) -> Tensor:
        """∂y^c/∂A for each image's target logit y^c, shape (B, C, h, w): one backward pass, head only."""
        return self.forward_pass.gradients(self.targets)

    def extra_pass(self, images: Tensor) -> Pass:
        """Another hooked forward pass (gradient-enabled when the method needs gradients)."""
        return self.probe.run(images)

    @property
    def head(self) -> tuple[nn.Module, ...]:
        """Modules that ran after the target layer (only recorded for methods with ``tracks_head``)."""
        return self.forward_pass.head


class CamMethod:
    """Base of every method: ``compute`` returns the raw map before ReLU, resizing and min–max.

    Subclasses set ``name`` (the id used by :func:`camx.cam.explain`), ``paper``, a one-line
    ``summary`` and the ``cost`` in passes per image, whether they
    need gradients, and whether the method's definition ends with a ReLU. Options are keyword-only
    ``__init__`` arguments with their defaults (the config's defaults are read from them);
    :func:`make_method` rejects unknown ones with a :class:`ConfigError`.

    A subclass that sets a non-empty ``name`` of its own registers itself under it when the class is
    defined (:mod:`camx.cam.registry`); a subclass without one (e.g. a user's tweak of GradCAM) is
    still usable as a class or as ``"package.module:Class"``.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    summary: ClassVar[str] = ""  #: what the map is, in one line (the README's method table)
    cost: ClassVar[str] = ""  #: passes through the model per image, e.g. "1 forward-backward"
    needs_gradients: ClassVar[bool] = False
    relu: ClassVar[bool] = True
    tracks_head: ClassVar[bool] = False
    baseline: ClassVar[bool] = False  #: a reference map that explains nothing (listed after the methods)
    vit_only: ClassVar[bool] = False  #: reads a Vision Transformer's attention maps; refuses other models

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            register(cls)

    def compute(self, run: CamRun) -> Tensor:
        """Raw map (B, h', w'), any size (resized to ``run.out_size`` afterwards)."""
        raise NotImplementedError

    def channel_maps(self, run: CamRun) -> Tensor | None:
        """The per-channel maps P (B, C, h, w) whose sum over channels is the raw map, L = Σ_k P_k, or
        None for a method whose map is not such a sum (Eigen-CAM, FullGrad, …). ``eigen_smooth``
        replaces Σ_k P_k by P's first principal component (:mod:`camx.cam.smoothing`)."""
        return None

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The method's options: the keyword-only arguments of ``__init__``."""
        return tuple(cls.option_defaults())

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """Each option's default (``inspect.Parameter.empty`` for one without a default)."""
        params = inspect.signature(cls.__init__).parameters.values()
        return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


class ChannelWeightMethod(CamMethod):
    """``L = Σ_k w_k A_k`` with per-image channel weights ``w`` of shape (B, C)."""

    def weights(self, run: CamRun) -> Tensor:
        raise NotImplementedError

    def compute(self, run: CamRun) -> Tensor:
        weights = self.weights(run).to(run.activation.dtype)
        return torch.einsum("bk,bkhw->bhw", weights, run.activation)

    def channel_maps(self, run: CamRun) -> Tensor:
        """P_k = w_k A_k."""
        return self.weights(run).to(run.activation.dtype)[:, :, None, None] * run.activation


def make_method(cls: type[CamMethod], options: dict[str, Any]) -> CamMethod:
    """Instantiate ``cls`` with ``options``; unknown option names raise a ConfigError listing the valid ones."""
    valid = cls.option_names()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        shown = ", ".join(valid) if valid else "none"
        raise ConfigError(
            f"method {display_name(cls)!r} has no option {unknown[0]!r}; its options are: {shown}"
        )
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:  # e.g. seed="abc"; range checks raise ConfigError themselves
        raise ConfigError(f"method {display_name(cls)!r}: invalid option value ({exc})") from None


# ----------------------------------------------------------------------------------------- helpers


def safe_divide(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` where ``den != 0``, else 0 (no NaN, no Inf from a zero denominator)."""
    nonzero = den != 0
    return torch.where(nonzero, num / torch.where(nonzero, den, torch.ones_like(den)), torch.zeros_like(num))


def minmax(maps: Tensor, rel_tol: float = 1e-6) -> Tensor:
    """Per-map min–max to [0, 1] over the last two dims; a constant map (see :func:`is_constant`) gives zeros."""
    flat = maps.flatten(-2)
    lo = flat.amin(-1)[..., None, None]
    span = flat.amax(-1)[..., None, None] - lo
    flat_map = is_constant(maps, rel_tol)[..., None, None]
    safe = torch.where(flat_map, torch.ones_like(span), span)
    out = torch.where(flat_map, torch.zeros_like(maps), (maps - lo) / safe)
    return out.clamp_(0.0, 1.0)


def is_constant(maps: Tensor, rel_tol: float = 1e-6) -> Tensor:
    """True for each map (over the last two dims) whose range is ≤ rel_tol·max|x|: constant up to rounding.

    Bilinear resizing of a constant map is only constant up to rounding, so exact equality is not enough.
    """
    flat = maps.flatten(-2)
    lo, hi = flat.amin(-1), flat.amax(-1)
    return (hi - lo) <= torch.maximum(hi.abs(), lo.abs()) * rel_tol


def image_generators(images: Tensor, seed: int) -> list[torch.Generator]:
    """One CPU generator per image, seeded by ``seed`` and the image's bytes.

    Random draws therefore depend on the image and the seed only, not on the batch the image is in.
    """
    gens = []
    data = images.detach().to("cpu", torch.float32).contiguous()
    for image in data:
        digest = hashlib.blake2b(
            image.numpy().tobytes(), digest_size=8, key=int(seed).to_bytes(8, "little", signed=True)
        )
        gens.append(torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1))
    return gens
