"""Devices, seeds and run identity: what every job needs before it touches data."""

from __future__ import annotations

import os
import platform
import random
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from camx.errors import ConfigError, plural

if TYPE_CHECKING:
    import torch

_RUN_UID = f"{os.getpid():x}{secrets.token_hex(2)}"


def run_uid() -> str:
    """A short id unique to this process: two camx processes started in the same second get distinct run dirs."""
    return _RUN_UID


def select_device(name: str = "auto") -> torch.device:
    """``auto`` → cuda if available, else mps, else cpu; an explicit device must be available."""
    import torch

    name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"trainer.device={name!r} is not a device; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but no CUDA GPU is visible; use trainer.device=auto or cpu")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError(f"trainer.device={name} but MPS is not available; use trainer.device=auto or cpu")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary() -> str:
    """``AMD EPYC 7B13, 2 cores, Python 3.11.7, torch 2.14.1``: the machine a result came from."""
    import torch

    cores = os.cpu_count()
    count = plural(cores, "core") if cores else "unknown cores"
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu_model()}, {count}{gpu}, Python {platform.python_version()}, torch {torch.__version__}"
