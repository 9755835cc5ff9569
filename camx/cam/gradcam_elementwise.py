"""Element-wise Grad-CAM: the positive part of every activation × gradient product, summed over channels."""

from __future__ import annotations

from torch import Tensor

from camx.cam.base import CamMethod, CamRun


class GradCAMElementWise(CamMethod):
    """Element-wise Grad-CAM (Gildenblat and contributors, "PyTorch library for CAM methods",
    https://github.com/jacobgil/pytorch-grad-cam, 2021, class ``GradCAMElementWise``; no paper).

    L^c(i,j) = Σ_k ReLU(∂y^c/∂A_k(i,j) · A_k(i,j)).

    Like HiResCAM (``hirescam``, Σ_k g·A then ReLU) but the ReLU is taken per channel before the sum,
    so a channel whose product is negative at (i,j) cannot cancel another channel's positive evidence.
    The map is non-negative by construction; on a GAP + linear head (g_k constant over space) it is
    Σ_k ReLU(w_k A_k).
    """

    name = "gradcamelementwise"
    paper = "Gildenblat et al., pytorch-grad-cam, 2021"
    summary = "positive parts of activations times gradients, per channel and location"
    cost = "1 forward-backward"
    needs_gradients = True

    def compute(self, run: CamRun) -> Tensor:
        return self.channel_maps(run).sum(dim=1)

    def channel_maps(self, run: CamRun) -> Tensor:
        """P_k = ReLU(∂y^c/∂A_k ⊙ A_k)."""
        return (run.gradients() * run.activation).clamp_min(0)
