"""Reading real-world image files robustly.

Users point camx at folders of photos, scans and screenshots. This module turns
those inputs into RGB images (or float tensors) and never lets one bad file stop
a run: :func:`~camx.data.inputs.collect_images` and :func:`load_images` return
the usable files together with an :class:`~camx.data.inputs.ImageFailure` per
unusable one, so the caller can report every problem once at the end.
:func:`load_image` handles one file and raises :class:`~camx.errors.DataError`
with a one-line message. Expanding the inputs into paths (``collect_images``,
``IMAGE_EXTENSIONS``, ``ImageFailure``) is torch-free in :mod:`camx.data.inputs`.

Decisions:

* Files are opened by content, not by extension (a PNG named ``.jpg`` loads).
* Transparency (RGBA, LA, PA, palette or colour-key transparency) is
  composited onto a **white** background, the way viewers show such images.
  Dropping the alpha channel instead would expose whatever colour the encoder
  left in fully transparent pixels (often black), which changes the prediction.
* 16-bit greyscale is scaled with ``v / 257`` (65535 → 255). 32-bit integer
  (``I``) and float (``F``) images are scaled by their value range: ``I`` values
  within [0, 255] are kept, within [0, 65535] are treated as 16-bit, anything
  else is stretched min–max; ``F`` values within [0, 1] are multiplied by 255,
  within [0, 255] are kept, anything else is stretched min–max (NaN/inf → 0).
* Multi-frame files (GIF, TIFF, WebP) give their first frame.
* The EXIF Orientation tag is honoured.
* The pixel count is checked from the header before any decoding
  (decompression-bomb guard); images smaller than :data:`MIN_SIDE` on a side
  are refused.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from camx.data.fit import fit_tensor
from camx.data.inputs import ImageFailure
from camx.errors import ConfigError, DataError

__all__ = [
    "MAX_PIXELS",
    "MIN_SIDE",
    "ImageReadError",
    "load_image",
    "load_image_tensor",
    "load_images",
]

MAX_PIXELS: int = 64_000_000
"""Default decompression-bomb guard: images with more pixels than this are refused."""

MIN_SIDE: int = 8
"""Smallest accepted width and height in pixels."""

_ORIENTATION_TAG = 0x0112
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_KEYED_TRANSPARENCY_MODES = ("1", "L", "P", "RGB")
# Everything that can go wrong while Pillow parses or decodes a broken file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, MemoryError)


class ImageReadError(DataError):
    """A single image file cannot be used. The message is ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# --------------------------------------------------------------------------- decoding


def _short(exc: BaseException) -> str:
    """First line of an exception message, trimmed, for use inside a one-line reason."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _bomb_reason(pixels: int | str, limit: int) -> str:
    return (
        f"image has {pixels} pixels, more than the limit {limit} (decompression-bomb guard); "
        "raise max_pixels if you trust it"
    )


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _scale_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Map the values of a single-channel ``I;16*``, ``I`` or ``F`` image to uint8 (see module docs)."""
    a = arr.astype(np.float64)
    finite = np.isfinite(a)
    a = np.where(finite, a, 0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode.startswith("I;16"):
        scaled = a / 257.0
    elif mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = a * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        scaled = a
    elif mode != "F" and lo >= 0.0 and hi <= 65535.0:
        scaled = a / 257.0
    elif hi > lo:
        scaled = (a - lo) / (hi - lo) * 255.0
    else:
        scaled = np.zeros_like(a)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_rgb(img: Image.Image, path: str | Path) -> Image.Image:
    """Convert a loaded image of any Pillow mode to RGB (transparency composited on white)."""
    mode = img.mode
    if mode in _KEYED_TRANSPARENCY_MODES and "transparency" in img.info:
        return _composite_on_white(img)
    if mode in _ALPHA_MODES:
        return _composite_on_white(img)
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img)
        if arr.ndim != 2:
            raise ImageReadError(
                path, f"unsupported image layout for mode {mode!r}; convert it to 8-bit RGB first"
            )
        return Image.fromarray(_scale_to_uint8(arr, mode), mode="L").convert("RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageReadError(
            path, f"unsupported colour mode {mode!r} ({_short(exc)}); convert it to RGB first"
        ) from None


def _apply_exif_orientation(img: Image.Image) -> Image.Image:
    """Honour the EXIF Orientation tag; a malformed EXIF block is ignored rather than fatal."""
    try:
        orientation = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # malformed EXIF must not make a readable image unusable
        return img
    if orientation in (None, 1):
        return img
    try:
        transposed = ImageOps.exif_transpose(img)
    except Exception:
        return img
    return transposed if transposed is not None else img


