"""The training job's options, in process on a tiny ResNet50 run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _configs import train_config

import camx.jobs.train as train_job
from camx.errors import ConfigError
from camx.options.trainer import validate_trainer


def _cfg(**trainer) -> dict:
    return train_config(
        {"arch": "resnet50", "head": "plain", "output_stride": 32, "weights": "none"},
        {
            "name": "shapes",
            "image_size": 32,
            "num_classes": 3,
            "train_size": 12,
            "val_size": 6,
            "test_size": 6,
        },
        {
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
    )


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
        validate_trainer({**_cfg()["trainer"], "sizes": sizes})


@pytest.mark.parametrize("spelling", [None, "", "null", "None"])
def test_unset_target_layer_means_the_default_layer_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling
) -> None:
    """The config check, the layer check and the model training builds agree on an unset target layer."""
    from torch import nn

    from camx.models.target_layer import check_target_layer
    from camx.options.model import requested_target_layer

    assert requested_target_layer({"target_layer": spelling}) is None
    assert check_target_layer(nn.Sequential(nn.Conv2d(3, 2, 1)), spelling, "a conv") is None
    assert check_target_layer(nn.Sequential(nn.Conv2d(3, 2, 1)), "0", "a conv") == "0"
    built: list[object] = []

    class Built(Exception):
        pass

    def stop(*args, **kwargs):
        built.append(kwargs.get("target_layer"))
        raise Built

    monkeypatch.setattr(train_job, "build_model", stop)
    cfg = _cfg()
    cfg["model"]["target_layer"] = spelling
    with pytest.raises(Built):
        train_job.train(cfg, tmp_path)
    assert built == [None]  # "None" once reached build_model as a layer name, after validation passed it


def test_init_backbone_starts_a_head_from_a_trained_backbone(tmp_path: Path) -> None:
    from camx.checkpoint import load_backbone, load_checkpoint
    from camx.errors import CheckpointError
    from camx.models import build_model
    from camx.options.model import validate_model_options

    train_job.train(_cfg(epochs=1), tmp_path / "plain")
    source = tmp_path / "plain" / "checkpoints" / "best.pt"
    trained, _ = load_checkpoint(source)
    model = build_model("resnet50", "dropkey", 3, output_stride=32)
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    copied = load_backbone(model, source)
    ours, theirs = model.state_dict(), trained.state_dict()
    backbone = [k for k in theirs if not k.startswith("head.")]
    assert copied == sorted(backbone) and all(torch.equal(ours[k], theirs[k]) for k in backbone)
    assert all(torch.equal(v, head[k]) for k, v in model.head.state_dict().items())  # the head as built

    with pytest.raises(CheckpointError, match="output_stride=32"):
        load_backbone(build_model("resnet50", "plain", 3, output_stride=16), source)
    with pytest.raises(CheckpointError, match="resnet50 checkpoint but this run trains alexnet"):
        load_backbone(build_model("alexnet", "plain", 3), source)
    with pytest.raises(ConfigError, match="both set the backbone"):
        validate_model_options("resnet50", "plain", weights="imagenet", init_backbone=str(source))


def test_resume_refuses_a_run_built_with_another_classifier_or_output_stride(tmp_path: Path) -> None:
    """model.classifier and model.output_stride change the network but not its tensors (a -GAP AlexNet's
    attention head loads into the full one), so resuming across them must be refused, not loaded."""
    from camx.errors import CheckpointError

    small = {"image_size": 64, "num_classes": 3, "train_size": 6, "val_size": 3, "test_size": 3}
    cfg = _cfg(epochs=1)
    cfg["model"] = {**cfg["model"], "arch": "alexnet", "head": "dropkey", "output_stride": 32, "weights": "none",
                    "classifier": "gap", "dim": 16, "num_heads": 2}  # fmt: skip
    cfg["dataset"].update(small)
    train_job.train(cfg, tmp_path / "gap")
    last = tmp_path / "gap" / "checkpoints" / "last.pt"
    cfg["model"]["classifier"] = "full"
    with pytest.raises(
        CheckpointError, match="model.classifier=gap, this one asks for model.classifier=full"
    ):
        train_job.train({**cfg, "trainer": {**cfg["trainer"], "resume": str(last)}}, tmp_path / "full")
    resnet = _cfg(epochs=1)
    train_job.train(resnet, tmp_path / "os32")
    resnet["model"]["output_stride"] = 16
    resnet["trainer"]["resume"] = str(tmp_path / "os32")
    with pytest.raises(CheckpointError, match="model.output_stride=32"):
        train_job.train(resnet, tmp_path / "os16")


def test_frozen_backbone_keeps_weights_and_batchnorm_statistics(tmp_path: Path) -> None:
    from camx.checkpoint import load_checkpoint
    from camx.config import validate
    from camx.jobs.optim import build_optimizer

    train_job.train(_cfg(epochs=1), tmp_path / "plain")
    source = tmp_path / "plain" / "checkpoints" / "last.pt"
    cfg = _cfg(epochs=1, lr=1e-2, freeze_backbone=True)
    cfg["model"] = {**cfg["model"], "head": "attention", "init_backbone": str(source)}
    train_job.train(cfg, tmp_path / "head")
    before, _ = load_checkpoint(source)
    after, _ = load_checkpoint(tmp_path / "head" / "checkpoints" / "last.pt")
    old, new = before.state_dict(), after.state_dict()
    backbone = [k for k in old if not k.startswith("head.")]
    assert any(k.endswith("running_mean") for k in backbone)
    assert all(torch.equal(old[k], new[k]) for k in backbone)
    model = train_job.build_model("resnet50", "attention", 3, output_stride=32)
    train_job.freeze_backbone(model)
    optimised = {id(p) for g in build_optimizer(model, cfg["trainer"]).param_groups for p in g["params"]}
    assert optimised == {id(p) for p in model.head.parameters()}

    from camx.cli.hydra_bridge import compose

    with pytest.raises(ConfigError, match="random backbone"):
        validate(compose("train", ["trainer.freeze_backbone=true"]))
