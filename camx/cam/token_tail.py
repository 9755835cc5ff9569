"""The class-token tail of a Vision Transformer, for a cheaper gradient pass.

torchvision's ``VisionTransformer`` classifies the class token of its last block's output, and after the
block's attention everything is tokenwise. With the target layer at the last block's first LayerNorm,
``A = LN_1(x)`` (camx's default, and pytorch-grad-cam's documented choice), the logits as a function of A are

    a_0 = MHA(q = A_0, k = v = A),   y_0 = x_0 + a_0,   z_0 = y_0 + MLP(LN_2(y_0)),   logits = heads(LN(z_0)),

index 0 being the class token: the other tokens' attention outputs and MLPs never reach the logits. So
the gradient family (∂logits/∂A) runs the model once in inference mode, as a bare forward does, and then
only this tail in grad mode — one query instead of 197, one token through the MLP — and backpropagates
through it. Same function, so the same gradients up to float rounding (~1e-7); the overhead over a bare
forward falls from ≈ a last block's backward (~1.09×) to ~1.03× (``benchmarks/bench_vit.py``).

Used only for that exact model class and layer, with every module in eval mode (no Monte-Carlo dropout);
anything else goes through the ordinary split pass of :class:`camx.cam.hooks.Probe`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True)
class ClassTokenTail:
    """logits = tail(x, A): the last block from its first LayerNorm's output on, for the class token only."""

    model: nn.Module
    block: nn.Module

    def __call__(self, block_input: Tensor, a: Tensor) -> Tensor:
        blk = self.block
        attended, _ = blk.self_attention(a[:, :1], a, a, need_weights=False)
        y0 = blk.dropout(attended) + block_input[:, :1]
        z0 = y0 + blk.mlp(blk.ln_2(y0))
        return self.model.heads(self.model.encoder.ln(z0)[:, 0])


def class_token_tail(model: nn.Module, layer: nn.Module | None) -> ClassTokenTail | None:
    """The tail when ``model`` is a torchvision ViT in eval mode and ``layer`` its last block's ``ln_1``."""
    try:
        from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer
    except ImportError:  # pragma: no cover - torchvision is a dependency
        return None
    if type(model) is not VisionTransformer or layer is None:
        return None
    last = list(model.encoder.layers)[-1]
    if type(last) is not EncoderBlock or layer is not last.ln_1 or any(m.training for m in model.modules()):
        return None
    return ClassTokenTail(model, last)
