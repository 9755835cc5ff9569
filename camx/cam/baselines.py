"""Reference maps that explain nothing: seeded uniform noise and a centred Gaussian.

Metrics are only meaningful next to such baselines: a saliency metric that a random map or a
centre prior scores well on measures the dataset, not the explanation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from camx.cam.base import CamMethod, CamRun, image_generators
from camx.errors import check_range


class RandomMap(CamMethod):
    """Uniform noise baseline: L(i,j) ~ U(0, 1) i.i.d. at the target layer's resolution (h × w).

    Drawn from a generator seeded by option ``seed`` (default 0) and the image's bytes, so the map
    is deterministic for a seed, differs between images, and does not depend on the batch. Like
    every map it is then resized to the requested size (bilinear), so its grain matches a CAM's.
    """

    name = "random"
    paper = "baseline"
    summary = "uniform noise: the floor every method must beat"
    cost = "none"
    relu = False
    baseline = True

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = int(seed)

    def compute(self, run: CamRun) -> Tensor:
        h, w = run.activation.shape[-2:]
        gens = image_generators(run.images, self.seed)
        maps = torch.stack([torch.rand((h, w), generator=g) for g in gens])
        return maps.to(run.activation.device)


class CenterMap(CamMethod):
    """Centre-prior baseline: an isotropic Gaussian centred on the image, the same for every image.

    L(y, x) = exp(−((y − y₀)² + (x − x₀)²) / (2σ²)) on the output grid (pixel centres), with
    σ = ``sigma`` · min(H, W) (option ``sigma``, default 0.25). Computed directly at the output
    size, so it stays a Gaussian even when the feature map is 1×1 or 2×2.
    """

    name = "center"
    paper = "baseline"
    summary = "a centred Gaussian: the centre-bias baseline"
    cost = "none"
    relu = False
    baseline = True

    def __init__(self, *, sigma: float = 0.25) -> None:
        self.sigma = check_range("center: sigma", sigma, 0.0, low_inclusive=False)

    def compute(self, run: CamRun) -> Tensor:
        h, w = run.out_size
        device = run.activation.device
        ys = torch.arange(h, dtype=torch.float32, device=device) + 0.5 - h / 2
        xs = torch.arange(w, dtype=torch.float32, device=device) + 0.5 - w / 2
        s = self.sigma * min(h, w)
        g = torch.exp(-(ys.view(-1, 1) ** 2 + xs.view(1, -1) ** 2) / (2 * s * s))
        return g.expand(run.activation.shape[0], h, w).clone()
