"""Data-parallel training over several processes (``torchrun``), one per GPU (or CPU process on gloo).

``torchrun --nproc_per_node=N -m camx.cli.main train ...`` starts N copies of the command with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. The trainer then:

- :func:`setup`: reads those variables, picks the device (``cuda:LOCAL_RANK`` on GPUs) and joins the
  process group (backend ``nccl`` on CUDA, else ``gloo``);
- :func:`wrap`: wraps the model in :class:`~torch.nn.parallel.DistributedDataParallel`, which
  averages the gradients of all processes in every backward pass;
- :func:`shard`: gives each process its share of the epoch's sample order, exactly as
  :class:`~torch.utils.data.DistributedSampler` (``drop_last=False``) splits an index list;
- writes checkpoints and ``run.json`` on rank 0 only (:attr:`Context.is_main`) and stops every
  process at the same step when any of them gets SIGINT/SIGTERM (:func:`any_flag`).

``trainer.batch_size`` is per process: the global batch is ``batch_size × WORLD_SIZE`` (scale
``trainer.lr`` yourself if you want to keep the single-process recipe). Without ``WORLD_SIZE`` > 1
every function here is a no-op and training is unchanged.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from camx.errors import ConfigError
from camx.runtime import select_device

_joined = False  # True once setup() has initialised the process group (finish() then leaves it)


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank among ``world_size`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, ``run.json`` and progress."""
        return self.rank == 0


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "")
    if raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"environment variable {name}={raw!r} is not an integer (set by torchrun)"
        ) from None


def from_env(environ: Mapping[str, str] | None = None) -> Context:
    """The :class:`Context` described by ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (unset → one process)."""
    env = os.environ if environ is None else environ
    world = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    local = _env_int(env, "LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(
            f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local} are inconsistent; "
            "start distributed training with torchrun --nproc_per_node=N"
        )
    return Context(rank, world, local)


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def setup(
    device_name: str = "auto", environ: Mapping[str, str] | None = None
) -> tuple[Context, torch.device]:
    """This process's context and device; joins the process group when ``WORLD_SIZE`` > 1.

    On CUDA each process uses ``cuda:LOCAL_RANK`` (whatever index ``device_name`` names).
    """
    ctx = from_env(environ)
    device = select_device(device_name)
    if not ctx.enabled:
        return ctx, device
    if device.type == "mps":
        raise ConfigError(
            "distributed training (WORLD_SIZE > 1) is not supported on MPS; use trainer.device=cpu"
        )
    if device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK={ctx.local_rank} but only {torch.cuda.device_count()} CUDA GPU(s) are "
                "visible; use --nproc_per_node at most the number of GPUs"
            )
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        env = os.environ if environ is None else environ
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
        if missing:
            raise ConfigError(
                f"WORLD_SIZE={ctx.world_size} but {' and '.join(missing)} is not set; "
                "start distributed training with torchrun --nproc_per_node=N"
            )
        dist.init_process_group(backend_for(device), rank=ctx.rank, world_size=ctx.world_size)
        global _joined
        _joined = True
    return ctx, device


def wrap(model: nn.Module, device: torch.device, ctx: Context) -> nn.Module:
    """``model`` in DistributedDataParallel when distributed (gradients averaged over processes), else itself.

    Keep a reference to ``model`` itself for ``state_dict()`` and evaluation (no ``module.`` prefix,
    no collective calls).
    """
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or ``model`` itself)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def shard_size(n: int, ctx: Context) -> int:
    """Samples per process per epoch: ``ceil(n / world_size)`` (the padded split of :func:`shard`)."""
    return math.ceil(n / ctx.world_size) if ctx.enabled else n


def shard(order: Sequence[int], ctx: Context) -> list[int]:
    """This process's part of an epoch's sample ``order``, as ``DistributedSampler(drop_last=False)``.

    The order is padded by repeating its start to a multiple of ``world_size``, then process ``r``
    takes positions ``r, r + world_size, …``; every process gets :func:`shard_size` samples.
    """
    order = list(order)
    if not ctx.enabled or not order:
        return order
    total = shard_size(len(order), ctx) * ctx.world_size
    padding = total - len(order)
    padded = order + (order * math.ceil(padding / len(order)))[:padding]
    return padded[ctx.rank : total : ctx.world_size]


def any_flag(flag: bool, ctx: Context) -> bool:
    """True on every process if ``flag`` is true on any (one all-reduce); ``flag`` itself when not distributed."""
    if not ctx.enabled or not dist.is_initialized():
        return flag
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def finish(ctx: Context, run_dir: str | Path) -> None:
    """End of training: wait for every process; a non-main process removes its own Hydra run dir if it
    holds nothing but ``.hydra`` (each torchrun process composes its own run dir; rank 0's keeps the
    results). Leaves the process group if :func:`setup` joined it."""
    if not ctx.enabled:
        return
    if dist.is_initialized():
        dist.barrier()
    run_dir = Path(run_dir)
    if not ctx.is_main and run_dir.is_dir() and all(p.name == ".hydra" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)
    if _joined:
        cleanup()


def cleanup() -> None:
    """Leave the process group (if this process joined one)."""
    global _joined
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _joined = False


__all__ = [
    "Context",
    "any_flag",
    "backend_for",
    "cleanup",
    "finish",
    "from_env",
    "setup",
    "shard",
    "shard_size",
    "unwrap",
    "wrap",
]
