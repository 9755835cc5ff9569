"""Scaling out with existing engines: Hydra's joblib and submitit launchers, and DDP training (torchrun).

The sweeps and the torchrun run are real CLI runs of the smoke preset, one OpenMP thread per process.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import camx
from torch import nn

from camx import distributed
from camx.checkpoint import load_checkpoint
from camx.errors import ConfigError

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ------------------------------------------------------------------------------ Hydra launchers


def _launcher(name: str) -> dict:
    from camx.cli import hydra_bridge as hb
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    hb._register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(hb.config_dir()), version_base="1.3", job_name="train"):
            cfg = compose(config_name="train", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
            return OmegaConf.to_container(cfg.hydra.launcher)
    finally:
        GlobalHydra.instance().clear()


def test_launcher_choices_validate() -> None:
    from camx.cli import hydra_bridge as hb

    choices = hb.group_choices("hydra/launcher")
    assert {"basic", "joblib", "submitit_local", "submitit_slurm", "parallel", "slurm"} <= set(choices)
    hb.compose("train", ["experiment=smoke", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"])
    with pytest.raises(ConfigError, match="hydra/launcher=nope is not a valid choice"):
        hb.compose("train", ["hydra/launcher=nope"])


def test_camx_launcher_configs_extend_the_plugins() -> None:
    slurm = _launcher("slurm")
    assert slurm["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert slurm["gpus_per_node"] == 1 and slurm["partition"] is None and slurm["signal_delay_s"] == 120
    parallel = _launcher("parallel")
    assert parallel["_target_"] == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    assert parallel["n_jobs"] == 2 and parallel["prefer"] == "processes"


def _sweep_jobs(work: Path) -> list[Path]:
    sweeps = list((work / "outputs" / "multirun").iterdir())
    assert len(sweeps) == 1, sweeps
    return sorted(p for p in sweeps[0].iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=submitit_local"],
        # make demo's setting: a data-loading worker inside each joblib (loky) process
        ["hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "trainer.workers=1", "trainer.threads=1"],
    ],
    ids=["submitit_local", "joblib"],
)
def test_sweep_runs_both_jobs_through_the_launcher(tmp_path: Path, launcher: list[str]) -> None:
    res = camx(
        "train", "-m", "experiment=smoke", "model.head=plain,dropkey", *launcher, cwd=tmp_path, env=ONE_THREAD
    )
    assert res.returncode == 0, res.stdout + res.stderr
    jobs = _sweep_jobs(tmp_path)
    assert [j.name for j in jobs] == ["0_resnet50-plain", "1_resnet50-dropkey"]
    for job in jobs:
        assert (job / "checkpoints" / "best.pt").is_file() and (job / "checkpoints" / "last.pt").is_file()
        assert json.loads((job / "run.json").read_text())["status"] == "finished"


# ------------------------------------------------------------------------------ DDP helpers


def test_context_from_env() -> None:
    assert distributed.from_env({}) == distributed.Context(0, 1, 0)
    ctx = distributed.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.enabled, ctx.is_main) == (3, 4, 1, True, False)
    with pytest.raises(ConfigError, match="inconsistent"):
        distributed.from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="not an integer"):
        distributed.from_env({"WORLD_SIZE": "two"})
    assert distributed.backend_for(torch.device("cpu")) == "gloo"
    assert distributed.backend_for(torch.device("cuda", 0)) == "nccl"
    ctx, device = distributed.setup("cpu", {})  # one process: nothing to join, training unchanged
    assert not ctx.enabled and device.type == "cpu"


@pytest.mark.parametrize("n", [1, 5, 7, 16])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shard_is_distributed_sampler_split(n: int, world: int) -> None:
    from torch.utils.data import DistributedSampler

    order = torch.randperm(n, generator=torch.Generator().manual_seed(n)).tolist()
    shards = [distributed.shard(order, distributed.Context(r, world, r)) for r in range(world)]
    for r, part in enumerate(shards):
        positions = list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False))
        assert part == [order[i] for i in positions]
        assert len(part) == distributed.shard_size(n, distributed.Context(r, world, r))
    assert set().union(*map(set, shards)) == set(order)  # every sample is seen in every epoch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grad_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    ctx, device = distributed.setup("cpu")
    try:
        torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
        )
        local = copy.deepcopy(model)
        net = distributed.wrap(model, device, ctx)
        gen = torch.Generator().manual_seed(100 + rank)  # different data on each rank
        x, y = torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 3, (4,), generator=gen)
        F.cross_entropy(net(x), y).backward()
        F.cross_entropy(local(x), y).backward()  # this rank's own gradient, without DDP
        torch.save(
            {
                "ddp": [p.grad for p in model.parameters()],
                "local": [p.grad for p in local.parameters()],
                "stop": distributed.any_flag(rank == 1, ctx),
            },
            Path(out) / f"{rank}.pt",
        )
    finally:
        distributed.cleanup()


def test_ddp_gradients_are_synchronised(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    world = 2
    mp.spawn(_grad_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True)
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in range(world)]
    assert not torch.allclose(ranks[0]["local"][0], ranks[1]["local"][0])  # the ranks saw different data
    for i in range(len(ranks[0]["ddp"])):
        mean = sum(r["local"][i] for r in ranks) / world
        for r in ranks:
            torch.testing.assert_close(
                r["ddp"][i], ranks[0]["ddp"][i], rtol=0, atol=0
            )  # identical on every rank
            torch.testing.assert_close(r["ddp"][i], mean, rtol=1e-5, atol=1e-7)  # and the mean of the ranks'
    assert all(r["stop"] for r in ranks)  # a stop signal on rank 1 stops rank 0 too


def test_torchrun_trains_one_run_on_two_processes(tmp_path: Path) -> None:
    """`torchrun -m camx.cli.main train` (gloo on CPU): rank 0 writes the only run dir."""
    env = {**os.environ, **ONE_THREAD, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "camx.cli.main",
        "train",
        "experiment=smoke",
        "trainer.device=cpu",
    ]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    runs = [p for p in (tmp_path / "outputs" / "train").iterdir()]
    assert len(runs) == 1, runs  # the other rank's (empty) Hydra run dir is removed
    assert (runs[0] / "checkpoints" / "best.pt").is_file()
    record = json.loads((runs[0] / "run.json").read_text())
    assert record["status"] == "finished" and record["epoch"] == 1
    model, _ = load_checkpoint(runs[0] / "checkpoints" / "best.pt")
    assert all(torch.isfinite(p).all() for p in model.parameters())
