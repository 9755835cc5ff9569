"""SS-CAM: Score-CAM with its channel scores averaged over noisy copies of the masks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from camx.cam.base import CamRun, ChannelWeightMethod, image_generators, minmax
from camx.cam.inference import inference_copy, inference_layout
from camx.cam.score import _check_top_k, _forward_probs, channel_selection, chunk_for
from camx.errors import ConfigError, check_range


def mask_noise(images: Tensor, channels: int, n_samples: int, sigma: float, seed: int) -> Tensor:
    """Every δ SS-CAM adds, (n_samples, B, C, H, W), in the order :class:`SSCAM` draws them.

    Image b's noise comes from its own generator (:func:`~camx.cam.base.image_generators`): sample by
    sample, channel by channel, one H×W map each. For tests; the method draws the same values chunk
    by chunk without holding them all.
    """
    gens = image_generators(images, seed)
    size = tuple(images.shape[-2:])
    out = [
        torch.stack([torch.stack([torch.randn(size, generator=g) for _ in range(channels)]) for g in gens])
        for _ in range(n_samples)
    ]
    return (torch.stack(out) * sigma).to(images.dtype)


@torch.inference_mode()
def smoothed_scores(
    run: CamRun, select: Tensor, n_samples: int, sigma: float, seed: int, what: str = "sscam"
) -> Tensor:
    """α_bk = (1/N) Σ_i softmax(f(X_b ⊙ (s(Up(A_bk)) + δ_ibk)))_c for the selected pairs, else 0; (B, C)."""
    images, act, targets = run.images, run.activation, run.targets
    size = (int(images.shape[-2]), int(images.shape[-1]))
    b_idx, k_idx = select.nonzero(as_tuple=True)
    out = torch.zeros(act.shape[:2], dtype=torch.float32, device=act.device)
    if b_idx.numel() == 0:
        return out
    chunk = chunk_for(run.chunk_size, size, images.device)
    model, layout = inference_copy(run.model), inference_layout(images.device)
    gens = image_generators(images, seed)
    total = torch.zeros(b_idx.numel(), dtype=torch.float32, device=act.device)
    for _ in range(n_samples):
        for start in range(0, b_idx.numel(), chunk):
            bs, ks = b_idx[start : start + chunk], k_idx[start : start + chunk]
            up = F.interpolate(act[bs, ks].unsqueeze(1), size=size, mode="bilinear", align_corners=False)
            noise = torch.stack([torch.randn(size, generator=gens[int(b)]) for b in bs]).unsqueeze(1)
            masks = minmax(up) + (noise * sigma).to(device=up.device, dtype=up.dtype)
            masked = (images[bs] * masks.to(images.dtype)).contiguous(memory_format=layout)
            probs = _forward_probs(model, masked, what)
            total[start : start + chunk] += probs.gather(1, targets[bs].view(-1, 1)).squeeze(1)
    out[b_idx, k_idx] = total / n_samples
    return out


class SSCAM(ChannelWeightMethod):
    """SS-CAM (Wang, Naidu, Michael & Kundu, "SS-CAM: Smoothed Score-CAM for Sharper Visual Feature
    Localization", arXiv:2006.14255, 2020), with the noise on the masks (the paper's SS-CAM(1), the
    variant TorchCAM implements):

        α_k^c = (1/N) Σ_{i=1..N} softmax(f(X ⊙ (s(Up(A_k)) + δ_ik)))_c,   δ_ik ~ N(0, σ²) per pixel,
        L^c = ReLU(Σ_k α_k^c A_k),

    with Up bilinear upsampling to the input size, s min–max normalisation and the softmax over the
    classes, as in camx's Score-CAM (σ = 0 gives Score-CAM's map). TorchCAM 0.5 instead scores a
    channel by the softmax over *channels* of the mean raw-logit gain (1/N) Σ_i (y^c(M_ik) − y^c(X)),
    and min–max normalises A_k before upsampling it (docs/METHODS.md).

    Options: ``n_samples`` (N, default 35, TorchCAM's), ``sigma`` (σ, default 2.0, TorchCAM's; the
    masks are in [0, 1]), ``seed`` (default 0: each image's noise is a function of the seed and the
    image, so a map does not depend on its batch), ``top_k`` (default None = every channel; k: only
    the k channels with the largest spatial mean activation, the others weigh 0). Cost: N forward
    passes per scored channel, ``chunk_size`` masked images per pass.
    """

    name = "sscam"
    paper = "Wang et al., arXiv:2006.14255, 2020"
    summary = "Score-CAM with each channel's score averaged over noisy copies of its mask"
    cost = "1 forward + N per channel"

    def __init__(
        self, *, n_samples: int = 35, sigma: float = 2.0, seed: int = 0, top_k: int | None = None
    ) -> None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ConfigError(f"sscam: n_samples={n_samples!r} must be a positive integer")
        self.n_samples = n_samples
        self.sigma = check_range("sscam: sigma", sigma, 0.0)
        self.seed = int(seed)
        self.top_k = _check_top_k("sscam", top_k)

    def weights(self, run: CamRun) -> Tensor:
        select = channel_selection(run.activation, self.top_k)
        return smoothed_scores(run, select, self.n_samples, self.sigma, self.seed)
