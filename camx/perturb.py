"""Real-world disturbances applied to images (and moved onto their ground-truth masks).

Every perturbation acts on a batch of RGB images in [0, 1], shape (B, 3, H, W), *before*
normalisation, and returns images in [0, 1] of the same shape. Ground-truth masks, (B, 1, H, W) or
(B, H, W), travel with the image through the geometric perturbations (:data:`GEOMETRIC`) and come
back unchanged from the others. The disturbances follow Sensors 2023 (DropKey Grad-CAM) §3:

- ``noise`` (§3.1): Gaussian noise ε = √variance · z, z ~ N(0, 1) i.i.d. per pixel and channel. The
  paper's variances are 0.1, 0.5, 1.0, 1.5, 2.0 and its images end "normalized … 0 to 255"; which
  units the variance is in it does not say, so ``noise_space`` (:data:`NOISE_SPACES`) picks a reading:

  - ``pixel``: x' = clip(x + ε, 0, 1), the variance in [0, 1] pixel units;
  - ``normalized``: x' = clip(x + σ_c·ε, 0, 1), the variance in the model's normalised-input units
    ((x − μ_c)/σ_c; σ_c per channel, ImageNet's by default): per-channel pixel std σ_c·√variance;
  - ``minmax``: x' = (y − min y)/(max y − min y), y = x + ε, min and max per image over pixels and
    channels — no clipping, the whole noisy image rescaled to [0, 1] (0 to 255).

  Variance 0 is the identity in every reading.
- ``rotation`` (§3.2, "distortion"): rotation by ``degrees`` about the image centre,
  counter-clockwise for positive degrees (as displayed, rows going down), bilinear.
- ``stretch`` (§3.2, "stretching deformation"): scale by ``factor`` along ``axis`` about the
  centre, then centre-crop (factor > 1) or centre-pad (factor < 1) back to H×W.
- ``contrast`` (§3.3, "low contrast"): x' = m + c·(x − m), m the per-image mean over pixels and
  channels, 0 < c ≤ 1.
- ``small`` (§3.4, "extremely small objects"): the whole image shrunk by ``factor`` in (0, 1]
  (area factor²) and pasted at the centre of a canvas of the image's mean colour.
- ``blur``: Gaussian blur with std ``sigma`` pixels (σ = 0 is the identity). Not in the paper.
- ``jpeg``: JPEG re-encoding at ``quality`` in [1, 100] with PIL. Not in the paper.
- ``none``: identity.
- ImageNet-C's 15 corruptions at severities 1–5 (``fog``, ``gaussian_noise``, …): :mod:`camx.corruptions`.

Decisions:

- Pixels that a geometric perturbation brings in from outside the image are filled with the
  image's per-channel mean colour (so no black corners become a cue); in masks and maps they are 0.
- Resizing (stretch, small) uses bilinear interpolation with antialiasing; the new size is
  ``max(1, round(side · factor))``, so the realised factor is rounded to whole pixels.
- Binary masks (all values 0 or 1; bool masks too) are moved with the same bilinear warp and
  re-thresholded at 0.5, so they stay binary and keep their dtype; soft masks stay soft.
- Noise is seeded per image from (seed, key, step) with :class:`numpy.random.SeedSequence`, where
  ``key`` defaults to the image's position in the batch and should be its dataset index: then an
  image gets the same noise alone or in any batch, and the same seed always gives the same pixels.
  Different noise levels with one seed share the same standard-normal draw, scaled by √variance
  (common random numbers: level-to-level differences are not sampling noise).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from camx.data.transforms import IMAGENET_STD
from camx.errors import ConfigError, check_choice, plural
from camx.options.perturb import AXES, CORRUPTIONS, NOISE_SPACES, validate

#: Kinds that move pixels: masks and maps are warped with the image.
GEOMETRIC: frozenset[str] = frozenset({"rotation", "stretch", "small"})


# ----------------------------------------------------------------------------------------------
# helpers


def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a (B, 3, H, W) tensor in [0, 1], got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a floating-point tensor in [0, 1], got {images.dtype}")


def _as_4d(x: Tensor, h: int, w: int, what: str) -> tuple[Tensor, bool]:
    """(B, H, W) or (B, 1, H, W) → float (B, 1, H, W), and whether a channel axis was added."""
    if x.ndim == 3:
        x4, squeezed = x.unsqueeze(1), True
    elif x.ndim == 4 and x.shape[1] == 1:
        x4, squeezed = x, False
    else:
        raise ValueError(f"{what} must be (B, H, W) or (B, 1, H, W), got {tuple(x.shape)}")
    if x4.shape[-2:] != (h, w):
        raise ValueError(f"{what} are {tuple(x4.shape[-2:])} but the images are {(h, w)}")
    return (x4 if x4.is_floating_point() else x4.float()), squeezed


def _mean_colour(images: Tensor) -> Tensor:
    """Per-image, per-channel mean colour, (B, 3, 1, 1)."""
    return images.mean(dim=(2, 3), keepdim=True)


def _rotate(x: Tensor, degrees: float, fill: Tensor | float) -> Tensor:
    """Rotate (B, C, H, W) by ``degrees`` counter-clockwise (as displayed) about the centre.

    An output pixel at centred pixel coordinates p (x right, y down) samples the input at
    A·p with A = [[cos θ, −sin θ], [sin θ, cos θ]]; in grid_sample's normalised coordinates
    (align_corners=False) that is D⁻¹AD with D = diag(W/2, H/2). Outside pixels take ``fill``.
    """
    b, _, h, w = x.shape
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    theta = torch.tensor([[c, -s * h / w, 0.0], [s * w / h, c, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(b, 2, 3), list(x.shape), align_corners=False)
    out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + fill


def _resize_centre(x: Tensor, new_h: int, new_w: int, fill: Tensor | float) -> Tensor:
    """Resize (B, C, H, W) to new_h×new_w, then centre-crop / centre-pad (with ``fill``) back to H×W."""
    b, ch, h, w = x.shape
    if (new_h, new_w) == (h, w):
        return x.clone()
    resized = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    canvas = torch.zeros_like(x) + fill

    def spans(new: int, out: int) -> tuple[slice, slice]:
        if new >= out:
            start = (new - out) // 2
            return slice(start, start + out), slice(0, out)
        start = (out - new) // 2
        return slice(0, new), slice(start, start + new)

    src_h, dst_h = spans(new_h, h)
    src_w, dst_w = spans(new_w, w)
    canvas[:, :, dst_h, dst_w] = resized[:, :, src_h, src_w]
    return canvas


def _scaled(side: int, factor: float) -> int:
    return max(1, int(round(side * factor)))


def _geometric(kind: str, level: float, x: Tensor, fill: Tensor | float, axis: str) -> Tensor:
    """The geometric part of ``kind`` applied to (B, C, H, W) ``x``; identity for other kinds."""
    h, w = x.shape[-2:]
    if kind == "rotation":
        return x.clone() if level % 360 == 0 else _rotate(x, level, fill)
    if kind == "stretch":
        new_h = _scaled(h, level) if axis in ("vertical", "both") else h
        new_w = _scaled(w, level) if axis in ("horizontal", "both") else w
        return _resize_centre(x, new_h, new_w, fill)
    if kind == "small":
        return _resize_centre(x, _scaled(h, level), _scaled(w, level), fill)
    return x.clone()


def _move_masks(kind: str, level: float, masks: Tensor, h: int, w: int, axis: str) -> Tensor:
    """Warp masks like the images; binary masks are re-thresholded at 0.5 and keep their dtype."""
    m4, squeezed = _as_4d(masks, h, w, "masks")
    binary = bool(((m4 == 0) | (m4 == 1)).all())
    out = _geometric(kind, level, m4, 0.0, axis)
    if binary:
        out = (out >= 0.5).to(m4.dtype)
    if squeezed:
        out = out.squeeze(1)
    return out.to(masks.dtype)


def _image_seed(seed: int, key: int, stream: int) -> int:
    """A 63-bit generator seed from (seed, key, stream), stable across runs and platforms."""
    state = np.random.SeedSequence([int(seed) % 2**64, int(stream), int(key)]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _noise_keys(keys: Sequence[int] | Tensor | None, b: int) -> list[int]:
    keys = range(b) if keys is None else keys
    keys = [int(k) for k in (keys.tolist() if isinstance(keys, Tensor) else keys)]
    if len(keys) != b:
        raise ValueError(
            f"keys has {plural(len(keys), 'entry', 'entries')} but the batch has {plural(b, 'image')}"
        )
    if any(k < 0 for k in keys):
        raise ValueError("keys must be non-negative integers (e.g. dataset indices)")
    return keys


def _noise(
    images: Tensor,
    variance: float,
    seed: int,
    keys: Sequence[int] | Tensor | None,
    stream: int,
    space: str = "pixel",
    std: Sequence[float] | None = None,
) -> Tensor:
    """Gaussian noise of ``variance`` read in ``space`` (module docstring); z is drawn per image."""
    b, c, h, w = images.shape
    keys = _noise_keys(keys, b)
    if variance == 0:
        return images.clone()
    z = torch.empty((b, c, h, w), dtype=torch.float32)
    for i, k in enumerate(keys):
        g = torch.Generator().manual_seed(_image_seed(seed, k, stream))
        z[i] = torch.randn((c, h, w), generator=g)
    eps = math.sqrt(variance) * z.to(device=images.device, dtype=images.dtype)
    if space == "normalized":
        sigma = torch.as_tensor(
            IMAGENET_STD if std is None else std, dtype=images.dtype, device=images.device
        )
        return (images + sigma.view(1, -1, 1, 1) * eps).clamp(0.0, 1.0)
    if space == "minmax":
        y = images + eps
        lo = y.amin(dim=(1, 2, 3), keepdim=True)
        hi = y.amax(dim=(1, 2, 3), keepdim=True)
        return ((y - lo) / (hi - lo).clamp_min(1e-12)).clamp(0.0, 1.0)
    return (images + eps).clamp(0.0, 1.0)


def _gaussian_kernel(sigma: float, radius: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def gaussian_blur(images: Tensor, sigma: float, radius: int | None = None) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W) with std ``sigma`` pixels (σ = 0 → a copy).

    The kernel, exp(−t²/2σ²) normalised to sum 1, has radius ``radius`` (default ⌈3σ⌉), at most
    max(H, W); borders are replicated.
    """
    if sigma <= 0:
        return images.clone()
    b, c, h, w = images.shape
    radius = max(1, math.ceil(3 * sigma)) if radius is None else int(radius)
    radius = min(radius, max(h, w))
    k = _gaussian_kernel(sigma, radius, images.dtype, images.device)
    x = images.reshape(b * c, 1, h, w)
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return x.reshape(b, c, h, w)


