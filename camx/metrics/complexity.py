"""Complexity of a map: how concentrated is its relevance? Lower complexity, higher sparseness read easier.

Both take maps (B, H, W) or (B, 1, H, W) and return (B,). As in Quantus (v0.6, whose defaults these
equal to 1e-6, see tests/test_metrics_quantus.py) the map's absolute value is used, divided by its
largest absolute value (an all-zero map is left as is); both scores are invariant to that scaling
but for the small stabilisers below.
"""

from __future__ import annotations

import torch
from torch import Tensor

from camx.metrics._maps import check_finite

_GINI_EPS = 1e-7  # added to every |a_i| (Quantus's stabiliser): an all-zero map has Gini 0, not 0/0
_LOG_EPS = 1e-12  # inside the logarithm: 0·log 0 = 0


def _flat_abs(maps: Tensor) -> Tensor:
    """|maps| as float64 (B, N), divided by each map's max |value| (all-zero maps unchanged)."""
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3:
        raise ValueError(f"maps must be (B, H, W) or (B, 1, H, W), got {tuple(maps.shape)}")
    check_finite(maps)
    a = maps.detach().to(torch.float64).reshape(maps.shape[0], -1).abs()
    peak = a.max(dim=1, keepdim=True).values
    return torch.where(peak > 0, a / torch.where(peak > 0, peak, torch.ones_like(peak)), a)


def sparseness(maps: Tensor) -> Tensor:
    """Sparseness (Chalasani, Chen, Chowdhury, Wu & Jha, ICML 2020): the Gini index of |map|.

    With a_(1) ≤ … ≤ a_(n) the sorted values of |map| + 1e-7,
        G = Σ_k (2k − n − 1)·a_(k) / (n · Σ_k a_(k))  ∈ [0, 1 − 1/n];
    0 for a uniform map, → 1 when all relevance sits on one pixel. Higher is sparser.
    """
    a = _flat_abs(maps) + _GINI_EPS
    a, _ = torch.sort(a, dim=1)
    n = a.shape[1]
    k = torch.arange(1, n + 1, dtype=a.dtype, device=a.device)
    return (((2 * k - n - 1) * a).sum(dim=1) / (n * a.sum(dim=1))).float()


def complexity(maps: Tensor) -> Tensor:
    """Complexity (Bhatt, Weller & Moura, IJCAI 2020): the entropy of the relevance distribution.

    With P_i = |a_i| / Σ_j |a_j|,  H = −Σ_i P_i · ln(P_i + 1e-12)  ∈ [0, ln n] (nats); ln n for a
    uniform map, 0 when one pixel holds everything. Lower is simpler. An all-zero map scores NaN
    (no distribution; left out of the means), as in Quantus.
    """
    a = _flat_abs(maps)
    p = a / a.sum(dim=1, keepdim=True)
    return (-(p * torch.log(p + _LOG_EPS)).sum(dim=1)).float()
