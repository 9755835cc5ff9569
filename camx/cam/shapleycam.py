"""ShapleyCAM: Grad-CAM's weights corrected by a Hessian-vector product (a second-order Shapley estimate)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from camx.cam.base import CamRun, ChannelWeightMethod
from camx.cam.reshape import to_map
from camx.errors import ConfigError


def utility(logits: Tensor, targets: Tensor, score: str) -> Tensor:
    """The explained utility, summed over the batch: ReST ``y^c + log softmax(y)^c`` or the raw logit ``y^c``."""
    index = targets.view(-1, 1)
    own = logits.gather(1, index)
    if score == "rest":
        own = own + torch.log_softmax(logits, dim=1).gather(1, index)
    return own.sum()


class ShapleyCAM(ChannelWeightMethod):
    """ShapleyCAM (Cai, "CAMs as Shapley Value-based Explainers", arXiv:2501.06261, 2025). A second-order Taylor expansion of the utility u around the activation A gives
    each element's Shapley value as A ⊙ (∇u − ½ H A), H the Hessian of u with respect to A; ShapleyCAM
    averages that corrected gradient over space, as Grad-CAM averages the gradient:

        w_k = (1/hw) Σ_ij [∂u/∂A_k(i,j) − ½ (H A)_k(i,j)],    L = ReLU(Σ_k w_k A_k),

    with the paper's Residual Softmax Target-class utility (ReST), which mixes the pre- and
    post-softmax scores of the target class c:

        u = y^c + log softmax(y)^c = y^c − CE(y, c).

    H A is one Hessian-vector product: the gradient of ⟨∇u, v⟩ with respect to A at v = A (a double
    backward through the head only). The images of a batch do not interact, so H is block-diagonal and
    one product serves the whole batch. Attention in the head runs on PyTorch's plain ("math")
    kernel, as the fused ones cannot be differentiated twice. On a head that is piecewise linear in A (ReLU, pooling, a
    linear classifier), the raw logit has H = 0 and ShapleyCAM is Grad-CAM; the log-softmax of ReST
    is what makes the second-order term count. Option ``score``: ``"rest"`` (default, the paper's, as
    pytorch-grad-cam's ``ClassifierOutputReST``) or ``"logit"`` (u = y^c). Cost: one more forward pass
    and a backward and double-backward pass through the head.
    """

    name = "shapleycam"
    paper = "Cai, arXiv:2501.06261, 2025"
    summary = "Grad-CAM with a Hessian-vector correction of the gradients (second-order Shapley values)"
    cost = "2 forward-backward + 1 Hessian-vector product"
    needs_gradients = True
    scores: ClassVar[tuple[str, ...]] = ("rest", "logit")

    def __init__(self, *, score: str = "rest") -> None:
        if score not in self.scores:
            raise ConfigError(
                f"shapleycam: score={score!r} is not a utility; use 'rest' (the paper's) or 'logit' (the raw logit)"
            )
        self.score = score

    def weights(self, run: CamRun) -> Tensor:
        with sdpa_kernel(SDPBackend.MATH):  # fused attention kernels have no double backward
            p = run.extra_pass(run.images)
        leaf = p.activation if p.leaf is None else p.leaf
        with torch.inference_mode(False), torch.enable_grad():
            u = utility(p.logits, run.targets.clone(), self.score)
            grad = (
                torch.autograd.grad(u, leaf, create_graph=True, allow_unused=True)[0]
                if u.requires_grad
                else None
            )
            if grad is None:
                raise ConfigError("the target layer does not influence the logits; pick another target_layer")
            value = leaf.detach().clone()
            hvp = None  # H = 0: the gradient does not depend on A (a head linear in A)
            if grad.requires_grad:
                hvp = torch.autograd.grad(grad, leaf, grad_outputs=value, allow_unused=True)[0]
        corrected = grad.detach() if hvp is None else grad.detach() - 0.5 * hvp
        if leaf is not p.activation:
            corrected = to_map(corrected, p.reshape, p.image_hw)
        return corrected.mean(dim=(2, 3))
