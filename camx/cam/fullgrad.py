"""FullGrad: input-gradient ⊙ input plus the bias-gradients of every convolution and BatchNorm."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from camx.cam.base import CamMethod, CamRun, safe_divide


def effective_bias(module: nn.Module) -> Tensor | None:
    """The bias a layer adds per channel, or None: a Conv2d's ``bias``; for a BatchNorm2d in eval mode
    with running statistics, b̃ = β − γ·μ/√(σ² + ε) (β = 0, γ = 1 without affine parameters)."""
    if isinstance(module, nn.Conv2d):
        return None if module.bias is None else module.bias.detach()
    if isinstance(module, nn.BatchNorm2d) and module.running_mean is not None and not module.training:
        assert module.running_var is not None
        inv = torch.rsqrt(module.running_var + module.eps)
        gamma = module.weight.detach() if module.weight is not None else torch.ones_like(inv)
        beta = module.bias.detach() if module.bias is not None else torch.zeros_like(inv)
        return beta - gamma * module.running_mean * inv
    return None


def _rescale(x: Tensor) -> Tensor:
    """Per-map min–max of (B, C, h, w) to [0, 1] over (h, w); a constant map gives 0."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    return safe_divide(x - lo, x.amax(dim=(2, 3), keepdim=True) - lo)


def _psi(x: Tensor, size: tuple[int, int]) -> Tensor:
    """ψ summed over channels: |x|, min–max per channel, bilinear resize to ``size``, Σ_c → (B, H, W).

    Resizing is linear, so the channels are summed first and resized once (the same map up to rounding).
    """
    total = _rescale(x.abs()).sum(dim=1, keepdim=True)
    if tuple(total.shape[-2:]) != size:
        total = F.interpolate(total, size=size, mode="bilinear", align_corners=False)
    return total[:, 0]


def full_gradients(model: nn.Module, images: Tensor, targets: Tensor) -> tuple[Tensor, list[Tensor]]:
    """(∂y^c/∂x, [b̃_l ⊙ ∂y^c/∂z_l for every call of a layer l with a bias]) from one forward-backward pass.

    z_l is the layer's output *before* anything a module applies after its affine step (timm's
    BatchNormAct2d applies its activation inside the module): a zero tensor δ_l is added at z_l — at a
    convolution's output, and for a BatchNorm as δ_l/a_l at its input (a_l = γ/√(σ²+ε), the BN's
    per-channel scale; a channel with a_l = 0 gets 0) — so that ∂y^c/∂δ_l = ∂y^c/∂z_l.
    """
    records: list[tuple[Tensor, Tensor]] = []  # (δ, b̃) per call, in call order

    def conv_hook(bias: Tensor) -> Callable[..., Tensor]:
        def hook(_m: nn.Module, _i: object, out: Tensor) -> Tensor:
            records.append((torch.zeros_like(out, requires_grad=True), bias))
            return out + records[-1][0]

        return hook

    def bn_hook(bias: Tensor, inv_scale: Tensor) -> Callable[..., tuple[Tensor, ...]]:
        def hook(_m: nn.Module, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
            records.append((torch.zeros_like(inputs[0], requires_grad=True), bias))
            return (inputs[0] + records[-1][0] * inv_scale.to(inputs[0].dtype), *inputs[1:])

        return hook

    handles = []
    for module in model.modules():
        bias = effective_bias(module)
        if bias is None:
            continue
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook(bias)))
        else:
            handles.append(module.register_forward_pre_hook(bn_hook(bias, _inv_bn_scale(module))))
    with torch.inference_mode(False), torch.enable_grad():
        x = images.detach().clone().requires_grad_(True)
        try:
            score = model(x).gather(1, targets.clone().view(-1, 1)).sum()
        finally:
            for handle in handles:
                handle.remove()
        grads = torch.autograd.grad(score, [x, *(d for d, _ in records)], allow_unused=True)
    terms = [
        (torch.zeros_like(d) if g is None else g.detach()) * b.view(1, -1, 1, 1).to(d.dtype)
        for g, (d, b) in zip(grads[1:], records)
        if d.ndim == 4
    ]
    return grads[0].detach(), terms


def _inv_bn_scale(bn: nn.Module) -> Tensor:
    """1/a = √(σ²+ε)/γ per channel as (1, C, 1, 1), 0 where γ = 0."""
    inv = torch.rsqrt(bn.running_var + bn.eps)  # type: ignore[operator]
    scale = inv if bn.weight is None else bn.weight.detach() * inv
    return safe_divide(torch.ones_like(scale), scale).view(1, -1, 1, 1)


class FullGrad(CamMethod):
    """FullGrad (Srinivas & Fleuret, "Full-Gradient Representation for Neural Network Visualization",
    NeurIPS 2019, arXiv:1905.00780, Eq. 4 of Sec. 4):

        S^c(x) = ψ(∇_x y^c ⊙ x) + Σ_l Σ_{k ∈ l} ψ(b̃_{l,k} · ∂y^c/∂z_{l,k}),
        ψ(·) = bilinear upsampling to the input size of the min–max rescaled |·|,

    summed over the input's colour channels and over every channel k of every layer l with a bias:
    each Conv2d with a bias and each BatchNorm2d in eval mode (subclasses included, e.g. timm's
    BatchNormAct2d), whose bias is b̃ = β − γ·μ/√(σ²+ε); z_l is the layer's affine output, before any
    activation the module applies itself. ψ rescales each (image, channel) map on its own, as the
    equation's Σ_k ψ(·) and pytorch-grad-cam do (docs/METHODS.md).

    FullGrad uses every layer, not one: ``target_layer`` only decides the shared forward pass that picks
    the target classes and is otherwise ignored. The map is at the input's resolution whatever ``size``
    (``size=None`` keeps it there). Cost: one forward-backward pass through the whole network on top of
    the shared pass; each image's map depends on that image only (BatchNorm in eval mode).
    """

    name = "fullgrad"
    paper = "Srinivas & Fleuret, NeurIPS 2019"
    summary = "input-gradient × input plus every layer's bias-gradients (ignores target_layer)"
    cost = "1 forward-backward, whole network"
    needs_gradients = True

    def compute(self, run: CamRun) -> Tensor:
        size = (int(run.images.shape[-2]), int(run.images.shape[-1]))
        input_grad, bias_terms = full_gradients(run.model, run.images, run.targets)
        total = _psi(input_grad * run.images, size)
        for term in bias_terms:
            total = total + _psi(term, size)
        return total
