"""The training job's options, in process on a tiny ResNet50 run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import camx.jobs.train as train_job
from camx.errors import ConfigError


def _cfg(**trainer) -> dict:
    return {
        "model": {"arch": "resnet50", "head": "plain", "output_stride": 32, "weights": "none"},
        "dataset": {
            "name": "shapes",
            "image_size": 32,
            "num_classes": 3,
            "train_size": 12,
            "val_size": 6,
            "test_size": 6,
        },
        "trainer": {
            "epochs": 3,
            "batch_size": 6,
            "eval_batch_size": 6,
            "optimizer": "adamw",
            "lr": 1e-3,
            "weight_decay": 0.0,
            "schedule": "constant",
            "seed": 0,
            "device": "cpu",
            "workers": 0,
            **trainer,
        },
    }


def test_progressive_resizing_trains_each_epoch_at_its_size(tmp_path: Path, monkeypatch) -> None:
    seen: list[int] = []
    build = train_job.build_model

    def recording_build(*args, **kwargs):
        model = build(*args, **kwargs)
        model.register_forward_pre_hook(
            lambda m, inp: seen.append(int(inp[0].shape[-1])) if m.training else None
        )
        return model

    monkeypatch.setattr(train_job, "build_model", recording_build)
    before = torch.get_num_threads()
    try:
        result = train_job.train(_cfg(sizes=[16, 24], threads=1), tmp_path)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert seen == [16, 16, 24, 24, 24, 24]  # 2 steps per epoch; the last size repeats
    assert len(result.history) == 3
    assert train_job.epoch_size({"sizes": None}, 5) is None


@pytest.mark.parametrize(
    ("sizes", "needle"),
    [("abc", "trainer.sizes='abc'"), ([], "trainer.sizes=[]"), ([32, 4], "trainer.sizes=4")],
)
def test_bad_sizes_are_config_errors(sizes, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        train_job.validate_trainer({**_cfg()["trainer"], "sizes": sizes})
