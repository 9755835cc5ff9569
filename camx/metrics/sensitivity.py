"""Max- and average-sensitivity (Yeh, Hsieh, Suggala, Inouye & Ravikumar, NeurIPS 2019, "On the
(in)fidelity and sensitivity of explanations"; Quantus ``MaxSensitivity`` / ``AvgSensitivity``).

How much does the map move when the input moves a little? For image x with map Φ(x), S samples
x + δ_s with δ_s ~ U(−r, r) i.i.d. per pixel and channel (on the [0, 1] image, not clipped, as
Quantus's default ``uniform_noise`` with ``lower_bound`` = r), are explained for the same target:

    d_s = ‖Φ(x) − Φ(x + δ_s)‖₂ / ‖Φ(x)‖₂
    max_sensitivity = max_s d_s,    avg_sensitivity = mean_s d_s

(Quantus's defaults: Frobenius norms, no normalisation of the maps, the prediction allowed to
change). Lower is better. Quantus adds the noise to whatever it is given — usually the model's
*normalised* input, where U(−0.2, 0.2) is ≈ U(−0.045, 0.045) in [0, 1] pixels; camx's radius is in
[0, 1] pixels. The noise is drawn per image from a generator seeded by (seed, key, sample), so an
image gets the same samples alone or in any batch (Quantus: the global NumPy generator).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from camx.metrics._maps import check_finite
from camx.metrics.randomisation import Explain
from camx.perturb import _image_seed as image_seed

_STREAM = 13  # the sensitivity noise's stream in camx.perturb's per-image seeds


def sensitivity_noise(
    shape: Sequence[int], radius: float, sample: int, *, seed: int = 0, keys: Sequence[int] | None = None
) -> Tensor:
    """δ ~ U(−radius, radius) of ``shape`` (B, C, H, W) for sample number ``sample``, seeded per image."""
    b = int(shape[0])
    keys = list(range(b)) if keys is None else [int(k) for k in keys]
    out = torch.empty(tuple(shape))
    for i, k in enumerate(keys):
        g = torch.Generator().manual_seed(image_seed(seed, k, _STREAM + 1000 * (sample + 1)))
        out[i] = (torch.rand(tuple(shape[1:]), generator=g) * 2 - 1) * radius
    return out


def sensitivity(
    explain: Explain,
    images: Tensor,
    maps: Tensor,
    targets: Tensor | Sequence[int],
    *,
    samples: int = 10,
    radius: float = 0.05,
    seed: int = 0,
    keys: Sequence[int] | None = None,
) -> tuple[Tensor, Tensor]:
    """(max_sensitivity, avg_sensitivity) per image, each (B,) on the CPU (module docstring).

    A map with ‖Φ(x)‖ = 0 scores NaN (left out of the means). ``explain`` maps [0, 1] images and
    targets to maps; every sample costs one explanation of the batch.
    """
    if int(samples) < 1:
        raise ValueError(f"samples must be ≥ 1, got {samples}")
    check_finite(maps)
    t = torch.as_tensor(targets, dtype=torch.long).reshape(-1).to(images.device)
    a = maps.detach().double().reshape(images.shape[0], -1).cpu()
    norm = a.norm(dim=1)
    d = torch.empty(images.shape[0], int(samples), dtype=torch.float64)
    for s in range(int(samples)):
        delta = sensitivity_noise(images.shape, radius, s, seed=seed, keys=keys)
        other = explain(images + delta.to(device=images.device, dtype=images.dtype), t)
        diff = (a - other.detach().double().reshape(images.shape[0], -1).cpu()).norm(dim=1)
        d[:, s] = torch.where(norm > 0, diff / torch.where(norm > 0, norm, torch.ones_like(norm)), torch.nan)
    return d.max(dim=1).values.float(), d.mean(dim=1).float()
