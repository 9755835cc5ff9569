"""LeGrad: Vision-Transformer maps from the gradients of per-layer predictions w.r.t. attention maps.

Bousselham et al., "LeGrad: An Explainability Method for Vision Transformers via Feature Formation
Sensitivity", 2024. pytorch-grad-cam 1.5.7 has no LeGrad; camx follows the paper and the authors'
code (tests/test_cam_legrad.py writes the formula out independently and compares).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from camx.cam.base import CamMethod, CamRun
from camx.cam.protocol import model_label
from camx.cam.reshape import token_grid
from camx.errors import ConfigError


def vit_parts(model: nn.Module) -> tuple[list[nn.Module], nn.Module]:
    """The attention blocks and the final norm of a timm-style ViT; a ConfigError for any other model.

    Needed: ``model.blocks`` whose blocks have an ``attn`` with ``qkv``, ``attn_drop`` and ``fused_attn``
    (timm's ``Attention``), ``model.norm`` and ``model.forward_head`` (timm's VisionTransformer, DeiT, …).
    """
    blocks = list(getattr(model, "blocks", None) or [])
    ok = (
        blocks
        and all(hasattr(getattr(b, "attn", None), "attn_drop") for b in blocks)
        and all(hasattr(b.attn, "fused_attn") for b in blocks)
        and isinstance(getattr(model, "norm", None), nn.Module)
        and callable(getattr(model, "forward_head", None))
    )
    if not ok:
        raise ConfigError(
            f"legrad needs a Vision Transformer whose attention maps it can read (timm's VisionTransformer: "
            f"blocks[i].attn, norm, forward_head); {model_label(model)} is not one — use a timm ViT/DeiT "
            "model or another method (gradcam, layercam, …)"
        )
    return blocks, model.norm


@contextmanager
def attention_maps(blocks: list[nn.Module]) -> Iterator[list[Tensor | None]]:
    """Capture each block's attention softmax(QKᵀ/√d) (B, heads, N, N) as a gradient-enabled leaf.

    timm computes attention with a fused kernel that never materialises the map; inside this context
    every block's ``fused_attn`` is off and a hook on ``attn.attn_drop`` (which receives the map)
    swaps it for a leaf tensor. Flags and hooks are restored on exit.
    """
    maps: list[Tensor | None] = [None] * len(blocks)
    flags = [b.attn.fused_attn for b in blocks]

    def hook(index: int) -> Any:
        def capture(_m: nn.Module, _i: Any, out: Tensor) -> Tensor:
            leaf = out.detach().clone().requires_grad_(True)
            maps[index] = leaf
            return leaf

        return capture

    handles = [b.attn.attn_drop.register_forward_hook(hook(i)) for i, b in enumerate(blocks)]
    try:
        for b in blocks:
            b.attn.fused_attn = False
        yield maps
    finally:
        for handle in handles:
            handle.remove()
        for b, flag in zip(blocks, flags):
            b.attn.fused_attn = flag


class LeGrad(CamMethod):
    """LeGrad (Bousselham et al., "LeGrad: An Explainability Method for Vision Transformers via
    Feature Formation Sensitivity", 2024, Eq. 4–7).

    For each block l of the chosen ones, the block's output tokens z^l go through the model's final
    norm and head, giving a per-layer score s^l = head(norm(z^l))_c; with A^l the block's attention
    map (heads × N × N, after softmax),

        E^l = (1/(H·N)) Σ_h Σ_i ReLU(∂s^l/∂A^l)_{h,i,:},    L = Σ_l E^l  (patch columns only),

    laid out on the patch grid (the class/register columns dropped), then min–max normalised. The
    paper averages over all query rows i (the authors' code: ``grad.mean(1).mean(1)[:, 1:]``), not only
    the class-token row. Option ``blocks``: use the last ``blocks`` blocks (0, the default: all of them;
    the authors use the last few on large ViTs). ``target_layer`` is not used.
    """

    name = "legrad"
    paper = "Bousselham et al., arXiv:2404.03214, 2024"
    summary = "positive gradients of per-layer predictions w.r.t. ViT attention maps (ViTs only)"
    cost = "1 forward, 1 backward per block used"
    needs_gradients = True
    relu = False
    vit_only = True

    def __init__(self, *, blocks: int = 0) -> None:
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
            raise ConfigError(
                f"legrad: blocks={blocks!r} must be 0 (all) or a positive number of last blocks"
            )
        self.blocks = blocks

    def compute(self, run: CamRun) -> Tensor:
        all_blocks, norm = vit_parts(run.model)
        chosen = range(len(all_blocks))[-self.blocks :] if self.blocks else range(len(all_blocks))
        outputs: dict[int, Tensor] = {}
        hooks = [
            all_blocks[i].register_forward_hook(lambda _m, _i, out, i=i: outputs.__setitem__(i, out))
            for i in chosen
        ]
        try:
            with attention_maps(all_blocks) as maps, torch.enable_grad():
                run.model(run.images)
                total = None
                for i in chosen:
                    score = run.model.forward_head(norm(outputs[i]))
                    score = score.gather(1, run.targets.view(-1, 1)).sum()
                    (grad,) = torch.autograd.grad(score, maps[i], retain_graph=True)
                    rel = grad.clamp_min(0).mean(dim=(1, 2))  # (B, N): over heads and query rows
                    total = rel if total is None else total + rel
        finally:
            for handle in hooks:
                handle.remove()
        assert total is not None
        prefix, h, w = token_grid(int(total.shape[1]), (int(run.images.shape[-2]), int(run.images.shape[-1])))
        return total[:, prefix:].reshape(-1, h, w)
