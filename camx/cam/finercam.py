"""Finer-CAM: Grad-CAM of the target's logit against the logits of the classes most like it."""

from __future__ import annotations

import torch
from torch import Tensor

from camx.cam.base import CamRun, ChannelWeightMethod
from camx.cam.reshape import to_map
from camx.errors import ConfigError, check_range


def similar_classes(logits: Tensor, targets: Tensor, n: int) -> Tensor:
    """(B, n) the n classes other than each target whose logits are closest to the target's."""
    dist = (logits - logits.gather(1, targets.view(-1, 1))).abs()
    dist = dist.scatter(1, targets.view(-1, 1), float("inf"))
    return dist.topk(min(n, logits.shape[1] - 1), dim=1, largest=False).indices


def finer_score(logits: Tensor, targets: Tensor, others: Tensor, alpha: float) -> Tensor:
    """S = y^c − α Σ_j (p_j / Σ_i p_i) y^j over the comparison classes j (p = softmax of the logits), (B,)."""
    probs = torch.softmax(logits, dim=1).gather(1, others)
    own = logits.gather(1, targets.view(-1, 1))
    return (probs * (own - alpha * logits.gather(1, others))).sum(1) / probs.sum(1)


class FinerCAM(ChannelWeightMethod):
    """Finer-CAM (Zhang, Gu, Chowdhury, Mai, Carlyn, Berger-Wolf, Su & Chao, "Finer-CAM: Spotting the
    Difference Reveals Finer Details for Visual Explanation", CVPR 2025, arXiv:2501.11309), on Grad-CAM as pytorch-grad-cam 1.5's
    ``FinerCAM`` does by default: Grad-CAM of a score that compares the target class c with the n
    classes whose logits are closest to y^c (the ones it is most easily confused with):

        S^c = Σ_j p_j (y^c − α y^j) / Σ_j p_j = y^c − α Σ_j (p_j / Σ_i p_i) y^j,   p = softmax(y),
        w_k = (1/hw) Σ_ij ∂S^c/∂A_k(i,j),    L^c = ReLU(Σ_k w_k A_k).

    The derivative goes through the softmax weights p_j too, as in pytorch-grad-cam. α = 0 gives
    Grad-CAM. Options: ``alpha`` (α, default 1.0) and ``n_compare`` (n, default 3, pytorch-grad-cam's
    comparison classes 1, 2, 3 of the similarity order). Cost: one more forward and head-only
    backward pass, since the score is not the logit the shared backward pass differentiates.
    """

    name = "finercam"
    paper = "Zhang et al., CVPR 2025"
    summary = "Grad-CAM of the class logit minus the logits of the classes most like it"
    cost = "2 forward-backward"
    needs_gradients = True

    def __init__(self, *, alpha: float = 1.0, n_compare: int = 3) -> None:
        self.alpha = check_range("finercam: alpha", alpha)
        if isinstance(n_compare, bool) or not isinstance(n_compare, int) or n_compare < 1:
            raise ConfigError(f"finercam: n_compare={n_compare!r} must be a positive integer")
        self.n_compare = n_compare

    def weights(self, run: CamRun) -> Tensor:
        others = similar_classes(run.logits.float(), run.targets, self.n_compare)
        p = run.extra_pass(run.images)
        with torch.inference_mode(False), torch.enable_grad():
            score = finer_score(p.logits, run.targets.clone(), others.clone(), self.alpha).sum()
        leaf = p.activation if p.leaf is None else p.leaf
        (grad,) = torch.autograd.grad(score, leaf)
        if leaf is not p.activation:
            grad = to_map(grad, p.reshape, p.image_hw)
        return grad.mean(dim=(2, 3))
