"""Stability of maps under perturbation: how similar is the map of a perturbed image to the clean one?

Both functions compare two batches of maps, (B, H, W) or (B, 1, H, W), image by image, and return
(B,). Compare maps in the same frame: warp the clean map first with
:func:`camx.perturb.warp_like` when the perturbation is geometric.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if b.ndim == 4 and b.shape[1] == 1:
        b = b[:, 0]
    if a.ndim != 3 or a.shape != b.shape:
        raise ValueError(
            f"maps must be two (B, H, W) batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a.detach().to(torch.float64), b.detach().to(torch.float64)


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Per-image Pearson correlation of two map batches.

    r_i = Σ_p (a_p − ā)(b_p − b̄) / sqrt(Σ_p (a_p − ā)² · Σ_p (b_p − b̄)²), over all pixels of image i;
    0 when either map is constant (no variation to correlate). Returns (B,) float32 in [−1, 1].
    """
    a, b = _pair(a, b)
    n = a.shape[0]
    a = a.reshape(n, -1)
    b = b.reshape(n, -1)
    da = a - a.mean(dim=1, keepdim=True)
    db = b - b.mean(dim=1, keepdim=True)
    va = (da * da).sum(dim=1)
    vb = (db * db).sum(dim=1)
    # a relative tolerance so that float noise on a constant map does not count as variation
    ok = (va > 1e-20 * (a * a).sum(dim=1)) & (vb > 1e-20 * (b * b).sum(dim=1))
    r = (da * db).sum(dim=1) / torch.sqrt(torch.where(ok, va * vb, torch.ones_like(va)))
    return torch.where(ok, r, torch.zeros_like(r)).clamp(-1, 1).float()


def _gaussian_taps(size: int, sigma: float) -> Tensor:
    """The normalised 1-D Gaussian of ``size`` taps and std ``sigma`` (float64); the window is its outer product."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def ssim(a: Tensor, b: Tensor, window: int = 7, sigma: float = 1.5) -> Tensor:
    """Per-image structural similarity (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 2004).

    With local statistics under a normalised ``window``×``window`` Gaussian window of std ``sigma``
    (μ_a, μ_b, σ_a², σ_b², σ_ab), data range L = 1, C1 = (0.01·L)², C2 = (0.03·L)²:
        SSIM(p) = (2μ_aμ_b + C1)(2σ_ab + C2) / ((μ_a² + μ_b² + C1)(σ_a² + σ_b² + C2)),
    averaged over the valid positions (no padding). Maps are expected in [0, 1]. If a map is
    smaller than the window, the window shrinks to the largest odd size that fits. Returns (B,).
    """
    a, b = _pair(a, b)
    h, w = a.shape[-2:]
    size = min(int(window), h, w)
    if size % 2 == 0:
        size -= 1
    if size < 1:
        raise ValueError(f"maps of size {(h, w)} are too small for SSIM")
    g = _gaussian_taps(size, sigma if size == window else sigma * size / window).tolist()
    c1, c2 = (0.01 * 1.0) ** 2, (0.03 * 1.0) ** 2
    # the 2-D Gaussian is separable (w = g gᵀ): one pass along rows and one along columns of all five
    # fields at once, 2·size multiply-adds a pixel instead of size², the same sums up to float64 rounding
    mu_x, mu_y, xx, yy, xy = _separable_filter(torch.stack([a, b, a * a, b * b, a * b]), g)
    sxx = xx - mu_x**2
    syy = yy - mu_y**2
    sxy = xy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    out = (num / den).mean(dim=(1, 2))
    return out.float()


def _separable_filter(z: Tensor, g: list[float]) -> Tensor:
    """``z`` (…, H, W) filtered by the window g gᵀ without padding: (…, H − n + 1, W − n + 1), n = len(g)."""
    n = len(g)
    h, w = z.shape[-2:]
    rows = sum(gi * z[..., i : h - n + 1 + i, :] for i, gi in enumerate(g))
    return sum(gi * rows[..., i : w - n + 1 + i] for i, gi in enumerate(g))
