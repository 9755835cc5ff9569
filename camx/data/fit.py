"""How an image of any shape becomes the model's input size (``dataset.resize``).

- ``stretch``: resize to the size, changing the aspect ratio (a 2:1 photo is squashed to a square);
- ``crop``: the central region with the size's aspect ratio (for a square size, the centre square of
  side min(H, W)) resized to the size — torchvision's and timm's evaluation transform
  ``Resize(shorter side) + CenterCrop`` at crop fraction 1, with the crop taken before resizing.

Masks get the same region with nearest-neighbour interpolation, so they stay binary and aligned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from camx.errors import check_choice
from camx.options.dataset import RESIZE_MODES


def crop_box(height: int, width: int, hw: tuple[int, int], mode: str) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the region of a ``height``×``width`` image that ``mode`` maps onto
    ``hw``: the whole image for ``stretch``, else the centred region of ``hw``'s aspect ratio."""
    check_choice("dataset.resize", mode, RESIZE_MODES)
    if mode == "stretch":
        return 0, 0, height, width
    scale = max(hw[0] / height, hw[1] / width)  # the shorter side (relative to hw) fills the size
    ch, cw = min(height, max(1, round(hw[0] / scale))), min(width, max(1, round(hw[1] / scale)))
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def fit_tensor(
    t: torch.Tensor, hw: tuple[int, int], mode: str = "stretch", nearest: bool = False
) -> torch.Tensor:
    """A (C, H, W) image (or mask, ``nearest``) brought to ``hw`` by ``mode`` (antialiased bilinear)."""
    top, left, ch, cw = crop_box(int(t.shape[-2]), int(t.shape[-1]), hw, mode)
    t = t[..., top : top + ch, left : left + cw]
    if tuple(t.shape[-2:]) == tuple(hw):
        return t.contiguous()
    if nearest:
        return F.interpolate(t[None].float(), size=hw, mode="nearest")[0].to(t.dtype)
    out = F.interpolate(t[None], size=hw, mode="bilinear", align_corners=False, antialias=True)
    return out[0].clamp_(0.0, 1.0)


def fit_pil(
    img: Image.Image, size: int, mode: str = "stretch", resample: int = Image.BILINEAR
) -> Image.Image:
    """A PIL image brought to ``size``×``size`` by ``mode`` (masks: ``resample=Image.NEAREST``)."""
    top, left, ch, cw = crop_box(img.height, img.width, (size, size), mode)
    return img.crop((left, top, left + cw, top + ch)).resize((size, size), resample)
