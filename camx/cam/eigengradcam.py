"""Eigen-Grad-CAM: the first principal component of the activation × gradient products."""

from __future__ import annotations

from torch import Tensor

from camx.cam.activation import class_oriented_projection
from camx.cam.base import CamMethod, CamRun


class EigenGradCAM(CamMethod):
    """Eigen-Grad-CAM (Gildenblat and contributors, "PyTorch library for CAM methods",
    https://github.com/jacobgil/pytorch-grad-cam, 2021, class ``EigenGradCAM``): Eigen-CAM
    (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components", IJCNN 2020)
    applied to the class-specific products P_k = ∂y^c/∂A_k ⊙ A_k instead of the activations.

    O = P as an (hw × C) matrix with each channel's spatial mean subtracted, O = UΣVᵀ,
    L^c = ReLU(O·v₁) with v₁ the first right singular vector.

    The sign of v₁ is arbitrary in an SVD (pytorch-grad-cam leaves it to LAPACK, so its map can come
    out as the negative of the component). camx orients it towards the class evidence: the sign for
    which O·v₁ correlates positively with the HiResCAM map Σ_k P_k (each location's first-order
    contribution to y^c). Up to that sign the map is pytorch-grad-cam's.
    """

    name = "eigengradcam"
    paper = "Gildenblat et al., pytorch-grad-cam, 2021"
    summary = "first principal component of activations times gradients, oriented to the class"
    cost = "1 forward-backward + SVD"
    needs_gradients = True

    def compute(self, run: CamRun) -> Tensor:
        return class_oriented_projection(run.gradients() * run.activation)
