"""Self-attention with DropKey or Dropout, the head of *Optimized Dropkey-Based Grad-CAM* (Sensors 2023).

DropKey (Li et al., arXiv:2208.02646; Sensors 2023 Eq. 3) drops attention *logits* before the softmax:

    p_ij = exp(d_ij + q_i·k_jᵀ/√d) / Σ_j exp(d_ij + q_i·k_jᵀ/√d),   d_ij ∈ {0, −∞},  P(d_ij = −∞) = mask_ratio

so each query sees an independent random subset of keys and the surviving weights still sum to 1.
The Dropout variant instead zeroes attention weights *after* the softmax (and rescales by 1/(1−p)).
Both act in training mode only; evaluation is deterministic.
"""

from __future__ import annotations

import torch
from torch import nn

DROPS = ("none", "dropout", "dropkey")


class DropKey(nn.Module):
    """Bernoulli mask on attention logits before the softmax (DropKey).

    A dropped logit is set to the dtype's lowest finite value, not a constant that could overflow in
    half precision; a row whose keys are all dropped therefore becomes uniform after softmax (no NaN).
    ``cam_stochastic`` (:mod:`camx.cam.protocol`): Monte-Carlo CAM sampling switches it on.
    """

    cam_stochastic = True

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropKey ratio must lie in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return logits
        drop = torch.rand_like(logits) < self.p
        return logits.masked_fill(drop, torch.finfo(logits.dtype).min)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens (B, N, D) with an optional drop on the attention."""

    def __init__(self, dim: int, num_heads: int, drop: str = "none", p: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.drop_key = DropKey(p) if drop == "dropkey" else nn.Identity()
        self.drop_attn = nn.Dropout(p) if drop == "dropout" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        logits = (q @ k.transpose(-2, -1)) * self.scale
        attn = self.drop_key(logits).softmax(dim=-1)
        attn = self.drop_attn(attn)
        out = (attn @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)


class AttentionBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int, drop: str, p: float, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, drop, p)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def layer_ratios(mask_ratio: float, depth: int) -> list[float]:
    """Per-layer drop ratios, decreasing linearly over depth as in DropKey: r_i = ratio·(depth − i)/depth."""
    return [mask_ratio * (depth - i) / depth for i in range(depth)]


class AttentionHead(nn.Module):
    """Conv feature map (B, C, h, w) → h·w tokens → [Linear C→dim] → ``depth`` attention blocks
    → mean over tokens → LayerNorm → Linear(dim → classes).

    ``drop`` is ``"none"`` (the plain attention ablation), ``"dropout"`` (Dropout on the attention
    weights after softmax) or ``"dropkey"`` (DropKey on the logits before softmax), with ratio
    ``mask_ratio`` in the first block, decreasing linearly over the blocks.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dim: int = 256,
        num_heads: int = 4,
        depth: int = 1,
        drop: str = "dropkey",
        mask_ratio: float = 0.1,
    ) -> None:
        super().__init__()
        if drop not in DROPS:
            raise ValueError(f"drop must be one of {DROPS}, got {drop!r}")
        self.embed = nn.Linear(in_channels, dim) if dim != in_channels else nn.Identity()
        ratios = layer_ratios(mask_ratio, depth) if drop != "none" else [0.0] * depth
        self.blocks = nn.Sequential(*[AttentionBlock(dim, num_heads, drop, r) for r in ratios])
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        tokens = fmap.flatten(2).transpose(1, 2)  # (B, h·w, C)
        x = self.blocks(self.embed(tokens))
        return self.fc(self.norm(x.mean(dim=1)))
