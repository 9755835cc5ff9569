"""The random-logit test (Sixt, Granz & Landgraf, ICML 2020, "When explanations lie: why many modified
BP attributions fail"; Quantus ``RandomLogit``): does the map change when another class is explained?

A class-discriminative method explains a random other class differently; a method that ignores the
target (or only tracks the input's edges) gives nearly the same map. For image i with target c_i a
class c'_i ≠ c_i is drawn uniformly from the other K − 1 classes, and

    random_logit_i = SSIM(map_i(c_i), map_i(c'_i))

with :func:`camx.metrics.stability.ssim` (camx's 2-D SSIM: Gaussian window 7, σ 1.5, data range
1), both maps divided by their largest absolute value first (Quantus's default normalisation).
Lower is better. Quantus's default similarity is scikit-image's SSIM on the *flattened* maps (a 1-D
window of 7 along rows, data range from the pair); camx keeps its 2-D SSIM, so the two agree when
Quantus is given camx's SSIM (tests/test_metrics_quantus.py) but not with Quantus's default.
The class c'_i is drawn from a generator seeded by (seed, key) (Quantus: ``np.random.seed(42)``
once per batch), so an image gets the same class alone or in any batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from camx.metrics._maps import check_finite
from camx.metrics.stability import ssim
from camx.perturb import _image_seed as image_seed

Explain = Callable[[Tensor, Tensor], Tensor]  #: ([0, 1] images (B, 3, H, W), targets (B,)) → maps (B, H, W)
_STREAM = 11  # the class draw's stream in camx.perturb's per-image seeds


def random_classes(
    targets: Tensor | Sequence[int], num_classes: int, *, seed: int = 0, keys: Sequence[int] | None = None
) -> Tensor:
    """One class ≠ target per image, uniform over the other ``num_classes`` − 1, seeded per image."""
    t = torch.as_tensor(targets, dtype=torch.long).reshape(-1).cpu()
    if num_classes < 2:
        raise ValueError(f"the random-logit test needs at least 2 classes, got {num_classes}")
    keys = list(range(len(t))) if keys is None else [int(k) for k in keys]
    out = torch.empty_like(t)
    for i, (c, k) in enumerate(zip(t.tolist(), keys)):
        g = torch.Generator().manual_seed(image_seed(seed, k, _STREAM))
        j = int(torch.randint(num_classes - 1, (1,), generator=g))
        out[i] = j + (j >= c)  # skip the target itself
    return out


def _by_peak(maps: Tensor) -> Tensor:
    peak = maps.detach().abs().amax(dim=(-2, -1), keepdim=True)
    return torch.where(peak > 0, maps / torch.where(peak > 0, peak, torch.ones_like(peak)), maps)


def random_logit(
    explain: Explain,
    images: Tensor,
    maps: Tensor,
    targets: Tensor | Sequence[int],
    num_classes: int,
    *,
    seed: int = 0,
    keys: Sequence[int] | None = None,
) -> Tensor:
    """Per-image SSIM between the target's map ``maps`` and the map of a random other class, (B,)."""
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    check_finite(maps)
    off = random_classes(targets, num_classes, seed=seed, keys=keys).to(images.device)
    other = explain(images, off)
    if other.ndim == 4 and other.shape[1] == 1:
        other = other[:, 0]
    return ssim(_by_peak(maps.float()), _by_peak(other.float()))
