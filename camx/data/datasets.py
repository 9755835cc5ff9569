"""Datasets by config: every dataset yields ``{"image": (3,H,W) in [0,1], "label": int, "mask": (1,H,W)}``.

``shapes`` is embedded (see :mod:`camx.data.shapes`). ``imagefolder`` reads your images.
``cifar10``, ``imagenette`` and ``oxford_pets`` are torchvision's datasets, downloaded on first use;
offline, they fail with one line naming what is missing. Only ``shapes`` and ``oxford_pets``
(segmentation trimaps) carry ground-truth masks; ``has_masks`` says which.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Subset

from camx.data.fit import RESIZE_MODES, fit_pil
from camx.data.shapes import ShapesDataset
from camx.errors import ConfigError, DataError, check_choice, check_range
from camx.options.dataset import DATASETS, SPLITS, is_auto_size, shapes_spec
from camx.options.model import min_input_side


def _resize(img: Image.Image, size: int, mode: str = "stretch") -> torch.Tensor:
    img = fit_pil(img.convert("RGB"), size, mode)
    return torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1).contiguous()


class _Wrapped(Dataset):
    """Adapts a dataset of (PIL image, target) pairs to camx's sample dicts at a fixed square size
    (``resize``: :mod:`camx.data.fit`; masks get the same geometry, nearest-neighbour)."""

    def __init__(
        self, base: Any, size: int, classes: list[str], with_masks: bool = False, resize: str = "stretch"
    ) -> None:
        self.base, self.size, self.classes, self.has_masks = base, size, classes, with_masks
        self.resize = resize

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        img, target = self.base[index]
        if self.has_masks:  # oxford_pets: (category, trimap) with trimap 1 = pet, 2 = background, 3 = border
            label, trimap = target
            tri = np.asarray(fit_pil(trimap, self.size, self.resize, Image.NEAREST))
            mask = torch.from_numpy(((tri == 1) | (tri == 3)).astype(np.float32))[None]
        else:
            label = target
            mask = torch.zeros(1, self.size, self.size)
        return {"image": _resize(img, self.size, self.resize), "label": int(label), "mask": mask}


class _Split(Dataset):
    """A fixed-seed subset of a dataset, keeping ``classes`` and ``has_masks``."""

    def __init__(self, base: Any, indices: list[int]) -> None:
        self.subset = Subset(base, indices)
        self.classes, self.has_masks = base.classes, base.has_masks

    def __len__(self) -> int:
        return len(self.subset)

    def __getitem__(self, index: int) -> Any:
        return self.subset[index]


def _holdout(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    order = np.random.default_rng(seed).permutation(n).tolist()
    k = max(1, int(round(n * fraction)))
    return sorted(order[k:]), sorted(order[:k])


def _torchvision(name: str, cfg: Mapping[str, Any], split: str) -> Dataset:
    from torchvision import datasets as tvd

    root = Path(str(cfg["root"])).expanduser()
    size = int(cfg["image_size"])
    download = bool(cfg["download"])
    train_like = split in ("train", "val")
    try:
        if name == "cifar10":
            base = tvd.CIFAR10(str(root), train=train_like, download=download)
            classes, masks = list(base.classes), False
        elif name == "imagenette":
            variant = str(cfg["variant"])
            path = root / "imagenette"
            present = path.is_dir() and any(path.iterdir())
            base = tvd.Imagenette(
                str(path),
                split="train" if train_like else "val",
                size=variant,
                download=download and not present,
            )
            classes, masks = [c[0] for c in base.classes], False
        else:
            base = tvd.OxfordIIITPet(
                str(root),
                split="trainval" if train_like else "test",
                target_types=["category", "segmentation"],
                download=download,
            )
            classes, masks = list(base.classes), True
    except (
        OSError,
        RuntimeError,
    ) as exc:  # URLError is an OSError; a missing folder without download a RuntimeError
        raise DataError(
            f"dataset {name} is not available under {root} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
            f"it downloads on first use, which needs the network — or copy it there and set dataset.root"
        ) from None
    wrapped = _Wrapped(base, size, classes, masks, str(cfg["resize"]))
    if not train_like:
        return wrapped
    train_idx, val_idx = _holdout(len(wrapped), float(cfg["val_fraction"]), int(cfg["seed"]))
    return _Split(wrapped, train_idx if split == "train" else val_idx)


@functools.cache
def _yaml_defaults(name: str) -> dict[str, Any]:
    from omegaconf import OmegaConf

    import camx.configs

    path = Path(next(iter(camx.configs.__path__))) / "dataset" / f"{name}.yaml"
    values = OmegaConf.to_container(OmegaConf.load(path), resolve=True, throw_on_missing=False)
    return {k: v for k, v in values.items() if v != "???"}


def dataset_defaults(name: str) -> dict[str, Any]:
    """The values of ``configs/dataset/<name>.yaml`` (their one home), without its required ``???`` keys."""
    return copy.deepcopy(_yaml_defaults(name))


def _max_auto_size(cfg: Mapping[str, Any]) -> int:
    """``dataset.max_auto_size``: ``image_size=auto`` is imagefolder's, whose YAML holds the default."""
    return int(cfg.get("max_auto_size") or dataset_defaults("imagefolder")["max_auto_size"])


