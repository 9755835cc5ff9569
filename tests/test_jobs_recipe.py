"""The training recipe on real data: the learning-rate range test, the divergence guard, native image sizes.

The image folders are real: scikit-image's ``lfw_subset`` (faces and non-faces, 25×25 px) and
scikit-learn's ``load_digits`` (8×8 px), a few images of each class written as PNGs in tmp_path.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from _configs import train_config
from PIL import Image

import camx.jobs.train as train_job
from camx.errors import ConfigError
from camx.jobs.guard import DIVERGED_EXIT_CODE, DivergenceGuard
from camx.jobs.lr_find import lr_range_test, suggest
from camx.jobs.progress import Reporter
from tests.conftest import camx


class Notes(Reporter):
    """Keeps the job's notes."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def _folder(root: Path, images: np.ndarray, labels: list[int], names: list[str]) -> Path:
    for i, (img, label) in enumerate(zip(images, labels)):
        (root / names[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / names[label] / f"{i:03d}.png")
    return root


def lfw_folder(root: Path, per_class: int = 10) -> Path:
    """``per_class`` faces and non-faces of scikit-image's lfw_subset (25×25 px) as an image folder."""
    data = pytest.importorskip("skimage.data")
    pixels = (data.lfw_subset() * 255).round().astype(np.uint8)
    chosen = np.concatenate([pixels[:per_class], pixels[100 : 100 + per_class]])
    return _folder(root, chosen, [0] * per_class + [1] * per_class, ["face", "nonface"])


def digits_folder(root: Path, per_class: int = 4) -> Path:
    """``per_class`` 8×8 digits of classes 0–2 of scikit-learn's load_digits as an image folder."""
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is in the dev extra")
    d = datasets.load_digits()
    keep = np.concatenate([np.flatnonzero(d.target == c)[:per_class] for c in range(3)])
    pixels = np.clip(d.images[keep] * 16, 0, 255).astype(np.uint8)
    return _folder(root, pixels, d.target[keep].tolist(), ["0", "1", "2"])


def _cfg(root: Path, output_stride: int = 16, **trainer) -> dict:
    return train_config(
        {"arch": "resnet50", "head": "plain", "output_stride": output_stride, "weights": "none"},
        {
            "name": "imagefolder",
            "root": str(root),
            "image_size": "auto",
            "max_auto_size": 224,
            "ratios": [0.6, 0.2, 0.2],
            "seed": 0,
        },  # fmt: skip
        {
            "epochs": 1,
            "batch_size": 4,
            "eval_batch_size": 8,
            "optimizer": "adamw",
            "lr": 1e-3,
            "weight_decay": 0.0,
            "schedule": "constant",
            "seed": 0,
            "device": "cpu",
            "workers": 0,
            "threads": 1,
            **trainer,
        },  # fmt: skip
    )


def test_lr_auto_picks_a_finite_lr_and_imagefolder_trains_at_the_images_own_size(tmp_path: Path) -> None:
    from camx.checkpoint import load_checkpoint

    faces = lfw_folder(tmp_path / "lfw", per_class=5)  # 25 px; ResNet50 at output stride 16 takes 16 px
    notes = Notes()
    cfg = _cfg(faces, lr="auto", lr_find={"steps": 8, "start": 1e-6, "end": 1.0})
    result = train_job.train(cfg, tmp_path / "run", notes)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    chosen = record["lr_find"]["lr"]
    assert math.isfinite(chosen) and 1e-6 <= chosen <= 1.0
    assert record["lr"] == chosen and record["status"] == "finished"
    assert (
        2 <= record["lr_find"]["steps"] <= 8
        and len(record["lr_find"]["losses"]) == record["lr_find"]["steps"]
    )
    assert [h["epoch"] for h in result.history] == [1] and result.history[0]["lr"] == chosen
    assert any(n.startswith("lr range test") for n in notes.notes)
    assert load_checkpoint(result.best)[1]["image_size"] == 25 == record["image_size"]
    assert not [n for n in notes.notes if "raised" in n]


def test_imagefolder_raises_small_images_to_the_architecture_minimum_with_a_note(tmp_path: Path) -> None:
    from camx.checkpoint import load_checkpoint

    digits = digits_folder(tmp_path / "digits")
    notes = Notes()
    result = train_job.train(_cfg(digits, output_stride=32), tmp_path / "raised", notes)
    assert load_checkpoint(result.best)[1]["image_size"] == 32
    assert any("images are 8 px" in n and "raised to 32 px" in n for n in notes.notes), notes.notes


def test_image_size_auto_is_for_imagefolder_only() -> None:
    from camx.cli.hydra_bridge import compose

    from camx.config import validate

    cfg = compose("train", ["dataset=shapes", "dataset.image_size=auto"])
    with pytest.raises(ConfigError, match="image_size=auto .* is for dataset=imagefolder"):
        validate(cfg)


def test_range_test_restores_the_weights_and_rng() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(16, 4, generator=g), torch.randint(0, 2, (16,), generator=g)) for _ in range(30)]
    rng = torch.get_rng_state()
    found = lr_range_test(
        model,
        lambda x, y: torch.nn.functional.cross_entropy(torch.nn.functional.dropout(model(x), 0.1), y),
        iter(data),
        torch.optim.SGD(model.parameters(), lr=1e-5),
        steps=30,
        start=1e-5,
        end=10.0,
    )
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    assert 1e-5 <= found.lr <= found.min_loss_lr <= 10.0


def test_suggestion_sits_below_the_minimum_of_the_loss_curve() -> None:
    lrs = [10 ** (-6 + i * 0.1) for i in range(60)]  # 1e-6 … ~8e-1
    losses = [2.0 - 1.5 / (1 + math.exp(-(math.log10(lr) + 3) * 3)) for lr in lrs[:45]]  # falls around 1e-3
    losses += [losses[-1] * 1.5**k for k in range(1, 16)]  # then explodes
    lr, min_lr, steepest = suggest(lrs, losses)
    assert min_lr == pytest.approx(lrs[44])
    assert steepest == pytest.approx(1e-3, rel=0.3)
    assert lr == min(min_lr / 10, steepest)


def test_guard_stops_on_nan_and_on_a_loss_that_explodes_but_not_on_noise_near_zero() -> None:
    assert DivergenceGuard(4.0, 3, 10).update(math.nan) == "the loss is nan"
    guard = DivergenceGuard(4.0, 3, 10)
    assert all(guard.update(loss) is None for loss in [2.3, 1.5, 0.8, 0.4])
    reasons = [guard.update(1e3) for _ in range(3)]
    assert reasons[:2] == [None, None] and "above 4× its minimum" in reasons[2]
    late = DivergenceGuard(4.0, 3, 10)
    assert all(late.update(v) is None for v in [2.3, 0.1, 0.01, 0.002] * 5 + [0.05] * 20)  # below chance


def test_a_diverging_run_exits_4_with_one_line_and_keeps_a_checkpoint(tmp_path: Path) -> None:
    from camx.checkpoint import load_checkpoint

    res = camx("train", "experiment=smoke", "trainer.lr=1e6", "trainer.diverge.steps=1", cwd=tmp_path)
    assert res.returncode == DIVERGED_EXIT_CODE == 4, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "training diverged at epoch 1" in lines[0] and "Traceback" not in res.stderr
    assert "lower trainer.lr or pass trainer.lr=auto" in lines[0]
    (run,) = (tmp_path / "outputs" / "train").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "diverged" and record["reason"]
    model, meta = load_checkpoint(run / "checkpoints" / "last.pt")
    assert all(torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point())
    assert meta["image_size"] == 32
