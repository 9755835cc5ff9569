"""Score-CAM with few masked forwards: group the channels by their masks, score one real channel per group.

Exact Score-CAM weighs every channel k by α_k = softmax(f(X ⊙ s(Up(A_k))))_c, one masked forward each
(1,280 for EfficientNet-Lite0, 2,048 for ResNet50). camx's fast mode (not in any paper) scores G of them:

1. Group one image's non-constant channels by weighted k-means of their min–max normalised masks
   m_k = s(A_k) (:func:`channel_groups`), weight v_k = Σ_ij (A_k(i,j) − min A_k): how much the channel
   shapes the map (a constant offset does not).
2. Score each group's *medoid* — the member nearest the group's weighted centroid — exactly as
   Score-CAM scores it: a real channel's own mask, so its α is Score-CAM's α for that channel.
3. Give every channel k a mixture of the medoids' scores,
       α̂_k = Σ_g π_kg α_g,   π_kg ∝ exp(−(‖m_k − m_g‖² − min_h ‖m_k − m_h‖²) / (τ · median ‖m − m_g‖²)),
   a softmin over the squared mask distances to the medoids with temperature ``soft`` = τ
   (τ = 0: the nearest medoid's α); a medoid keeps its own α.

Why medoids and not centroids: a centroid of many normalised masks is a dim, diffuse mask unlike any
member's, and camx's earlier centroid groups (over the positive Grad-CAM++ channels) biased the map:
Pearson 0.826 with exact Score-CAM on the astronaut (docs/results/gradpp_real.md before this module).
"""

from __future__ import annotations

import torch
from torch import Tensor


def channel_groups(masks: Tensor, mass: Tensor, k: int, iters: int = 20) -> tuple[Tensor, Tensor]:
    """Weighted k-means of one image's normalised channel masks: (labels (n,), centroids (k', h·w)).

    ``masks`` (n, h·w) are the min–max normalised activations s(A_k), ``mass`` (n,) how much each
    channel adds to the map; the objective is Σ_k mass_k ‖s(A_k) − c_{g(k)}‖². The initial centres
    are picked deterministically (the heaviest channel, then mass-weighted farthest points), so a
    map does not depend on the RNG or on the other images of the batch.
    """
    n = masks.shape[0]
    k = max(1, min(k, n))
    mass = mass.clamp_min(0) + 1e-12
    picks = [int(mass.argmax())]
    dist = (masks - masks[picks[0]]).pow(2).sum(1)
    for _ in range(k - 1):
        j = int((dist * mass).argmax())
        picks.append(j)
        dist = torch.minimum(dist, (masks - masks[j]).pow(2).sum(1))
    centres = masks[picks].clone()
    for _ in range(iters):
        labels = torch.cdist(masks, centres).argmin(1)
        member = torch.zeros(k, n, dtype=masks.dtype, device=masks.device)
        member[labels, torch.arange(n, device=masks.device)] = mass.to(masks.dtype)
        total = member.sum(1, keepdim=True)
        centres = torch.where(total > 0, (member @ masks) / total.clamp_min(1e-12), centres)
    return torch.cdist(masks, centres).argmin(1), centres


def group_medoids(masks: Tensor, weight: Tensor, k: int) -> Tensor:
    """Indices (k',) into ``masks`` (n, h·w) of the medoid of each non-empty :func:`channel_groups` group:
    the member nearest its group's centroid (ties: the lowest index)."""
    labels, centres = channel_groups(masks, weight, k)
    dist = (masks - centres[labels]).pow(2).sum(1)
    medoids = []
    for g in range(centres.shape[0]):
        members = (labels == g).nonzero().squeeze(1)
        if members.numel():
            medoids.append(members[dist[members].argmin()])
    return torch.stack(medoids)


def medoid_mixture(masks: Tensor, medoids: Tensor, soft: float) -> Tensor:
    """Mixing weights π (n, k') of step 3 in the module docstring; each row sums to 1."""
    d2 = torch.cdist(masks, masks[medoids]).pow(2)
    if soft <= 0 or medoids.numel() == 1:
        return torch.zeros_like(d2).scatter_(1, d2.argmin(1, keepdim=True), 1.0)
    scale = soft * d2.median().clamp_min(1e-12)
    mix = torch.softmax(-(d2 - d2.amin(1, keepdim=True)) / scale, dim=1)
    mix[medoids] = torch.eye(medoids.numel(), dtype=mix.dtype, device=mix.device)  # scored: their own α
    return mix


def plan_groups(activation: Tensor, groups: int, soft: float) -> tuple[Tensor, Tensor]:
    """For one image's non-constant channels ``activation`` (n, h, w): the channels to score (medoid
    indices, (k',)) and the mixture (n, k') that spreads their α to every channel (α̂ = π α_medoids)."""
    low = activation.flatten(1).amin(1, keepdim=True)
    flat = activation.flatten(1) - low
    masks = flat / flat.amax(1, keepdim=True).clamp_min(1e-12)
    medoids = group_medoids(masks, flat.sum(1), groups)
    return medoids, medoid_mixture(masks, medoids, soft)
