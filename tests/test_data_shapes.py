"""The embedded dataset: deterministic, masked, disjoint, and not solvable by looking at the centre."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from camx.data.datasets import build_dataset
from camx.data.shapes import ShapesDataset, export_samples
from camx.options.dataset import CLASS_NAMES, ShapesSpec


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha1(t.numpy().tobytes()).hexdigest()


def test_same_seed_same_pixels_and_labels() -> None:
    a, b = ShapesDataset("test", 6, seed=3), ShapesDataset("test", 6, seed=3)
    for i in range(6):
        assert torch.equal(a[i]["image"], b[i]["image"])
        assert torch.equal(a[i]["mask"], b[i]["mask"])
        assert a[i]["label"] == b[i]["label"]
    assert not torch.equal(a[0]["image"], ShapesDataset("test", 6, seed=4)[0]["image"])


def test_at_least_eight_balanced_classes() -> None:
    ds = ShapesDataset("val", 16)
    assert len(ds.classes) >= 8 and len(CLASS_NAMES) >= 8
    labels = [ds[i]["label"] for i in range(16)]
    assert sorted(set(labels)) == list(range(8))


def test_splits_are_disjoint() -> None:
    digests = {
        s: {_digest(ShapesDataset(s, 40)[i]["image"]) for i in range(40)} for s in ("train", "val", "test")
    }
    assert not digests["train"] & digests["val"]
    assert not digests["train"] & digests["test"]
    assert not digests["val"] & digests["test"]


def test_train_split_draws_fresh_samples_each_epoch_but_test_does_not() -> None:
    train = ShapesDataset("train", 4)
    first = train[0]["image"]
    train.set_epoch(1)
    assert not torch.equal(first, train[0]["image"])
    test = ShapesDataset("test", 4)
    before = test[0]["image"]
    test.set_epoch(5)
    assert torch.equal(before, test[0]["image"])


def test_masks_cover_the_object_and_only_it() -> None:
    """Pixels under the mask take the object's (near-uniform) colour; the mask is a compact blob."""
    ds = ShapesDataset("test", 24, ShapesSpec(image_size=64, distractors=0, texture=0.0))
    for i in range(24):
        s = ds[i]
        mask = s["mask"][0].bool()
        img = s["image"]
        assert 0.004 < mask.float().mean() < 0.5
        inside = img[:, mask]
        # the object is one colour with a mild shading gradient: small spread inside the mask
        assert inside.std(dim=1).max() < 0.12


def test_small_objects_reach_about_three_percent_of_the_area() -> None:
    ds = ShapesDataset("test", 200, ShapesSpec(image_size=64))
    areas = np.array([ds[i]["mask"].mean().item() for i in range(200)])
    assert areas.min() < 0.04
    assert areas.max() > 0.12


def test_objects_appear_anywhere_so_a_centre_map_does_not_localise() -> None:
    ds = ShapesDataset("test", 200, ShapesSpec(image_size=64))
    centre_hits = 0
    for i in range(200):
        mask = ds[i]["mask"][0]
        centre_hits += int(mask[31:33, 31:33].any())
    assert centre_hits / 200 < 0.5


def test_image_size_is_configurable_and_values_in_unit_range() -> None:
    ds = build_dataset({"name": "shapes", "image_size": 48, "test_size": 3}, "test")
    s = ds[0]
    assert s["image"].shape == (3, 48, 48) and s["mask"].shape == (1, 48, 48)
    assert s["image"].dtype == torch.float32 and s["image"].min() >= 0 and s["image"].max() <= 1


def test_export_samples_writes_pngs(tmp_path) -> None:
    paths = export_samples(str(tmp_path), 3)
    assert len(paths) == 3 and all(p.endswith(".png") for p in paths)


def test_max_rotation_zero_keeps_squares_axis_aligned() -> None:
    """A square drawn without rotation fills its bounding box; a freely rotated one usually does not."""

    def fill(max_rotation: float) -> list[float]:
        spec = ShapesSpec(
            image_size=64, num_classes=2, min_scale=0.4, max_scale=0.5, max_rotation=max_rotation
        )
        out = []
        for i in range(8):
            mask = ShapesDataset("test", 16, spec)[2 * i + 1]["mask"][0]  # odd samples are squares
            rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
            box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            out.append(float(mask.sum() / box))
        return out

    assert min(fill(0.0)) > 0.9
    assert np.mean(fill(180.0)) < 0.8


def test_grain_adds_pixel_noise_and_changes_nothing_else() -> None:
    clean = ShapesDataset("test", 4, ShapesSpec(image_size=32))
    grainy = ShapesDataset("test", 4, ShapesSpec(image_size=32, grain=0.2))
    for i in range(4):
        a, b = clean[i], grainy[i]
        assert torch.equal(a["mask"], b["mask"]) and a["label"] == b["label"]
        diff = (b["image"] - a["image"]).flatten()
        assert 0 < float(diff.std()) <= 0.2 and abs(float(diff.mean())) < 0.05
