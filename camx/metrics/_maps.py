"""The one check every map metric makes on its maps: every value is finite."""

from __future__ import annotations

import torch
from torch import Tensor


def check_finite(maps: Tensor) -> None:
    """Raise ValueError if any map holds NaN or ±inf (no metric of such a map is defined).

    Without it a NaN pixel wins the pointing game's argmax (a silent hit), zeroes the energy
    pointing game and ranks first for deletion; one clear error instead.
    """
    bad = ~torch.isfinite(maps.detach()).reshape(maps.shape[0], -1).all(dim=1)
    if bool(bad.any()):
        first = int(bad.nonzero()[0])
        raise ValueError(
            f"maps contain NaN or infinite values ({int(bad.sum())} of {maps.shape[0]} maps, first "
            f"image {first}): no metric of such a map is defined — check the method's output"
        )
