"""Deletion and insertion AUCs (Petsiuk et al., BMVC 2018, "RISE", §4.1), for one map per image or for
several maps of the same images at once (every method's, as ``camx eval`` scores them).

``forward``, maps and targets are as in :mod:`camx.metrics.faithfulness`. The work is the forwards of the
perturbed copies; this module does as few of them as the definition allows, without changing a number
beyond float rounding: the curves' ends that do not depend on the map (p_c(x), p_c(black), p_c(canvas))
are forwarded once per image — or given — and shared by every map; only the 2·(S − 1) interior steps
are forwarded per map, in chunks of ``chunk_size`` copies that mix deletion and insertion, images and
maps; and a copy two maps give alike (the same top pixels at a step, e.g. where two methods agree) is
forwarded once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from camx.errors import check_choice
from camx.metrics.faithfulness import Forward, _maps_like, _probs_of, _target_probs, _targets
from camx.perturb import gaussian_blur

SUBSTRATES: tuple[str, ...] = ("blur", "black", "mean")
# RISE's insertion substrate: a Gaussian blur with kernel size 11 and sigma 5.
_RISE_BLUR_SIGMA = 5.0
_RISE_BLUR_RADIUS = 5


def _substrate(images: Tensor, substrate: str) -> Tensor:
    if substrate == "black":
        return torch.zeros_like(images)
    if substrate == "mean":
        return images.mean(dim=(2, 3), keepdim=True).expand_as(images).clone()
    # RISE: a Gaussian blur with kernel size 11 (radius 5) and sigma 5 on every channel.
    return gaussian_blur(images, _RISE_BLUR_SIGMA, radius=_RISE_BLUR_RADIUS)


def deletion_insertion_ends(
    forward: Forward,
    images: Tensor,
    targets: Tensor | Sequence[int],
    substrate: str = "blur",
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """(p_c(black), p_c(canvas)), each (B,) on the CPU: the points of the deletion and insertion curves that
    do not depend on the map, so one evaluation serves every method's maps of the same images (pass it as
    :func:`deletion_insertion_auc`'s ``ends``). The all-black image is the same for every image: it is
    forwarded once; with ``substrate="black"`` the canvas is that image too."""
    check_choice("substrate", substrate, SUBSTRATES)
    b = images.shape[0]
    t = _targets(targets, b, images.device)
    with torch.no_grad():
        p = forward(torch.zeros_like(images[:1]))
    black = p[0].float().cpu()[t.cpu()]
    if substrate == "black":
        return black, black.clone()
    return black, _probs_of(forward, _substrate(images, substrate), t, chunk_size)


def deletion_insertion_auc(
    forward: Forward,
    images: Tensor,
    maps: Tensor,
    targets: Tensor | Sequence[int],
    steps: int = 16,
    chunk_size: int = 64,
    substrate: str = "blur",
    *,
    base_probs: Tensor | None = None,
    ends: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Deletion and insertion AUCs (Petsiuk et al., BMVC 2018, "RISE", §4.1).

    Pixels are ranked by the map, highest first (ties: row-major order). For k = 0 … ``steps`` the
    top n_k = round(k/steps · H·W) pixels are
      - deletion: replaced by black (0) in the image, so the curve starts at p_c(x) and ends at
        p_c(black);
      - insertion: copied from the image onto a start canvas, so the curve starts at
        p_c(canvas) and ends at p_c(x). The canvas is ``substrate``: "blur" (RISE's choice: the
        image blurred by a Gaussian with kernel 11 and σ = 5), "black" or "mean" (the image's mean
        colour).
    The AUC is the trapezoid mean of p_c over the fractions in [0, 1]:
        AUC = (p_0/2 + p_1 + … + p_{S−1} + p_S/2) / S.
    Lower deletion and higher insertion are better. RISE's reference code zeroes the *normalised*
    tensor for deletion, which is the dataset-mean colour; camx deletes to true black (0 in [0, 1]
    space), independent of the normalisation inside ``forward``.

    The ends of both curves do not depend on the map: p_c(x) (``base_probs``: (B,) for the target class
    or (B, K), e.g. the prediction's own) and p_c(black), p_c(canvas) (``ends``, from
    :func:`deletion_insertion_ends`); what is not given is computed with ``forward``. The 2·(S − 1)·B
    interior copies go through ``forward`` in chunks of ``chunk_size``, built chunk by chunk so memory
    stays at one chunk. :func:`deletion_insertion_many` scores several maps of the same images together.

    Returns:
        (deletion, insertion), each a (B,) float tensor on the CPU.
    """
    return deletion_insertion_many(
        forward, images, [maps], targets, steps, chunk_size, substrate, base_probs=base_probs, ends=ends
    )[0]