def resolve_image_size(
    cfg: Mapping[str, Any], model: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], str | None]:
    """``cfg`` with a number for ``image_size``, and a note saying how it was chosen (None if as given).

    ``image_size=auto`` (imagefolder): the images' own size (:func:`~camx.data.folder.native_side`),
    lowered to ``max_auto_size`` and raised to the smallest side ``model`` accepts.
    """
    if not is_auto_size(cfg.get("image_size")):
        return dict(cfg), None
    from camx.data.folder import native_side

    native = native_side(cfg.get("root"))
    if native is None:  # no readable image: the dataset itself says so, in its own words
        return {**cfg, "image_size": _max_auto_size(cfg)}, None
    size, cap = native, _max_auto_size(cfg)
    note = None
    if size > cap:
        size, note = (
            cap,
            f"the images are {native} px (median shorter side); trained at {cap} px (dataset.max_auto_size)",
        )
    need = min_input_side(model) if model else 8
    if size < need:
        size = need
        note = (
            f"the images are {native} px (median shorter side); raised to {need} px, the smallest input "
            f"{model.get('arch')} takes (set dataset.image_size to choose another size)"
        )
    return {**cfg, "image_size": size}, note


def build_dataset(cfg: Mapping[str, Any], split: str | None = None) -> Dataset:
    """The dataset ``cfg.name`` restricted to ``split`` (default ``cfg.split``). Raises ConfigError/DataError."""
    name = str(cfg.get("name"))
    if name not in DATASETS:
        raise ConfigError(f"dataset={name!r} is not a valid choice; choose one of: {', '.join(DATASETS)}")
    cfg = {**dataset_defaults(name), **cfg}  # a partial dict (a library caller's) gets the YAML's values
    split = str(split or cfg["split"])
    if split not in SPLITS:
        raise ConfigError(f"dataset.split={split!r} is not a valid split; choose one of: {', '.join(SPLITS)}")
    if is_auto_size(cfg.get("image_size")):
        cfg = resolve_image_size(cfg)[0]
    size = int(check_range("dataset.image_size", cfg["image_size"], 8, 4096))
    check_choice("dataset.resize", cfg.get("resize", "stretch"), RESIZE_MODES)
    if name == "shapes":
        spec = shapes_spec(cfg)
        length = int(cfg[f"{split}_size"])
        if length < 1:
            raise ConfigError(f"dataset.{split}_size={length} is out of range; it must be a positive integer")
        return ShapesDataset(
            split,
            length,
            spec,
            seed=int(cfg["seed"]),
            fresh_every_epoch=bool(cfg["fresh_every_epoch"]),
        )
    if name == "imagefolder":
        from camx.data.folder import ImageFolderDataset

        return ImageFolderDataset(
            cfg.get("root"),
            split,
            size,
            ratios=list(cfg["ratios"]),
            seed=int(cfg["seed"]),
            max_pixels=int(cfg["max_pixels"]),
            resize=str(cfg["resize"]),
        )
    return _torchvision(name, cfg, split)


def class_names(dataset: Dataset) -> list[str]:
    return list(getattr(dataset, "classes", []))
