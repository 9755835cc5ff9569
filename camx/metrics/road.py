"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci & Kasneci, ICML 2022, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods").

Deletion-style curves leak the removed pixels' *shape* to the model (a black or blurred hole is
itself a cue). ROAD fills removed pixels by *noisy linear imputation* instead: every removed pixel
takes the weighted mean of its 8 neighbours (weight 1/6 for the 4 edge neighbours, 1/12 for the 4
corner ones; neighbours outside the image are left out), solved jointly for all removed pixels as
one sparse linear system per image and channel,

    Σ_n w_n · (x_n − x_i) = 0   for every removed pixel i,

then Gaussian noise is added to the imputed values. The system is the same in the model's
normalised input space and in [0, 1] pixels (each row's weights sum to zero, so a per-channel affine
map commutes with it); the noise, σ = ``noise`` in the *normalised* space as in the reference code,
is ``noise · std_c`` in [0, 1] pixels.

For a percentile p, MoRF (most relevant first) removes the pixels whose map value is ≥ the p-th
percentile of the map (keeps ``map < percentile(map, p)``, so p = 10 removes the top 90 %); LeRF
(least relevant first) does the same with 1 − map. The reported values are means over the
percentiles (default 10, 20, …, 90) of the target-class probability of the imputed image:
``road_morf`` (lower is better: the model loses its evidence fast), ``road_lerf`` (higher is
better), and ``road_combined`` = (LeRF − MoRF)/2, pytorch-grad-cam's ``ROADCombined`` (the clean
probability cancels). pytorch-grad-cam's ``ROADMostRelevantFirstAverage`` and
``ROADLeastRelevantFirstAverage`` report each mean minus the clean probability.

Noise is seeded per image from (seed, key), so an image gets the same values alone or in any batch:
one generator per image draws LeRF's noise, then MoRF's, percentiles in order (the order
pytorch-grad-cam's ``ROADCombined`` draws them for a one-image batch, so with that generator's seed
in ``torch.manual_seed`` the two agree to float precision; see tests/test_metrics_road.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from camx.data.transforms import IMAGENET_STD
from camx.metrics.faithfulness import Forward, _maps_like, _probs_of, _targets
from camx.perturb import _image_seed as image_seed

PERCENTILES: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)
# (row offset, column offset, weight): the 8-neighbourhood of Rong et al.'s linear imputation
_NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    (-1, 0, 1 / 6),
    (1, 0, 1 / 6),
    (0, -1, 1 / 6),
    (0, 1, 1 / 6),
    (-1, -1, 1 / 12),
    (-1, 1, 1 / 12),
    (1, -1, 1 / 12),
    (1, 1, 1 / 12),
)
_ROAD_STREAM = 7  # the noise stream of ROAD in camx.perturb.image_seed (perturbations use 0, 1, …)


def _linear_system(keep: np.ndarray, image: np.ndarray) -> tuple[object, np.ndarray, np.ndarray]:
    """The sparse system A·u = b over the removed pixels (``keep`` False) of one (C, H, W) image.

    Row i: (Σ_valid w)·u_i − Σ_{removed n} w_n·u_n = Σ_{kept n} w_n·x_n. Returns (A as CSC, b of
    shape (N, C), the flat indices of the removed pixels).
    """
    from scipy.sparse import coo_matrix

    h, w = keep.shape
    flat_keep = keep.reshape(-1)
    removed = np.flatnonzero(~flat_keep)
    slot = np.full(h * w, -1, dtype=np.int64)
    slot[removed] = np.arange(removed.size)
    rows, cols = removed // w, removed % w
    pixels = image.reshape(image.shape[0], -1)
    diag = np.zeros(removed.size)
    b = np.zeros((removed.size, image.shape[0]))
    ai, aj, av = [], [], []
    for dr, dc, weight in _NEIGHBOURS:
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        eq = np.flatnonzero(inside)
        nb = r[inside] * w + c[inside]
        diag[eq] += weight
        known = flat_keep[nb]
        b[eq[known]] += weight * pixels[:, nb[known]].T
        ai.append(eq[~known])
        aj.append(slot[nb[~known]])
        av.append(np.full(int((~known).sum()), -weight))
    n = removed.size
    ai.append(np.arange(n))
    aj.append(np.arange(n))
    av.append(diag)
    a = coo_matrix((np.concatenate(av), (np.concatenate(ai), np.concatenate(aj))), shape=(n, n)).tocsc()
    return a, b, removed


