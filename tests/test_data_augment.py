"""trainer.noise_augment: the noise-trained plain baseline (camx.data.augment), seeded and label-carrying."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_jobs_train import _cfg

import camx.jobs.train as train_job
from camx.checkpoint import load_checkpoint
from camx.data.augment import head_label, noise_augment, variances
from camx.errors import ConfigError
from camx.options.trainer import validate_trainer
from camx.perturb import apply

ON = {"variance": [0.2, 1.0], "space": "normalized"}


def test_noise_augment_is_seeded_per_step_and_draws_variances_in_range() -> None:
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t = {"seed": 3, "noise_augment": ON}
    a, b = noise_augment(images, t, 1, 5), noise_augment(images, t, 1, 5)
    assert torch.equal(a, b) and not torch.equal(a, images)  # same (seed, epoch, step): same pixels
    assert not torch.equal(a, noise_augment(images, t, 1, 6))  # next step: fresh noise
    assert not torch.equal(a, noise_augment(images, {**t, "seed": 4}, 1, 5))
    vs = variances(3, 1, 5, 4, 0.2, 1.0)
    assert all(0.2 <= v <= 1.0 for v in vs) and len(set(vs)) == 4
    # the noise of each image is perturb's at its variance, in the same space: residual std σ_c·√v
    for i, v in enumerate(vs):
        resid = (a[i] - images[i])[:, images[i].gt(0.3).all(0) & images[i].lt(0.7).all(0)]
        assert resid.std().item() == pytest.approx(0.226 * v**0.5, rel=0.35)
    off = {"seed": 3, "noise_augment": {"variance": None}}
    assert noise_augment(images, off, 1, 5) is images
    zero = {"seed": 3, "noise_augment": {"variance": [0, 0], "space": "pixel"}}
    assert torch.equal(noise_augment(images, zero, 0, 0), apply("noise", images, 0.0)[0])


@pytest.mark.parametrize(
    ("aug", "needle"),
    [
        ({"variance": [1, 0.5]}, "0 ≤ low ≤ high"),
        ({"variance": "abc"}, "0 ≤ low ≤ high"),
        ({"variance": [0, 1], "space": "log"}, "space"),
    ],
)
def test_bad_noise_augment_is_a_config_error(aug: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        validate_trainer({**_cfg()["trainer"], "noise_augment": aug})


def test_a_tiny_noise_augmented_run_is_deterministic_and_labelled_plain_noise(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    for name, aug in (("a", ON), ("b", ON), ("clean", {"variance": None})):
        cfg = _cfg(epochs=1, noise_augment=aug)
        cfg["dataset"]["train_size"] = 6
        train_job.train(cfg, tmp_path / name)
    loaded = {n: load_checkpoint(tmp_path / n / "checkpoints" / "last.pt") for n in ("a", "b", "clean")}
    weights = {n: m.state_dict() for n, (m, _) in loaded.items()}
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])  # seeded
    assert any(not torch.equal(weights["a"][k], weights["clean"][k]) for k in weights["a"])  # it acts
    labels = {n: head_label(meta["head"], meta.get("config")) for n, (_, meta) in loaded.items()}
    assert labels == {"a": "plain+noise", "b": "plain+noise", "clean": "plain"}
