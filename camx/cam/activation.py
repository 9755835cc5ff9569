"""Gradient-free methods read from the activations alone: CAM and Eigen-CAM."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from camx.cam.base import CamMethod, CamRun, ChannelWeightMethod
from camx.cam.protocol import is_stochastic
from camx.errors import ConfigError


class CAM(ChannelWeightMethod):
    """CAM (Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016).

    For a network whose target layer is followed only by global average pooling and one linear
    layer, y^c = Σ_k w_ck · mean_ij A_k(i,j) + b_c, and M_c(i,j) = Σ_k w_ck A_k(i,j).
    No ReLU (the paper has none; TorchCAM neither). camx checks the architecture: exactly one
    ``nn.Linear`` runs after the target layer, and the logits equal ``Linear(mean_ij A)``
    (checked numerically, so functional operations in ``forward`` are covered too). Anything
    else raises a ConfigError naming the method.
    """

    name = "cam"
    paper = "Zhou et al., CVPR 2016"
    summary = "activations weighted by the linear classifier's weights of the class (GAP models only)"
    cost = "1 forward"
    relu = False
    tracks_head = True

    def weights(self, run: CamRun) -> Tensor:
        fc = self._linear(run)
        return fc.weight[run.targets].detach()

    @staticmethod
    def _linear(run: CamRun) -> nn.Linear:
        linears = list({id(m): m for m in run.head if isinstance(m, nn.Linear)}.values())
        hint = "use 'gradcam' (on such a head it gives the same map as CAM) or 'hirescam'"
        if len(linears) != 1:
            raise ConfigError(
                f"method 'cam' needs the target layer to be followed by global average pooling and a single "
                f"nn.Linear, but {len(linears)} nn.Linear layers run after it; {hint}"
            )
        fc = linears[0]
        stochastic = any(is_stochastic(m) and m.training for m in run.head)
        act = run.activation
        if not stochastic:
            pooled = act.mean(dim=(2, 3))
            if pooled.shape[1] != fc.in_features:
                ok = False
            else:
                expected = F.linear(pooled, fc.weight, fc.bias)
                tol = 1e-4 * (1.0 + float(run.logits.abs().max()))
                ok = bool(torch.allclose(expected, run.logits, rtol=1e-3, atol=tol))
            if not ok:
                raise ConfigError(
                    "method 'cam' needs the target layer to be followed by global average pooling and a single "
                    f"nn.Linear, but the logits are not Linear(mean over h, w of the target layer); {hint}"
                )
        return fc


def eigen_projection(activation: Tensor, center: bool = False) -> Tensor:
    """Projection of each image's activations on their first right singular vector, (B, h, w).

    O = A reshaped to (hw × C) (centred per channel when ``center``), O = UΣVᵀ, L = O·v₁.
    The sign of v₁ is arbitrary in an SVD; camx fixes it so that Σ_k v₁[k] ≥ 0. For non-negative,
    uncentred activations this makes v₁ ≥ 0 (Perron–Frobenius) and hence L ≥ 0.
    """
    b, c, h, w = activation.shape
    x = activation.flatten(2).transpose(1, 2).to(torch.float64)  # (B, hw, C)
    if center:
        x = x - x.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    v = vh[:, 0, :]
    sign = torch.where(v.sum(dim=1, keepdim=True) < 0, -1.0, 1.0).to(v.dtype)
    proj = (x @ (v * sign).unsqueeze(-1)).squeeze(-1)
    return proj.view(b, h, w).to(activation.dtype)


def class_oriented_projection(products: Tensor) -> Tensor:
    """The first principal component of per-channel maps P (B, C, h, w), oriented towards their sum, (B, h, w).

    O = P as an (hw × C) matrix with each channel's spatial mean subtracted, O = UΣVᵀ, L = ±O·v₁ with
    the sign for which L correlates positively with Σ_k P_k (the map the channels add up to; an SVD
    leaves the sign of v₁ arbitrary). Eigen-Grad-CAM's map, and ``eigen_smooth``'s for any method.
    """
    proj = eigen_projection(products, center=True)  # its own sign rule (Σ v₁ ≥ 0) is replaced below
    agree = (proj.double() * products.sum(dim=1).double()).sum(dim=(1, 2))
    return torch.where(agree < 0, -1.0, 1.0).to(proj.dtype).view(-1, 1, 1) * proj


class EigenCAM(CamMethod):
    """Eigen-CAM (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
    IJCNN 2020): the first principal component of the activations, class-agnostic.

    O = A as an (hw × C) matrix, O = UΣVᵀ, L = ReLU(O·v₁) with v₁ the first right singular vector,
    its sign fixed so that Σ_k v₁[k] ≥ 0 (see :func:`eigen_projection`).

    Option ``center`` (default False, as in the paper): subtract each channel's spatial mean before
    the SVD, as pytorch-grad-cam does (which leaves the sign to LAPACK).
    """

    name = "eigencam"
    paper = "Muhammad & Yeasin, IJCNN 2020"
    summary = "first principal component of the activations; class-agnostic"
    cost = "1 forward + SVD"

    def __init__(self, *, center: bool = False) -> None:
        self.center = bool(center)

    def compute(self, run: CamRun) -> Tensor:
        return eigen_projection(run.activation, self.center)
