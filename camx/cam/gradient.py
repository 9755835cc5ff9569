"""Gradient-based methods: Grad-CAM, Grad-CAM++, Smooth Grad-CAM++, XGrad-CAM, Layer-CAM, HiResCAM.

Notation: ``A_k`` is channel k of the target layer's output (h×w), ``y^c`` the raw logit of the
target class c (before softmax, like pytorch-grad-cam and TorchCAM), ``g_k = ∂y^c/∂A_k``. The B
images of a batch share one forward and one backward pass: the backward differentiates
``Σ_b y_b^{c_b}`` with respect to A only (never the parameters), which gives every image its own
gradient because the images do not interact in eval mode.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from camx.cam.base import CamMethod, CamRun, ChannelWeightMethod, image_generators, safe_divide
from camx.errors import ConfigError, check_range


def gradcampp_weights(activation: Tensor, d1: Tensor, d2: Tensor, d3: Tensor) -> Tensor:
    """Grad-CAM++ channel weights from (estimates of) the first three derivative powers.

    α_k(i,j) = d2 / (2·d2 + Σ_ab A_k(a,b) · d3)   (0 where the denominator is 0),
    w_k = Σ_ij α_k(i,j) · ReLU(d1).
    For plain Grad-CAM++, d1 = g, d2 = g², d3 = g³.
    """
    sum_a = activation.sum(dim=(2, 3), keepdim=True)
    alpha = safe_divide(d2, 2 * d2 + sum_a * d3)
    return (alpha * d1.clamp_min(0)).sum(dim=(2, 3))


class GradCAM(ChannelWeightMethod):
    """Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017, Eq. 1–2).

    w_k^c = (1/hw) Σ_ij ∂y^c/∂A_k(i,j),    L^c = ReLU(Σ_k w_k^c A_k).
    """

    name = "gradcam"
    paper = "Selvaraju et al., ICCV 2017"
    summary = "activations weighted by their spatially averaged gradients"
    cost = "1 forward-backward"
    needs_gradients = True

    def weights(self, run: CamRun) -> Tensor:
        return run.gradients().mean(dim=(2, 3))


class GradCAMPlusPlus(ChannelWeightMethod):
    """Grad-CAM++ (Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations
    for Deep Convolutional Networks", WACV 2018, Eq. 19 with the exponential-score closed form).

    α_k^c(i,j) = g² / (2·g² + Σ_ab A_k(a,b)·g³)  with g = ∂y^c/∂A_k(i,j)  (α = 0 where the
    denominator is 0),    w_k^c = Σ_ij α_k^c(i,j)·ReLU(g),    L^c = ReLU(Σ_k w_k^c A_k).
    """

    name = "gradcampp"
    paper = "Chattopadhay et al., WACV 2018"
    summary = "gradient weights from second- and third-order terms"
    cost = "1 forward-backward"
    needs_gradients = True

    def weights(self, run: CamRun) -> Tensor:
        grads = run.gradients()
        g2 = grads.pow(2)
        return gradcampp_weights(run.activation, grads, g2, g2 * grads)


def smooth_noise(images: Tensor, n_samples: int, sigma: float, seed: int) -> Iterator[Tensor]:
    """The ``n_samples`` noise tensors Smooth Grad-CAM++ adds to ``images``: N(0, σ²) per pixel.

    Each image's noise comes from its own generator seeded by ``seed`` and the image's bytes
    (:func:`~camx.cam.base.image_generators`), so a map does not depend on the batch it is in.
    """
    gens = image_generators(images, seed)
    shape = images.shape[1:]
    for _ in range(n_samples):
        noise = torch.stack([torch.randn(shape, generator=g) for g in gens])
        yield (noise * sigma).to(device=images.device, dtype=images.dtype)


class SmoothGradCAMPlusPlus(ChannelWeightMethod):
    """Smooth Grad-CAM++ (Omeiza et al., "Smooth Grad-CAM++: An Enhanced Inference Level
    Visualization Technique for Deep Convolutional Neural Network Models", arXiv:1908.01224, 2019).

    Grad-CAM++ with SmoothGrad estimates of the derivatives: for n noisy copies
    X_m = X + ε_m, ε_m ~ N(0, σ²) per pixel of the *normalised* input (σ is in normalised-input
    units, i.e. multiples of the per-channel dataset std), with g_m = ∂y^c(X_m)/∂A_k:

        D_p = (1/n) Σ_m g_m^p  (p = 1, 2, 3),    α_k^c = D_2 / (2·D_2 + Σ_ab A_k(a,b)·D_3),
        w_k^c = Σ_ij α_k^c(i,j)·ReLU(D_1),        L^c = ReLU(Σ_k w_k^c A_k),

    with A the activation of the clean input. Options: ``n_samples`` (n, default 8), ``sigma``
    (σ, default 0.15), ``seed`` (default 0; the noise of each image is a function of the seed and
    the image, so maps are deterministic and batch-independent). Cost: one clean pass plus n
    forward+backward passes of the batch.
    """

    name = "smoothgradcampp"
    paper = "Omeiza et al., arXiv:1908.01224, 2019"
    summary = "Grad-CAM++ averaged over noisy copies of the input"
    cost = "1 forward-backward per sample"
    needs_gradients = True

    def __init__(self, *, n_samples: int = 8, sigma: float = 0.15, seed: int = 0) -> None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ConfigError(f"smoothgradcampp: n_samples={n_samples!r} must be a positive integer")
        self.n_samples = n_samples
        self.sigma = check_range("smoothgradcampp: sigma", sigma, 0.0)
        self.seed = int(seed)

    def weights(self, run: CamRun) -> Tensor:
        d1 = torch.zeros_like(run.activation)
        d2 = torch.zeros_like(run.activation)
        d3 = torch.zeros_like(run.activation)
        for noise in smooth_noise(run.images, self.n_samples, self.sigma, self.seed):
            grads = run.extra_pass(run.images + noise).gradients(run.targets)
            g2 = grads.pow(2)
            d1 += grads
            d2 += g2
            d3 += g2 * grads
        n = float(self.n_samples)
        return gradcampp_weights(run.activation, d1 / n, d2 / n, d3 / n)


class XGradCAM(ChannelWeightMethod):
    """XGrad-CAM (Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation
    of CNNs", BMVC 2020).

    w_k^c = Σ_ij (A_k(i,j) / Σ_ab A_k(a,b)) · ∂y^c/∂A_k(i,j)  (0 when Σ_ab A_k = 0),
    L^c = ReLU(Σ_k w_k^c A_k).
    """

    name = "xgradcam"
    paper = "Fu et al., BMVC 2020"
    summary = "gradients weighted by normalised activations (axiom-based)"
    cost = "1 forward-backward"
    needs_gradients = True

    def weights(self, run: CamRun) -> Tensor:
        act = run.activation
        total = act.sum(dim=(2, 3))
        return safe_divide((run.gradients() * act).sum(dim=(2, 3)), total)


class LayerCAM(CamMethod):
    """Layer-CAM (Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization", IEEE TIP 2021): element-wise positive gradients as weights.

    L^c(i,j) = ReLU(Σ_k ReLU(∂y^c/∂A_k(i,j)) · A_k(i,j)).
    """

    name = "layercam"
    paper = "Jiang et al., IEEE TIP 2021"
    summary = "activations times their positive gradients, per location"
    cost = "1 forward-backward"
    needs_gradients = True

    def compute(self, run: CamRun) -> Tensor:
        return self.channel_maps(run).sum(dim=1)

    def channel_maps(self, run: CamRun) -> Tensor:
        """P_k = ReLU(∂y^c/∂A_k) ⊙ A_k."""
        return run.gradients().clamp_min(0) * run.activation


class HiResCAM(CamMethod):
    """HiResCAM (Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
    convolutional neural networks", arXiv:2011.08891, 2020): gradients times activations, element-wise.

    L^c(i,j) = ReLU(Σ_k ∂y^c/∂A_k(i,j) · A_k(i,j)).

    The paper's sum is signed; camx keeps only positive evidence (ReLU) before min–max, like
    Grad-CAM and pytorch-grad-cam. For a GAP + linear head it equals CAM.
    """

    name = "hirescam"
    paper = "Draelos & Carin, arXiv:2011.08891, 2020"
    summary = "activations times gradients element-wise, summed over channels"
    cost = "1 forward-backward"
    needs_gradients = True

    def compute(self, run: CamRun) -> Tensor:
        return self.channel_maps(run).sum(dim=1)

    def channel_maps(self, run: CamRun) -> Tensor:
        """P_k = ∂y^c/∂A_k ⊙ A_k."""
        return run.gradients() * run.activation