def noisy_linear_impute(
    image: Tensor, keep: Tensor, noise: float | Tensor = 0.0, generator: torch.Generator | None = None
) -> Tensor:
    """Fill the pixels of a (C, H, W) image where ``keep`` (H, W) is False by noisy linear imputation.

    Solves the system of the module docstring (scipy's sparse LU), then adds ``noise`` ·
    N(0, 1) to every imputed value (``noise`` a number or one value per channel); the draw is one
    (C, N) standard-normal tensor from ``generator``. Kept pixels are returned unchanged.
    """
    from scipy.sparse.linalg import splu

    keep_np = keep.detach().cpu().numpy().astype(bool)
    out = image.detach().cpu().clone()
    if keep_np.all():
        return out
    a, b, removed = _linear_system(keep_np, out.numpy().astype(np.float64))
    solved = torch.tensor(splu(a).solve(b), dtype=torch.float32).t()  # (C, N)
    eps = torch.randn(solved.shape, generator=generator)
    sigma = torch.as_tensor(noise, dtype=torch.float32).reshape(-1, 1)
    flat = out.reshape(out.shape[0], -1)
    flat[:, torch.from_numpy(removed)] = (solved + sigma * eps).to(out.dtype)
    return flat.reshape(out.shape)


def _keep_masks(cam: np.ndarray, percentiles: Sequence[float], most_first: bool) -> list[np.ndarray]:
    """Per percentile p, the pixels ROAD keeps: score < percentile(score, p), score = map (MoRF) or 1 − map."""
    score = cam if most_first else np.float32(1) - cam
    return [score < np.percentile(score, p) for p in percentiles]


def road(
    forward: Forward,
    images: Tensor,
    maps: Tensor,
    targets: Tensor | Sequence[int],
    percentiles: Sequence[float] = PERCENTILES,
    *,
    noise: float = 0.01,
    std: Sequence[float] = IMAGENET_STD,
    seed: int = 0,
    keys: Sequence[int] | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-image ROAD scores (module docstring): (morf, lerf, combined), each (B,) on the CPU.

    Args:
        forward: [0, 1] images (B, 3, H, W) → class probabilities (B, K).
        images: (B, 3, H, W) in [0, 1]; maps: (B, H, W) or (B, 1, H, W) (resized to the images).
        percentiles: the removal thresholds p (in [0, 100]).
        noise: std of the imputation noise in the model's normalised input (0 → plain linear
            imputation); ``std`` the normalisation's per-channel std (ImageNet's, camx's models).
        seed, keys: the noise seed and one non-negative integer per image (its dataset index).
    """
    b = images.shape[0]
    t = _targets(targets, b, images.device)
    m = _maps_like(maps, images).detach().float().cpu().numpy()
    keys = list(range(b)) if keys is None else [int(k) for k in keys]
    sigma = noise * torch.as_tensor(std, dtype=torch.float32)
    x_cpu = images.detach().float().cpu()
    probs = torch.empty(b, 2, len(percentiles))
    for i in range(b):
        g = torch.Generator().manual_seed(image_seed(seed, keys[i], _ROAD_STREAM))
        masks = _keep_masks(m[i], percentiles, False) + _keep_masks(m[i], percentiles, True)
        filled = torch.stack(
            [noisy_linear_impute(x_cpu[i], torch.from_numpy(k), sigma, g) for k in masks]
        ).to(device=images.device, dtype=images.dtype)
        p = _probs_of(forward, filled, t[i].repeat(len(masks)), chunk_size)
        probs[i] = p.reshape(2, len(percentiles))
    lerf, morf = probs[:, 0].mean(dim=1), probs[:, 1].mean(dim=1)
    return morf, lerf, (lerf - morf) / 2
