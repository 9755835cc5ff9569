"""Noise augmentation of training batches: the noise-trained plain baseline the Sensors 2023 study lacks.

The paper (§3.1, Fig. 3) credits DropKey with its head's confidence under Gaussian noise; a plain head
*trained* with that noise is the obvious baseline it does not show. ``trainer.noise_augment`` adds to every
training image the noise of :func:`camx.perturb.apply` (``kind="noise"``, the same ``space`` reading as
``perturb.noise.space``), at a variance v drawn per image uniformly from ``variance: [low, high]``:

    x' = noise_space(x, v),  v ~ U(low, high),

seeded from (trainer.seed, epoch, step, position in the batch) — the same run draws the same noise,
another epoch fresh noise. ``variance: null`` (the default) leaves the images as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from camx.options.perturb import DEFAULT_NOISE_SPACE
from camx.options.trainer import noise_range
from camx.perturb import apply

_STREAM = 7_919  #: keeps the training noise apart from the evaluation's noise seeds


def variances(seed: int, epoch: int, step: int, n: int, low: float, high: float) -> list[float]:
    """The n per-image variances of one training step, v_i ~ U(low, high), seeded by (seed, epoch, step)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) % 2**32, _STREAM, int(epoch), int(step)]))
    return (low + (high - low) * rng.random(n)).tolist()


def noise_augment(
    images: Tensor,
    t: Mapping[str, Any],
    epoch: int,
    step: int,
    std: Sequence[float] | None = None,
) -> Tensor:
    """A training batch of [0, 1] images with ``trainer.noise_augment``'s noise (unchanged when it is off).

    Image i of step ``step`` gets variance v_i (:func:`variances`) and the noise of
    ``camx.perturb.apply("noise", …, noise_space=space, std=std)`` keyed by (epoch, step, i).
    """
    rng = noise_range(t)
    if rng is None:
        return images
    space = str((t.get("noise_augment") or {}).get("space", DEFAULT_NOISE_SPACE))
    seed = int(t.get("seed", 0))
    n = images.shape[0]
    out = torch.empty_like(images)
    for i, v in enumerate(variances(seed, epoch, step, n, *rng)):
        key = (int(epoch) * 1_000_003 + int(step)) * 4_096 + i
        out[i : i + 1] = apply(
            "noise", images[i : i + 1], v, seed=seed + _STREAM, keys=[key], noise_space=space, std=std
        )[0]
    return out


def augment_batch(batch: Mapping[str, Any], t: Mapping[str, Any], epoch: int, step: int) -> Mapping[str, Any]:
    """``batch`` with its ``image`` noise-augmented (:func:`noise_augment`); the same batch when off."""
    if noise_range(t) is None:
        return batch
    return {**batch, "image": noise_augment(batch["image"], t, epoch, step)}


def head_label(head: str, config: Mapping[str, Any] | None) -> str:
    """The head as records and reports name it: ``plain+noise`` when the run was noise-augmented."""
    t = (config or {}).get("trainer") or {}
    return f"{head}+noise" if (t.get("noise_augment") or {}).get("variance") is not None else head
