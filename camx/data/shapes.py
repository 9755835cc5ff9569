"""``shapes``: the embedded benchmark. Procedural, deterministic, nothing to download.

Each sample is one object of a known class (circle, square, triangle, star, cross, ring, crescent,
arrow, …) with a random colour, size, position and rotation, composited on a cluttered, textured
background with distractor strokes that belong to no class. Every sample carries the object's
ground-truth mask, so localisation metrics (pointing game, IoU) can be scored exactly.

Sample ``i`` of a split is drawn from ``numpy.random.SeedSequence([seed, split, epoch, i])``:
the same arguments always give the same pixels; different splits never share a stream, so
train/val/test are disjoint; and with ``fresh_every_epoch`` the train split draws new samples each
epoch (call :meth:`ShapesDataset.set_epoch`), which is what lets a ResNet50 learn it from scratch
without overfitting.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from torch.utils.data import Dataset

from camx.options.dataset import CLASS_NAMES, ShapesSpec, check_shapes_classes

SPLITS = {"train": 0, "val": 1, "test": 2}
_SUPERSAMPLE = 2


def _polygon(kind: str, n: int = 40) -> list[np.ndarray]:
    """Unit-radius outlines of a class: a list of (N, 2) polygons; the first fills, the rest cut holes."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    disc = np.stack([np.cos(t), np.sin(t)], 1)
    if kind == "circle":
        return [disc]
    if kind == "square":
        return [np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8]
    if kind == "triangle":
        a = np.deg2rad([90, 210, 330])
        return [np.stack([np.cos(a), np.sin(a)], 1)]
    if kind == "star":
        a = np.deg2rad(np.arange(10) * 36 + 90)
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return [np.stack([r * np.cos(a), r * np.sin(a)], 1)]
    if kind == "cross":
        w = 0.32
        return [
            np.array(
                [
                    [-w, -1],
                    [w, -1],
                    [w, -w],
                    [1, -w],
                    [1, w],
                    [w, w],
                    [w, 1],
                    [-w, 1],
                    [-w, w],
                    [-1, w],
                    [-1, -w],
                    [-w, -w],
                ],
                float,
            )
        ]
    if kind == "ring":
        return [disc, disc * 0.55]
    if kind == "crescent":
        return [disc, disc * 0.85 + np.array([0.45, 0.0])]
    if kind == "arrow":
        return [
            np.array(
                [[-1, -0.22], [0.15, -0.22], [0.15, -0.6], [1, 0], [0.15, 0.6], [0.15, 0.22], [-1, 0.22]],
                float,
            )
        ]
    if kind == "hexagon_hollow":
        a = np.deg2rad(np.arange(6) * 60)
        h = np.stack([np.cos(a), np.sin(a)], 1)
        return [h, h * 0.6]
    if kind == "lshape":
        return [np.array([[-0.8, -1], [-0.2, -1], [-0.2, 0.4], [0.8, 0.4], [0.8, 1], [-0.8, 1]], float)]
    raise KeyError(kind)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _background(rng: np.random.Generator, size: int, texture: float) -> np.ndarray:
    """A smooth random colour field plus mid-frequency texture, (H, W, 3) in [0, 1]."""
    coarse = rng.uniform(0.1, 0.9, (3, 3, 3)).astype(np.float32)
    img = (
        np.asarray(
            Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC), np.float32
        )
        / 255.0
    )
    cells = int(rng.integers(6, 16))
    tex = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    tex_img = Image.fromarray(((tex - tex.min()) / (np.ptp(tex) + 1e-6) * 255).astype(np.uint8))
    tex = np.asarray(tex_img.resize((size, size), Image.BILINEAR), np.float32) / 255.0 - 0.5
    img = img + texture * tex[..., None] * rng.uniform(0.5, 1.0, 3).astype(np.float32)
    return np.clip(img, 0.0, 1.0)


