"""``imagefolder``: your own labelled images, ``root/<split>/<class>/*`` or ``root/<class>/*`` split by ratio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from camx.errors import ConfigError, DataError


class ImageFolderDataset(Dataset):
    """Images under ``root``, one sub-folder per class; unreadable files are skipped and listed in ``failures``.

    If ``root`` has ``train``/``val``/``test`` sub-folders they are the splits; otherwise each class's
    files are shuffled with ``seed`` and cut by ``ratios`` (train, val, test), so splits are disjoint
    and the same for every run.
    """

    has_masks = False

    def __init__(self, root: object, split: str, size: int, *, ratios: list[float], seed: int = 0,
                 max_pixels: int = 64_000_000) -> None:
        from camx.data.images import IMAGE_EXTENSIONS

        if root in (None, "", "???"):
            raise ConfigError("dataset.root is not set; pass dataset.root=/path/to/images (one sub-folder per class)")
        base = Path(str(root)).expanduser()
        if not base.is_dir():
            raise DataError(f"{base}: no such folder; set dataset.root to a folder with one sub-folder per class")
        if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
            raise ConfigError(f"dataset.ratios={list(ratios)} is invalid; give three non-negative train/val/test fractions")
        pre_split = (base / split).is_dir()
        class_root = base / split if pre_split else base
        class_dirs = sorted(d for d in class_root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if pre_split:  # classes are named by the train folder, so labels agree across splits
            train_root = base / "train" if (base / "train").is_dir() else class_root
            self.classes = sorted(d.name for d in train_root.iterdir() if d.is_dir() and not d.name.startswith("."))
        else:
            self.classes = [d.name for d in class_dirs]
        if len(self.classes) < 2:
            raise DataError(f"{class_root}: found {len(self.classes)} class folder(s); imagefolder needs at least 2")
        total = float(sum(ratios))
        bounds = np.cumsum([0.0, *[r / total for r in ratios]])
        k = ("train", "val", "test").index(split)
        self.samples: list[tuple[Path, int]] = []
        for d in class_dirs:
            if d.name not in self.classes:
                continue
            files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not pre_split:
                order = np.random.default_rng([seed, self.classes.index(d.name)]).permutation(len(files))
                lo, hi = int(round(bounds[k] * len(files))), int(round(bounds[k + 1] * len(files)))
                files = [files[i] for i in sorted(order[lo:hi])]
            self.samples += [(f, self.classes.index(d.name)) for f in files]
        if not self.samples:
            raise DataError(f"{class_root}: no images for split {split!r} (looked for {', '.join(IMAGE_EXTENSIONS)})")
        self.size, self.max_pixels = int(size), int(max_pixels)
        self.failures: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, object]:
        from camx.data.images import load_image_tensor

        path, label = self.samples[index]
        try:
            image = load_image_tensor(path, self.size, max_pixels=self.max_pixels)
            ok = 1
        except DataError as exc:  # keep batches whole: a blank image flagged invalid, reported by the job
            self.failures.append((str(path), str(exc)))
            image, ok = torch.zeros(3, self.size, self.size), 0
        return {"image": image, "label": label, "mask": torch.zeros(1, self.size, self.size), "valid": ok}
