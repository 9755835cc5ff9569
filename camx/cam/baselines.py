"""Reference maps that explain nothing: seeded uniform noise, a centred Gaussian and the image's edges.

Metrics are only meaningful next to such baselines: a saliency metric that a random map or a
centre prior scores well on measures the dataset, not the explanation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from camx.cam.base import CamMethod, CamRun, image_generators
from camx.cam.protocol import input_stats
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


class SobelMap(CamMethod):
    """Edge baseline: the Sobel gradient magnitude of the image's luminance — the edge detector that
    Adebayo et al. ("Sanity Checks for Saliency Maps", NeurIPS 2018, §3) show many saliency maps
    resemble; pytorch-grad-cam's ``sobel_cam``.

    Y = 0.299 R + 0.587 G + 0.114 B of the image in [0, 1] (the normalisation undone with the model's
    mean and std, :func:`camx.cam.protocol.input_stats`); G_x, G_y the 3 × 3 Sobel derivatives with
    reflected borders (OpenCV's default, BORDER_REFLECT_101); L = (|G_x| + |G_y|) / 2 at the input's
    resolution. pytorch-grad-cam computes the same on uint8 images and saturates |G| at 255;
    camx keeps floats. It ignores the model, so it must fail the randomisation sanity check.
    """

    name = "sobel"
    paper = "baseline"
    summary = "edges of the image (Sobel magnitude): the edge-detector baseline"
    cost = "none"
    relu = False
    baseline = True

    def compute(self, run: CamRun) -> Tensor:
        mean, std = input_stats(run.model)
        x = run.images.float()
        m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        rgb = x * s + m
        luma = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        y = F.pad((rgb * luma).sum(1, keepdim=True), (1, 1, 1, 1), mode="reflect")
        d = torch.tensor(
            [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device
        )
        gx = F.conv2d(y, d.view(1, 1, 3, 3))
        gy = F.conv2d(y, d.t().contiguous().view(1, 1, 3, 3))
        return ((gx.abs() + gy.abs()) / 2)[:, 0]
