"""``imagefolder``: your own labelled images, ``root/<split>/<class>/*`` or ``root/<class>/*`` split by ratio."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from camx.data.inputs import IMAGE_EXTENSIONS, ImageFailure
from camx.errors import ConfigError, DataError


def header_problem(path: Path, max_pixels: int) -> str | None:
    """Why ``path`` cannot be used, judged from its header alone (no pixel decoding), or None if it looks fine.

    Catches non-images (whatever the extension), unreadable files, decompression bombs and images
    smaller than :data:`~camx.data.images.MIN_SIDE`; a file truncated inside its pixel data passes
    and is caught when it is decoded. Reasons read like :func:`~camx.data.images.load_image`'s.
    """
    from camx.data.images import _DECODE_ERRORS, MIN_SIDE, _bomb_reason, _short

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
    except UnidentifiedImageError:
        return (
            "not an image (cannot identify image file); check that it is a JPEG, PNG, BMP, GIF, TIFF or WebP"
        )
    except Image.DecompressionBombError:
        return _bomb_reason("too many", max_pixels)
    except PermissionError:
        return "permission denied; check the file's permissions"
    except _DECODE_ERRORS as exc:
        return f"corrupt or truncated image ({_short(exc)}); re-export or re-download it"
    if width * height > max_pixels:
        return _bomb_reason(width * height, max_pixels)
    if width < MIN_SIDE or height < MIN_SIDE:
        return f"image is {width}×{height} px; camx needs at least {MIN_SIDE} px per side"
    return None


def native_side(root: object) -> int | None:
    """The images' own size under ``root`` (every split): the median of their shorter sides, from the
    headers alone; None when no file there has a readable header."""
    sides = []
    for path in sorted(Path(str(root)).expanduser().rglob("*")):
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    sides.append(min(im.size))
        except Exception:  # noqa: BLE001 — the dataset reports unreadable files; here they just do not count
            continue
    return int(np.median(sides)) if sides else None


class ImageFolderDataset(Dataset):
    """Images under ``root``, one sub-folder per class; unreadable files never stop a run.

    Every file's header is read when the dataset is built: files that are not usable images are
    left out and listed in ``failures`` (an :class:`~camx.data.inputs.ImageFailure` each, in the
    process that built the dataset, so the job can report them). A file that passes but fails to
    decode later comes back as a blank image with ``valid=0``, its ``path`` and the ``error``
    reason, so the job (which may get samples from worker processes) can skip and report it.

    If ``root`` has ``train``/``val``/``test`` sub-folders they are the splits; otherwise each class's
    files are shuffled with ``seed`` and cut by ``ratios`` (train, val, test), so splits are disjoint
    and the same for every run. Images are brought to ``size`` by ``resize`` (:mod:`camx.data.fit`).
    """

    has_masks = False

    def __init__(
        self,
        root: object,
        split: str,
        size: int,
        *,
        ratios: list[float],
        seed: int = 0,
        max_pixels: int = 64_000_000,
        resize: str = "stretch",
    ) -> None:
        base = _check_root(root, ratios)
        pre_split = (base / split).is_dir()
        class_root = base / split if pre_split else base
        class_dirs = sorted(d for d in class_root.iterdir() if d.is_dir() and not d.name.startswith("."))
        self.classes = _class_names(base, class_root, class_dirs, pre_split)
        self.size, self.max_pixels, self.resize = int(size), int(max_pixels), str(resize)
        listed = _split_files(class_dirs, self.classes, split, ratios, seed, pre_split)
        self.samples: list[tuple[Path, int]] = []
        self.failures: list[ImageFailure] = []
        for path, label in listed:  # every header is read now: unusable files are left out and listed
            problem = header_problem(path, self.max_pixels)
            if problem is None:
                self.samples.append((path, label))
            else:
                self.failures.append(ImageFailure(str(path), problem))
        if not self.samples:
            if not self.failures and not pre_split:
                _check_split_not_empty(class_root, class_dirs, split, ratios)
            found = (
                f" ({len(self.failures)} unreadable, e.g. {self.failures[0].path}: {self.failures[0].reason})"
                if self.failures
                else f" (looked for {', '.join(IMAGE_EXTENSIONS)})"
            )
            raise DataError(f"{class_root}: no readable images for split {split!r}{found}")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, object]:
        from camx.data.images import ImageReadError, load_image_tensor

        path, label = self.samples[index]
        error = ""
        try:
            image = load_image_tensor(path, self.size, max_pixels=self.max_pixels, resize=self.resize)
        except (
            ImageReadError
        ) as exc:  # keep batches whole: a blank image flagged invalid, reported by the job
            image, error = torch.zeros(3, self.size, self.size), exc.reason
        return {
            "image": image,
            "label": label,
            "mask": torch.zeros(1, self.size, self.size),
            "valid": int(not error),
            "path": str(path),
            "error": error,
        }


def _check_root(root: object, ratios: list[float]) -> Path:
    """``dataset.root`` as an existing folder, after checking ``dataset.ratios``; else a one-line error."""
    if root in (None, "", "???"):
        raise ConfigError(
            "dataset.root is not set; pass dataset.root=/path/to/images (one sub-folder per class)"
        )
    base = Path(str(root)).expanduser()
    if not base.is_dir():
        raise DataError(f"{base}: no such folder; set dataset.root to a folder with one sub-folder per class")
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ConfigError(
            f"dataset.ratios={list(ratios)} is invalid; give three non-negative train/val/test fractions"
        )
    return base


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _check_split_not_empty(class_root: Path, class_dirs: list[Path], split: str, ratios: list[float]) -> None:
    """A DataError saying the images are there but ``dataset.ratios`` gives ``split`` none of them (each
    class's share is rounded, so a few images per class leave the small splits empty)."""
    total = sum(len(_images(d)) for d in class_dirs)
    if not total:
        return
    shown = "[" + ",".join(f"{float(r):g}" for r in ratios) + "]"
    every, use = {
        "train": ("[1,0,0]", "train on"),
        "val": ("[0,1,0]", "validate on"),
        "test": ("[0,0,1]", "evaluate"),
    }[split]
    raise DataError(
        f"{class_root}: {total} images found in {len(class_dirs)} class folders, but the {split} split is "
        f"empty with dataset.ratios={shown} (each class's share is rounded); to {use} every "
        f"image, pass 'dataset.ratios={every}'"
    )


def _class_names(base: Path, class_root: Path, class_dirs: list[Path], pre_split: bool) -> list[str]:
    """The class folders' names (those of ``train/`` when the root is split, so labels agree across splits)."""
    if pre_split:
        train_root = base / "train" if (base / "train").is_dir() else class_root
        classes = sorted(d.name for d in train_root.iterdir() if d.is_dir() and not d.name.startswith("."))
    else:
        classes = [d.name for d in class_dirs]
    if len(classes) < 2:
        raise DataError(f"{class_root}: found {len(classes)} class folder(s); imagefolder needs at least 2")
    return classes


def _split_files(
    class_dirs: list[Path], classes: list[str], split: str, ratios: list[float], seed: int, pre_split: bool
) -> list[tuple[Path, int]]:
    """(file, label) of ``split``: every image of a pre-split root, else each class's files shuffled with
    ``seed`` and cut by ``ratios`` (the same cut for every run, disjoint between splits)."""
    bounds = np.cumsum([0.0, *[r / float(sum(ratios)) for r in ratios]])
    k = ("train", "val", "test").index(split)
    out: list[tuple[Path, int]] = []
    for d in class_dirs:
        if d.name not in classes:
            continue
        files = _images(d)
        if not pre_split:
            order = np.random.default_rng([seed, classes.index(d.name)]).permutation(len(files))
            lo, hi = int(round(bounds[k] * len(files))), int(round(bounds[k + 1] * len(files)))
            files = [files[i] for i in sorted(order[lo:hi])]
        out += [(f, classes.index(d.name)) for f in files]
    return out