def deletion_insertion_many(
    forward: Forward,
    images: Tensor,
    maps: Sequence[Tensor],
    targets: Tensor | Sequence[int],
    steps: int = 16,
    chunk_size: int = 64,
    substrate: str = "blur",
    *,
    base_probs: Tensor | None = None,
    ends: tuple[Tensor, Tensor] | None = None,
) -> list[tuple[Tensor, Tensor]]:
    """:func:`deletion_insertion_auc` of each of several maps of the same images (e.g. every method's):
    the same numbers up to float rounding, fewer forwards. The ends are computed once for all maps; the
    interior copies of every map share the chunks; a copy that two maps give alike (the same set of top
    pixels of the same image at the same step) is forwarded once.

    Returns:
        one (deletion, insertion) pair of (B,) CPU tensors per map, in order.
    """
    check_choice("substrate", substrate, SUBSTRATES)
    if int(steps) < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size}")
    steps, chunk_size = int(steps), int(chunk_size)
    if not maps:
        return []
    b, _, h, w = images.shape
    t = _targets(targets, b, images.device)
    ranks = torch.stack([_pixel_ranks(_maps_like(m, images).reshape(b, h * w)) for m in maps])
    counts = torch.tensor([round(k * h * w / steps) for k in range(1, steps)], device=images.device)
    y = (
        _probs_of(forward, images, t, chunk_size)
        if base_probs is None
        else _target_probs(base_probs, t, "base_probs")
    )
    black, start = (
        deletion_insertion_ends(forward, images, t, substrate, chunk_size) if ends is None else ends
    )
    black, start = _target_probs(black, t, "ends"), _target_probs(start, t, "ends")
    reps, inverse = _distinct_steps(ranks, counts)
    canvas = None if substrate == "black" else _substrate(images, substrate)
    probs = _forward_steps(forward, images, canvas, ranks, counts, reps, t, chunk_size)
    out = []
    for j in range(len(maps)):
        dele, ins = probs[0][inverse[j]], probs[1][inverse[j]]  # (B, S − 1) each
        dele = torch.cat([y[:, None], dele, black[:, None]], dim=1)
        ins = torch.cat([start[:, None], ins, y[:, None]], dim=1)
        out.append((_trapezoid_auc(dele), _trapezoid_auc(ins)))
    return out


def _pixel_ranks(m: Tensor) -> Tensor:
    """(B, N) rank of every pixel of each flattened map, 0 for the highest (ties: row-major order)."""
    b, n = m.shape
    order = torch.argsort(m, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n, device=m.device).expand(b, n))
    return rank


def _distinct_steps(ranks: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
    """The distinct perturbations among every (map j, image i, step k): ``reps`` (U, 3), one (j, i, k) per
    distinct set of top-``counts[k]`` pixels of image i, and ``inverse`` (M, B, K), each one's row of reps."""
    m, b, _ = ranks.shape
    k = len(counts)
    reps: list[tuple[int, int, int]] = []
    inverse = np.empty((m, b, k), dtype=np.int64)
    for i in range(b):
        top = (ranks[:, i, None, :] < counts[None, :, None]).cpu().numpy()  # (M, K, N)
        packed = np.packbits(top, axis=-1)
        seen: dict[tuple[int, bytes], int] = {}
        for j in range(m):
            for kk in range(k):
                u = seen.setdefault((kk, packed[j, kk].tobytes()), len(reps))
                if u == len(reps):
                    reps.append((j, i, kk))
                inverse[j, i, kk] = u
    return torch.tensor(reps, dtype=torch.long).reshape(-1, 3), torch.from_numpy(inverse)


def _forward_steps(
    forward: Forward,
    images: Tensor,
    canvas: Tensor | None,
    ranks: Tensor,
    counts: Tensor,
    reps: Tensor,
    t: Tensor,
    chunk_size: int,
) -> tuple[Tensor, Tensor]:
    """(deletion, insertion) p_c of each distinct perturbation (j, i, k) of ``reps``, each (U,): the top
    ``counts[k]`` pixels of map j in image i replaced by black, and copied onto ``canvas`` (None: black).
    The 2·U copies are built and forwarded ``chunk_size`` at a time."""
    _, _, h, w = images.shape
    u = reps.shape[0]
    reps = reps.to(images.device)
    probs = torch.empty(2 * u)
    with torch.no_grad():
        for s in range(0, 2 * u, chunk_size):
            job = torch.arange(s, min(s + chunk_size, 2 * u), device=images.device)
            curve = (job // max(u, 1))[:, None, None, None]
            jj, ii, kk = reps[job % u].unbind(1)
            top = (ranks[jj, ii] < counts[kk][:, None]).reshape(-1, 1, h, w)
            # deletion (curve 0) keeps the image off the top pixels, insertion (curve 1) on them
            use = top == (curve == 1)
            rest = images.new_zeros(()) if canvas is None else torch.where(curve == 0, 0.0, canvas[ii])
            p = forward(torch.where(use, images[ii], rest))
            probs[s : s + len(job)] = p.gather(1, t[ii][:, None].to(p.device)).squeeze(1).float().cpu()
    return probs[:u], probs[u:]


def _trapezoid_auc(p: Tensor) -> Tensor:
    """Trapezoid mean of each row of ``p`` over S equal steps: (p_0/2 + p_1 + … + p_{S−1} + p_S/2) / S."""
    steps = p.shape[1] - 1
    return (p.sum(dim=1) - p[:, 0] / 2 - p[:, -1] / 2) / steps
