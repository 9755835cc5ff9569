"""Ablation-CAM: each channel weighted by the drop of the class score when it is zeroed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from camx.cam.base import CamRun, ChannelWeightMethod, safe_divide
from camx.cam.reshape import to_map
from camx.cam.score import _check_top_k, channel_selection, chunk_for


def _channel_positions(run: CamRun, leaf: Tensor) -> Tensor:
    """(C, h·w) flat indices into one image's layer output of each map channel's entries.

    The reshape to a (C, h, w) map (:mod:`camx.cam.reshape`) selects and permutes entries, so
    reshaping the entries' own indices says where each map entry lives in the layer's output.
    """
    index = torch.arange(leaf[0].numel(), dtype=torch.float64, device=leaf.device).view(1, *leaf.shape[1:])
    p = run.forward_pass
    return to_map(index, p.reshape, p.image_hw)[0].flatten(1).round().long()


#: side of the stand-in input fed to the layers before the target layer when their output is replaced anyway
STAND_IN_SIDE = 32


def _stand_in(run: CamRun, leaf: Tensor, current: list[Tensor]) -> Tensor | None:
    """A small (1, 3, s, s) input to feed instead of the images, or None.

    The hook replaces the target layer's output, so when the logits depend on the input *only*
    through that output, what the layers before it compute is thrown away and a small input does
    as well as the image. That is checked, not assumed: with the first image's activation put in by
    the hook behind the small input, the logits must be the first image's. A head that also reads
    an earlier tensor (a residual path around the layer, a ViT's residual stream) fails the check,
    and the real images are used.
    """
    side = max(STAND_IN_SIDE, int(getattr(run.model, "min_side", 1)))
    if min(run.images.shape[-2:]) <= side:
        return None
    small = F.interpolate(run.images[:1], size=(side, side), mode="bilinear", align_corners=False)
    current[:] = [leaf[:1]]
    try:
        logits = run.model(small)
    except (RuntimeError, AssertionError, ValueError):  # e.g. a fixed-size model: use the images
        return None
    ref = run.logits[:1].float()
    tol = 1e-4 * (1.0 + float(ref.abs().max()))
    same = logits.shape == ref.shape and torch.allclose(logits.float(), ref, rtol=1e-4, atol=tol)
    return small if same else None


@torch.inference_mode()
def ablated_logits(run: CamRun, select: Tensor) -> Tensor:
    """y^c of each image with one selected channel of the target layer set to 0, shape (B, C).

    The model runs again with a forward hook that replaces the target layer's output by the ablated
    copy, ``chunk_size`` copies per pass; its input is the image, or a small stand-in where that
    provably gives the same logits (:func:`_stand_in`). Unselected entries, and channels that are
    already zero everywhere (ablating them changes nothing), hold the unablated y^c.
    """
    act, targets = run.activation, run.targets
    leaf = (run.forward_pass.leaf if run.forward_pass.leaf is not None else run.activation).detach()
    base = run.logits.gather(1, targets.view(-1, 1)).float()
    out = base.expand(-1, act.shape[1]).clone()
    live = select & (act.flatten(2).abs().amax(2) > 0)
    b_idx, k_idx = live.nonzero(as_tuple=True)
    if b_idx.numel() == 0:
        return out
    positions = _channel_positions(run, leaf)
    chunk = chunk_for(run.chunk_size, tuple(run.images.shape[-2:]), run.images.device)
    layer = run.probe.layer
    assert layer is not None
    current: list[Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, _o: current[0])
    try:
        small = _stand_in(run, leaf, current)
        for start in range(0, b_idx.numel(), chunk):
            bs, ks = b_idx[start : start + chunk], k_idx[start : start + chunk]
            rows = leaf[bs].flatten(1).clone()
            rows[torch.arange(bs.numel(), device=rows.device).view(-1, 1), positions[ks]] = 0
            current[:] = [rows.view(bs.numel(), *leaf.shape[1:])]
            inputs = run.images[bs] if small is None else small.expand(bs.numel(), -1, -1, -1)
            logits = run.model(inputs)
            out[bs, ks] = logits.gather(1, targets[bs].view(-1, 1)).squeeze(1).float()
    finally:
        handle.remove()
    return out


class AblationCAM(ChannelWeightMethod):
    """Ablation-CAM (Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional
    Network via Gradient-free Localization", WACV 2020, Eq. 3–4): gradient-free.

    w_k^c = (y^c − y_k^c) / y^c,    L^c = ReLU(Σ_k w_k^c A_k),

    with y^c the raw target logit and y_k^c the logit when channel k of the target layer is set to 0
    (the rest of the network unchanged). One forward pass per channel, batched over (image, channel)
    pairs in chunks of ``chunk_size`` (``"auto"``: :func:`camx.cam.score.chunk_for`); channels that
    are zero everywhere get w_k = 0 without a pass. When the logits depend on the input only through
    the target layer (checked on the first image), the layers before it get a 32 px stand-in input,
    since their output is replaced anyway: at the last layer of a CNN that skips nearly all the work.

    pytorch-grad-cam zeroes the channel only when the smallest activation of the batch is 0 and
    otherwise sets it to that minimum − 10⁷; camx always zeroes it, as the paper does (the two agree
    on layers that end in a ReLU). Option ``top_k`` (default None = every channel, as in the paper):
    ablate only the k channels with the largest spatial mean activation, the others get w_k = 0 — a
    speed knob that is not in the paper.
    """

    name = "ablationcam"
    paper = "Desai & Ramaswamy, WACV 2020"
    summary = "each channel weighted by the relative drop of the class score when it is zeroed"
    cost = "1 forward + 1 per channel"

    def __init__(self, *, top_k: int | None = None) -> None:
        self.top_k = _check_top_k("ablationcam", top_k)

    def weights(self, run: CamRun) -> Tensor:
        select = channel_selection(run.activation, self.top_k)
        ablated = ablated_logits(run, select)
        base = run.logits.gather(1, run.targets.view(-1, 1)).float()
        return safe_divide(base - ablated, base.expand_as(ablated))