def _jpeg(images: Tensor, quality: int) -> Tensor:
    out = torch.empty_like(images)
    u8 = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    for i in range(u8.shape[0]):
        buf = io.BytesIO()
        Image.fromarray(u8[i]).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        arr = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
        out[i] = torch.from_numpy(arr).permute(2, 0, 1).to(device=images.device, dtype=images.dtype)
    return out


def _apply(
    kind: str,
    images: Tensor,
    level: float,
    masks: Tensor | None,
    seed: int,
    keys: Sequence[int] | None,
    axis: str,
    stream: int,
    noise_space: str = "pixel",
    std: Sequence[float] | None = None,
) -> tuple[Tensor, Tensor | None]:
    h, w = images.shape[-2:]
    if kind == "noise":
        out = _noise(images, level, seed, keys, stream, noise_space, std)
    elif kind in GEOMETRIC:
        out = _geometric(kind, level, images, _mean_colour(images), axis).clamp(0.0, 1.0)
    elif kind == "contrast":
        m = images.mean(dim=(1, 2, 3), keepdim=True)
        out = images.clone() if level == 1 else (m + level * (images - m)).clamp(0.0, 1.0)
    elif kind == "blur":
        out = gaussian_blur(images, level)
    elif kind == "jpeg":
        out = _jpeg(images, int(round(level)))
    elif kind in CORRUPTIONS:  # ImageNet-C, through the imagecorruptions package (camx.corruptions)
        from camx.corruptions import corrupt

        out = corrupt(images, kind, level, seed=seed, keys=keys, stream=stream)
    else:  # none
        out = images.clone()
    new_masks = None
    if masks is not None:
        new_masks = _move_masks(kind, level, masks, h, w, axis) if kind in GEOMETRIC else masks.clone()
    return out, new_masks


