"""LeGrad on a tiny timm ViT, compared with the paper's formula written out here by hand (pytorch-grad-cam
1.5.7 has no LeGrad): attention recomputed explicitly per block, per-layer predictions through the final
norm and head, positive gradients averaged over heads and query rows, summed over blocks."""

from __future__ import annotations

import pytest
import torch
from _cam_helpers import SmallCNN, normalise, seeded
from test_cam_reshape import _x, tiny_vit
from torch import Tensor, nn

from camx.cam import explain
from camx.errors import ConfigError

TOL = 1e-4


def legrad_by_hand(model: nn.Module, x: Tensor, targets: Tensor, blocks: int = 0) -> Tensor:
    """The formula, from the model's weights: no hooks, no fused kernels."""
    with torch.enable_grad():
        z = model.norm_pre(model._pos_embed(model.patch_embed(x)))
        leaves, scores = [], []
        for blk in model.blocks:
            att = blk.attn
            b, n, c = z.shape
            qkv = (
                att.qkv(blk.norm1(z))
                .reshape(b, n, 3, att.num_heads, c // att.num_heads)
                .permute(2, 0, 3, 1, 4)
            )
            q, k, v = qkv.unbind(0)
            a = ((q * att.scale) @ k.transpose(-2, -1)).softmax(-1).detach().requires_grad_(True)
            z = z + att.proj((a @ v).transpose(1, 2).reshape(b, n, c))
            z = z + blk.mlp(blk.norm2(z))
            leaves.append(a)
            scores.append(model.head(model.norm(z)[:, 0]).gather(1, targets.view(-1, 1)).sum())
        used = range(len(leaves))[-blocks:] if blocks else range(len(leaves))
        total = sum(
            torch.autograd.grad(scores[i], leaves[i], retain_graph=True)[0].clamp_min(0).mean(dim=(1, 2))
            for i in used
        )
    side = int((total.shape[1] - 1) ** 0.5)
    return total[:, 1:].reshape(-1, side, side)


@pytest.mark.parametrize("blocks", [0, 1])
def test_legrad_equals_the_papers_formula(blocks: int) -> None:
    model, x = tiny_vit(), _x()
    flags = [b.attn.fused_attn for b in model.blocks]
    res = explain(model, x, "legrad", size=None, blocks=blocks)
    ref = normalise(legrad_by_hand(model, x, res.targets, blocks).detach(), relu=False)
    assert res.maps.shape == ref.shape == (2, 4, 4)
    assert float((res.maps - ref).abs().max()) <= TOL
    assert [b.attn.fused_attn for b in model.blocks] == flags  # restored
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_legrad_refuses_a_cnn_in_one_line() -> None:
    with pytest.raises(ConfigError, match="legrad needs a Vision Transformer") as err:
        explain(seeded(SmallCNN()), torch.randn(1, 3, 32, 32), "legrad")
    assert "\n" not in str(err.value)


def test_legrad_rejects_a_negative_block_count() -> None:
    with pytest.raises(ConfigError, match="blocks=-1"):
        explain(tiny_vit(), _x(), "legrad", blocks=-1)
