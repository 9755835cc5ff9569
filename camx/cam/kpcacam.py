"""KPCA-CAM: the first kernel principal component of the activations."""

from __future__ import annotations

import torch
from torch import Tensor

from camx.cam.base import CamMethod, CamRun
from camx.errors import ConfigError, check_range

KERNELS = ("sigmoid", "rbf", "poly", "linear", "cosine")


def kernel_matrix(x: Tensor, kernel: str, gamma: float, degree: int = 3, coef0: float = 1.0) -> Tensor:
    """k(x_i, x_j) for the rows of ``x`` (B, n, C), as scikit-learn's pairwise kernels define them."""
    gram = x @ x.transpose(1, 2)
    if kernel == "linear":
        return gram
    if kernel == "sigmoid":
        return torch.tanh(gamma * gram + coef0)
    if kernel == "poly":
        return (gamma * gram + coef0).pow(degree)
    sq = gram.diagonal(dim1=1, dim2=2)
    if kernel == "rbf":
        dist = (sq.unsqueeze(2) + sq.unsqueeze(1) - 2 * gram).clamp_min(0)
        return torch.exp(-gamma * dist)
    norm = sq.sqrt()
    return (
        gram / torch.where(norm > 0, norm, 1.0).unsqueeze(2) / torch.where(norm > 0, norm, 1.0).unsqueeze(1)
    )


def kernel_projection(activation: Tensor, kernel: str, gamma: float | None) -> Tensor:
    """First kernel principal component score of each spatial position, (B, h, w).

    X = A as (hw × C), centred per channel; K = k(X, X) centred in feature space,
    K̃ = K − 1K/n − K1/n + 1K1/n²; K̃ = VΛVᵀ; score = √λ₁ · v₁, with v₁'s sign such that its
    largest-magnitude entry is positive (scikit-learn's deterministic ``svd_flip`` rule).
    """
    b, c, h, w = activation.shape
    x = activation.flatten(2).transpose(1, 2).to(torch.float64)
    x = x - x.mean(dim=1, keepdim=True)
    k = kernel_matrix(x, kernel, 1.0 / c if gamma is None else gamma)
    k = k - k.mean(dim=1, keepdim=True) - k.mean(dim=2, keepdim=True) + k.mean(dim=(1, 2), keepdim=True)
    evals, evecs = torch.linalg.eigh(k)  # ascending
    v, lam = evecs[..., -1], evals[..., -1].clamp_min(0)
    peak = v.gather(1, v.abs().argmax(dim=1, keepdim=True))
    v = v * torch.where(peak < 0, -1.0, 1.0).to(v.dtype)
    return (v * lam.sqrt().unsqueeze(1)).view(b, h, w).to(activation.dtype)


class KPCACAM(CamMethod):
    """KPCA-CAM (Karmani, Sivakaran, Prasad, Ali, Yang & Tang, "KPCA-CAM: Visual Explainability of
    Deep Computer Vision Models using Kernel PCA", arXiv:2410.00267, 2024): Eigen-CAM with
    kernel PCA in place of PCA; gradient-free and class-agnostic.

    X = A as (hw × C), centred per channel; K_ij = k(x_i, x_j), centred in feature space;
    L = ReLU(√λ₁ v₁) with (λ₁, v₁) the top eigenpair of the centred K (the first kernel principal
    component score of each position), v₁'s largest-magnitude entry made positive.

    Options, as pytorch-grad-cam's ``KPCA_CAM``: ``kernel`` (``sigmoid`` default: tanh(γ⟨x, y⟩ + 1);
    ``rbf``: exp(−γ‖x − y‖²); ``poly``: (γ⟨x, y⟩ + 1)³; ``linear``; ``cosine``) and ``gamma``
    (γ, default None = 1/C). pytorch-grad-cam calls scikit-learn's ``KernelPCA``, whose sign rule camx
    uses, so the maps are the same.
    """

    name = "kpcacam"
    paper = "Karmani et al., arXiv:2410.00267, 2024"
    summary = "first kernel principal component of the activations; class-agnostic"
    cost = "1 forward + kernel eigendecomposition"

    def __init__(self, *, kernel: str = "sigmoid", gamma: float | None = None) -> None:
        if kernel not in KERNELS:
            raise ConfigError(f"kpcacam: kernel={kernel!r} is not valid; use one of: {', '.join(KERNELS)}")
        self.kernel = kernel
        self.gamma = None if gamma is None else check_range("kpcacam: gamma", gamma, 0.0, low_inclusive=False)

    def compute(self, run: CamRun) -> Tensor:
        return kernel_projection(run.activation, self.kernel, self.gamma)