# ----------------------------------------------------------------------------------------------
# public API


def apply(
    kind: str,
    images: Tensor,
    level: float,
    *,
    masks: Tensor | None = None,
    seed: int = 0,
    keys: Sequence[int] | Tensor | None = None,
    axis: str = "horizontal",
    noise_space: str = "pixel",
    std: Sequence[float] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Apply one perturbation to a batch of [0, 1] images; return (images, masks).

    Args:
        kind: one of :data:`camx.options.perturb.PERTURBATIONS` (definitions in the module docstring).
        images: (B, 3, H, W) float tensor in [0, 1], not normalised.
        level: the perturbation's level (:data:`camx.options.perturb.LEVEL_NAMES`), checked by
            :func:`camx.options.perturb.validate`.
        masks: optional (B, 1, H, W) or (B, H, W) ground truth; geometric kinds move it with the
            image (binary masks stay binary), other kinds return a copy.
        seed: seed of the noise; with ``keys`` it fixes every image's noise.
        keys: one non-negative integer per image (e.g. dataset indices); default ``range(B)``.
        axis: for ``stretch``: "horizontal" (default), "vertical" or "both".
        noise_space: for ``noise``: the units of the variance, "pixel" (default), "normalized" or
            "minmax" (module docstring).
        std: for ``noise_space="normalized"``: the model's per-channel input std σ_c (default
            ImageNet's, :data:`camx.data.transforms.IMAGENET_STD`).

    Returns:
        The perturbed images (same shape and dtype, in [0, 1]) and the masks (None if none given).
    """
    if not isinstance(kind, str) or not isinstance(images, Tensor):
        raise ConfigError(
            f"apply(kind, images, level) got a {type(kind).__name__} and a {type(images).__name__}; "
            "pass the perturbation's name first, e.g. apply('rotation', x, 15)"
        )
    level = validate(kind, level)
    check_choice("stretch axis", axis, AXES)
    check_choice("noise space", noise_space, NOISE_SPACES)
    _check_images(images)
    with torch.no_grad():
        return _apply(kind, images, level, masks, seed, keys, axis, 0, noise_space, std)


def apply_chain(
    steps: Sequence[tuple[str, float]],
    images: Tensor,
    *,
    masks: Tensor | None = None,
    seed: int = 0,
    keys: Sequence[int] | Tensor | None = None,
    axis: str = "horizontal",
    noise_space: str = "pixel",
    std: Sequence[float] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Compose several perturbations in order, e.g. ``[("small", 0.5), ("noise", 0.1)]``.

    Every step is validated before any work. Step j's noise is drawn from stream j, so two noise
    steps are independent, and a one-step chain equals :func:`apply`.
    """
    steps = [(k, validate(k, lv)) for k, lv in steps]
    check_choice("stretch axis", axis, AXES)
    check_choice("noise space", noise_space, NOISE_SPACES)
    _check_images(images)
    out, out_masks = images, masks
    with torch.no_grad():
        for j, (kind, level) in enumerate(steps):
            out, out_masks = _apply(kind, out, level, out_masks, seed, keys, axis, j, noise_space, std)
    if not steps:
        out, out_masks = images.clone(), None if masks is None else masks.clone()
    return out, out_masks


def warp_like(kind: str, level: float, maps: Tensor, *, axis: str = "horizontal") -> Tensor:
    """Apply only the geometric part of a perturbation to maps (B, H, W) or (B, 1, H, W).

    Lets a clean-image map be compared with the perturbed image's map in the same frame. Uses the
    same bilinear warp as the images, fills outside pixels with 0 and never thresholds; returns a
    copy for non-geometric kinds.
    """
    level = validate(kind, level)
    check_choice("stretch axis", axis, AXES)
    if kind not in GEOMETRIC:
        return maps.clone()
    m4, squeezed = _as_4d(maps, maps.shape[-2], maps.shape[-1], "maps")
    with torch.no_grad():
        out = _geometric(kind, level, m4, 0.0, axis)
    return out.squeeze(1) if squeezed else out


def warp_chain(steps: Sequence[tuple[str, float]], maps: Tensor, *, axis: str = "horizontal") -> Tensor:
    """:func:`warp_like` for every step of a chain, in order."""
    steps = [(k, validate(k, lv)) for k, lv in steps]
    out = maps.clone()
    for kind, level in steps:
        out = warp_like(kind, level, out, axis=axis)
    return out


__all__ = [
    "GEOMETRIC",
    "apply",
    "apply_chain",
    "gaussian_blur",
    "warp_chain",
    "warp_like",
]
