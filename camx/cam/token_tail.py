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

timm's ``VisionTransformer`` (ViT, DeiT; ``global_pool="token"``, target ``blocks[-1].norm1``) gets the
same treatment with the block's own attention module run on every token (its API has no query subset)
and the residual, MLP, final norm and head on the class token: y_0 = x_0 + ls_1(Attn(A))_0,
z_0 = y_0 + ls_2(MLP(LN_2(y_0))), logits = head(LN(z_0)).

Used only for those exact model classes and layers, with every module in eval mode (no Monte-Carlo
dropout); anything else goes through the ordinary split pass of :class:`camx.cam.hooks.Probe`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from camx.cam.protocol import class_path


@dataclass(frozen=True)
class ClassTokenTail:
    """logits = tail(x, A): the last block from its first LayerNorm's output A on, for the class token
    (``x`` the block's input); ``timm`` selects timm's block layout, else torchvision's."""

    model: nn.Module
    block: nn.Module
    timm: bool = False

    def __call__(self, block_input: Tensor, a: Tensor) -> Tensor:
        blk, x0 = self.block, block_input[:, :1]
        if self.timm:  # the attention module on every token (no query subset in its API)
            y0 = x0 + blk.drop_path1(blk.ls1(blk.attn(a)[:, :1]))
            z0 = y0 + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(y0))))
            return self.model.forward_head(self.model.norm(z0))  # global_pool "token" reads index 0
        attended, _ = blk.self_attention(a[:, :1], a, a, need_weights=False)
        y0 = blk.dropout(attended) + x0
        z0 = y0 + blk.mlp(blk.ln_2(y0))
        return self.model.heads(self.model.encoder.ln(z0)[:, 0])


def _timm_tail(model: nn.Module, layer: nn.Module) -> ClassTokenTail | None:
    if class_path(model) != "timm.models.vision_transformer.VisionTransformer":
        return None
    if getattr(model, "global_pool", None) != "token" or getattr(model, "attn_pool", None) is not None:
        return None
    last = list(model.blocks)[-1]
    if class_path(last) != "timm.models.vision_transformer.Block" or layer is not last.norm1:
        return None
    return ClassTokenTail(model, last, timm=True)


def _torchvision_tail(model: nn.Module, layer: nn.Module) -> ClassTokenTail | None:
    from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer

    if type(model) is not VisionTransformer:
        return None
    last = list(model.encoder.layers)[-1]
    return ClassTokenTail(model, last) if type(last) is EncoderBlock and layer is last.ln_1 else None


def class_token_tail(model: nn.Module, layer: nn.Module | None) -> ClassTokenTail | None:
    """The tail when ``model`` is a torchvision or timm ViT in eval mode and ``layer`` its last block's
    first LayerNorm; None otherwise."""
    if layer is None:
        return None
    tail = _torchvision_tail(model, layer) or _timm_tail(model, layer)
    return None if tail is None or any(m.training for m in model.modules()) else tail
