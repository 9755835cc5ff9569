"""dataset.resize: ``crop`` keeps the aspect ratio (shorter side to the size, centre crop), masks alike,
and the eval/explain jobs bring their images to size by it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli_messages import _invoke, _lite0, _photos

from camx.data import fit


def _stripe_image(width: int = 200, height: int = 100, stripe: int = 20) -> np.ndarray:
    """A 2:1 black image with a white vertical stripe of ``stripe`` px at the centre."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, (width - stripe) // 2 : (width + stripe) // 2] = 255
    return img


def _stripe_width(image: torch.Tensor) -> int:
    """The stripe's width in px on the middle row (its summed intensity: edge pixels count partly)."""
    return round(float(image[0, image.shape[1] // 2].sum()))


def test_crop_keeps_the_aspect_ratio_and_stretch_squashes() -> None:
    t = torch.from_numpy(_stripe_image()).permute(2, 0, 1).float() / 255
    crop, stretch = fit.fit_tensor(t, (50, 50), "crop"), fit.fit_tensor(t, (50, 50), "stretch")
    assert crop.shape == stretch.shape == (3, 50, 50)
    assert _stripe_width(crop) == 10  # 20 px of the centre 100×100 square, at half scale
    assert _stripe_width(stretch) == 5  # squashed by the 2:1 aspect ratio
    assert fit.crop_box(100, 200, (50, 50), "crop") == (0, 50, 100, 100)
    pil = fit.fit_pil(Image.fromarray(_stripe_image()), 50, "crop")
    assert _stripe_width(torch.from_numpy(np.asarray(pil)).permute(2, 0, 1).float() / 255) == 10


def test_masks_get_the_same_geometry_and_stay_binary() -> None:
    mask = torch.from_numpy(_stripe_image()[..., :1].copy()).permute(2, 0, 1).float() / 255
    out = fit.fit_tensor(mask, (50, 50), "crop", nearest=True)
    assert set(out.unique().tolist()) == {0.0, 1.0} and _stripe_width(out) == 10
    trimap = Image.fromarray(np.where(_stripe_image()[..., 0] > 0, 1, 2).astype(np.uint8))
    assert set(np.unique(np.asarray(fit.fit_pil(trimap, 50, "crop", Image.NEAREST)))) == {1, 2}


def test_imagefolder_crops_by_default_and_stretches_when_asked(tmp_path: Path) -> None:
    from camx.data.datasets import build_dataset

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.fromarray(_stripe_image()).save(tmp_path / cls / "0.png")
    cfg = {"name": "imagefolder", "root": str(tmp_path), "image_size": 50, "ratios": [0, 0, 1]}
    assert _stripe_width(build_dataset(cfg)[0]["image"]) == 10
    assert _stripe_width(build_dataset({**cfg, "resize": "stretch"})[0]["image"]) == 5


def test_a_bad_resize_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = _invoke(tmp_path, monkeypatch, "eval", "experiment=smoke", "dataset.resize=squash")
    assert res.exit_code == 2 and "dataset.resize='squash'" in res.stderr and "stretch, crop" in res.stderr


def test_explain_and_eval_bring_photos_to_size_by_dataset_resize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = fit.crop_box
    monkeypatch.setattr(fit, "crop_box", lambda h, w, hw, mode: seen.append(mode) or real(h, w, hw, mode))
    photos = _photos(tmp_path / "inet")
    out = f"outputs_dir={tmp_path / 'out'}"
    res = _invoke(
        tmp_path, monkeypatch, "explain", str(photos / "espresso"), *_lite0(), "dataset.resize=crop", out
    )
    assert res.exit_code == 0, res.stdout + res.stderr
    assert seen and set(seen) == {"crop"}
    seen.clear()
    folder = ["dataset=imagefolder", f"dataset.root={photos}", "dataset.ratios=[0,0,1]", "figures=false"]
    res = _invoke(tmp_path, monkeypatch, "eval", *_lite0(), *folder, "methods=[gradcam]", "perturb=none", out)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert seen and set(seen) == {"crop"}  # imagefolder's default