def load_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Read one image file as an RGB PIL image.

    The format is detected from the content. The header size is checked before any
    pixel data is decoded: images with more than ``max_pixels`` pixels or with a side
    shorter than :data:`MIN_SIDE` are refused. Multi-frame files give their first
    frame, EXIF orientation is applied, and every Pillow mode is converted to RGB
    (transparency composited on white; 16/32-bit and float images scaled to 8 bit —
    see the module docstring).

    Raises:
        ImageReadError: (a :class:`~camx.errors.DataError`) with a one-line message
            ``"<path>: <reason>"`` for a missing path, a folder, a non-image, a corrupt
            or truncated file, a too small or too large image, or an unsupported mode.
    """
    p = Path(path)
    if max_pixels <= 0:
        raise ConfigError(
            f"max_pixels={max_pixels!r} is out of range; it must be a positive number of pixels"
        )
    if not p.exists():
        raise ImageReadError(path, "no such file or directory; check the path")
    if p.is_dir():
        raise ImageReadError(path, "is a folder, not an image file; pass the image files inside it instead")
    with _open_image(p, path, max_pixels) as im:
        width, height = im.size
        if width * height > max_pixels:
            raise ImageReadError(path, _bomb_reason(width * height, max_pixels))
        if width < MIN_SIDE or height < MIN_SIDE:
            raise ImageReadError(
                path, f"image is {width}×{height} px; camx needs at least {MIN_SIDE} px per side"
            )
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            out = _to_rgb(_apply_exif_orientation(im), path)
        except ImageReadError:
            raise
        except _DECODE_ERRORS as exc:
            raise ImageReadError(
                path, f"corrupt or truncated image ({_short(exc)}); re-export or re-download it"
            ) from None
        # Closing `im` frees its pixel buffer, so never hand it out directly.
        return im.copy() if out is im else out


def _open_image(p: Path, path: str | Path, max_pixels: int) -> Image.Image:
    """``Image.open`` (the header only), every failure an ImageReadError naming ``path``.

    Pillow runs its own bomb check in Image.open (warning above MAX_IMAGE_PIXELS, error above twice
    that). Ours is the one that counts: when max_pixels is within Pillow's limit its warning is
    turned into an error (any such image is over our limit too); when the caller raised max_pixels
    above Pillow's limit, the warning is silenced.
    """
    pil_limit = Image.MAX_IMAGE_PIXELS
    bomb_action = "error" if pil_limit is None or max_pixels <= pil_limit else "ignore"
    with warnings.catch_warnings():
        warnings.simplefilter(bomb_action, Image.DecompressionBombWarning)
        try:
            return Image.open(p)
        except UnidentifiedImageError:
            raise ImageReadError(
                path,
                "not an image (cannot identify image file); check that it is a JPEG, PNG, BMP, GIF, TIFF or WebP",
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            m = re.search(r"\((\d+) pixels\)", str(exc))
            pixels = m.group(1) if m else "too many"
            limit = max_pixels if pil_limit is None else min(max_pixels, 2 * pil_limit)
            reason = _bomb_reason(pixels, limit)
            if pil_limit is not None and max_pixels > 2 * pil_limit:
                reason += " and PIL.Image.MAX_IMAGE_PIXELS"
            raise ImageReadError(path, reason) from None
        except PermissionError:
            raise ImageReadError(path, "permission denied; check the file's permissions") from None
        except _DECODE_ERRORS as exc:
            raise ImageReadError(
                path, f"corrupt or truncated image ({_short(exc)}); re-export or re-download it"
            ) from None


def _normalize_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        hw = (size, size)
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        hw = (int(size[0]), int(size[1]))
    else:
        raise ConfigError(f"size={size!r} is not valid; give an int or a (height, width) pair of ints")
    if min(hw) <= 0:
        raise ConfigError(f"size={size!r} is out of range; height and width must be positive")
    return hw


def _pil_to_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.array(img, dtype=np.uint8, copy=True)  # (H, W, 3), writable
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(torch.float32).div_(255.0)


def load_image_tensor(
    path: str | Path,
    size: int | tuple[int, int] | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
    resize: str = "stretch",
) -> torch.Tensor:
    """Read an image as a float32 ``(3, H, W)`` tensor in [0, 1].

    Args:
        path: the image file.
        size: resize to this size with antialiased bilinear interpolation; an int gives a
            square, a pair is ``(height, width)``; ``None`` keeps the file's size.
        max_pixels: decompression-bomb guard, see :func:`load_image`.
        resize: ``stretch`` or ``crop`` (the centre region of the size's aspect ratio,
            :mod:`camx.data.fit`).

    Raises:
        ImageReadError: see :func:`load_image`.
        ConfigError: ``size`` is not a positive int or pair of ints.
    """
    hw = _normalize_size(size)
    t = _pil_to_tensor(load_image(path, max_pixels=max_pixels))
    return t if hw is None else fit_tensor(t, hw, resize)


def load_images(
    paths: Sequence[Path],
    size: int | tuple[int, int] | None,
    *,
    max_pixels: int = MAX_PIXELS,
    resize: str = "stretch",
) -> tuple[list[Path], torch.Tensor | None, list[ImageFailure]]:
    """Read many images, keeping the readable ones.

    Args:
        paths: image files, e.g. from :func:`camx.data.inputs.collect_images`.
        size: as in :func:`load_image_tensor`. With ``None`` every image must have the
            size of the first readable one; the others are reported as failures.
        max_pixels: decompression-bomb guard, see :func:`load_image`.
        resize: as in :func:`load_image_tensor`.

    Returns:
        ``(loaded_paths, batch, failures)``: the paths that loaded, their images stacked
        as a float32 ``(N, 3, H, W)`` tensor in [0, 1] (``None`` if none loaded), and an
        :class:`ImageFailure` for every path that did not.

    Raises:
        ConfigError: ``size`` is invalid (checked before any file is read).
    """
    hw = _normalize_size(size)
    loaded: list[Path] = []
    tensors: list[torch.Tensor] = []
    failures: list[ImageFailure] = []
    for p in paths:
        try:
            t = load_image_tensor(p, hw, max_pixels=max_pixels, resize=resize)
        except ImageReadError as exc:
            failures.append(ImageFailure(str(p), exc.reason))
            continue
        if tensors and t.shape != tensors[0].shape:
            h, w = t.shape[-2:]
            h0, w0 = tensors[0].shape[-2:]
            failures.append(
                ImageFailure(
                    str(p), f"image is {w}×{h} px but the first image is {w0}×{h0} px; pass a size to resize"
                )
            )
            continue
        loaded.append(Path(p))
        tensors.append(t)
    batch = torch.stack(tensors) if tensors else None
    return loaded, batch, failures
