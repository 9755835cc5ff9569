"""Seg-Eigen-CAM: the principal component of |gradient| ⊙ activation, its sign set by the larger extreme."""

from __future__ import annotations

import torch
from torch import Tensor

from camx.cam.activation import eigen_projection
from camx.cam.base import CamMethod, CamRun


class SegEigenCAM(CamMethod):
    """Seg-Eigen-CAM (Chung & Ying, "Seg-Eigen-CAM: Eigen-Value-Based Visual Explanations for Semantic
    Segmentation Models", Applied Sciences 15(13):7562, 2025; pytorch-grad-cam's ``SegEigenCAM``).

    P_k = |∂y^c/∂A_k| ⊙ A_k (Eq. 10: each location's activation weighted by the magnitude of its
    gradient, so negative gradients count too); O = P as an (hw × C) matrix with each channel's spatial
    mean subtracted, O = UΣVᵀ, p = O·v₁ (Eq. 11–12); the sign is corrected so that the salient
    extreme is positive — p ← −p when |min p| > |max p| (Eq. 13) — and L^c = ReLU(p).

    The sign rule makes the map independent of the SVD's arbitrary sign of v₁, so it equals
    pytorch-grad-cam's (which applies it to classifiers as well as to segmentation models).
    """

    name = "segeigencam"
    paper = "Chung & Ying, Appl. Sci. 2025"
    summary = "first principal component of activations times absolute gradients, larger extreme positive"
    cost = "1 forward-backward + SVD"
    needs_gradients = True

    def compute(self, run: CamRun) -> Tensor:
        proj = eigen_projection(run.gradients().abs() * run.activation, center=True)
        flat = proj.flatten(1)
        flip = flat.amin(dim=1).abs() > flat.amax(dim=1).abs()
        return torch.where(flip[:, None, None], -proj, proj)