def _distractors(rng: np.random.Generator, img: np.ndarray, count: int) -> np.ndarray:
    """Strokes and scribbles that belong to no class, drawn over the background."""
    size = img.shape[0]
    canvas = Image.fromarray((img * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(0, count + 1))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        width = int(rng.integers(1, max(2, size // 32) + 1))
        if rng.random() < 0.5:
            x0, y0, x1, y1 = rng.uniform(0, size, 4)
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=width)
        else:
            pts = np.cumsum(rng.normal(0, size / 10, (int(rng.integers(3, 6)), 2)), 0) + rng.uniform(
                0, size, 2
            )
            draw.line([tuple(p) for p in pts], fill=colour, width=width)
    return np.asarray(canvas, np.float32) / 255.0


def render_sample(spec: ShapesSpec, label: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw one sample of class ``label``: returns image (H, W, 3) float32 in [0, 1] and mask (H, W) bool."""
    size = spec.image_size
    img = _background(rng, size, spec.texture)
    img = _distractors(rng, img, spec.distractors)

    scale = rng.uniform(spec.min_scale, spec.max_scale) * size / 2  # radius in pixels
    cx, cy = rng.uniform(scale * 0.8, size - scale * 0.8, 2)  # anywhere, object kept (mostly) in frame
    angle = rng.uniform(0, 2 * math.pi)
    if spec.max_rotation < 180.0:  # same draw, mapped to [−max_rotation, max_rotation]
        angle = (angle / math.pi - 1.0) * math.radians(spec.max_rotation)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    aspect = np.array([1.0, rng.uniform(0.8, 1.2)])

    big = size * _SUPERSAMPLE
    alpha_img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(alpha_img)
    for k, poly in enumerate(_polygon(CLASS_NAMES[label])):
        pts = (poly * aspect) @ rot.T * scale + np.array([cx, cy])
        draw.polygon([tuple(p) for p in pts * _SUPERSAMPLE], fill=255 if k == 0 else 0)
    alpha_img = alpha_img.filter(ImageFilter.BoxBlur(0.5)).resize((size, size), Image.BILINEAR)
    alpha = np.asarray(alpha_img, np.float32) / 255.0
    mask = alpha > 0.5

    local = _luma(img[mask].mean(0)) if mask.any() else 0.5
    for _ in range(16):  # a colour far enough from the local background in luminance
        colour = rng.uniform(0, 1, 3).astype(np.float32)
        if abs(_luma(colour) - local) >= spec.min_contrast:
            break
    else:
        colour = np.full(3, 0.0 if local > 0.5 else 1.0, np.float32)
    shade = 1.0 + 0.15 * (np.linspace(-1, 1, size, dtype=np.float32)[None, :, None] * rng.uniform(-1, 1))
    obj = np.clip(colour[None, None, :] * shade, 0, 1)
    img = img * (1 - alpha[..., None]) + obj * alpha[..., None]
    if spec.grain > 0:  # drawn last, so grain=0 leaves every other draw (and sample) unchanged
        std = rng.uniform(0.0, spec.grain)
        img = np.clip(img + rng.normal(0.0, std, img.shape), 0.0, 1.0)
    return img.astype(np.float32), mask


class ShapesDataset(Dataset):
    """The embedded benchmark: ``length`` samples of a split, each ``{"image", "label", "mask"}``.

    ``image`` is a float32 (3, H, W) tensor in [0, 1] (not normalised), ``mask`` a float32 (1, H, W)
    tensor of the object's pixels. Labels are balanced: sample ``i`` has class ``i % num_classes``.
    """

    has_masks = True

    def __init__(
        self,
        split: str = "train",
        length: int = 1000,
        spec: ShapesSpec | None = None,
        seed: int = 0,
        fresh_every_epoch: bool = True,
    ) -> None:
        if split not in SPLITS:
            from camx.errors import ConfigError

            raise ConfigError(
                f"dataset.split={split!r} is not a valid split; choose one of: {', '.join(SPLITS)}"
            )
        self.split = split
        self.length = int(length)
        self.spec = spec or ShapesSpec()
        check_shapes_classes(self.spec.num_classes)
        self.seed = int(seed)
        self.fresh = bool(fresh_every_epoch) and split == "train"
        self.epoch = 0
        self.classes = list(CLASS_NAMES[: self.spec.num_classes])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's samples (only changes anything for a fresh train split)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        epoch = self.epoch if self.fresh else 0
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, SPLITS[self.split], epoch, index]))
        label = index % self.spec.num_classes
        img, mask = render_sample(self.spec, label, rng)
        return {
            "image": torch.from_numpy(img).permute(2, 0, 1).contiguous(),
            "label": label,
            "mask": torch.from_numpy(mask.astype(np.float32))[None],
        }


def export_samples(
    folder: str, count: int = 4, split: str = "test", spec: ShapesSpec | None = None, seed: int = 0
) -> list[str]:
    """Write the first ``count`` samples of a split as PNG files (``<index>_<class>.png``); return their paths."""
    from pathlib import Path

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    ds = ShapesDataset(split, max(count, 1), spec, seed=seed)
    paths = []
    for i in range(count):
        sample = ds[i]
        img = (sample["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        path = out / f"{i:03d}_{ds.classes[int(sample['label'])]}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    return paths
