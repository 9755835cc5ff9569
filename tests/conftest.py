"""Shared fixtures: a trained smoke run, made once per session through the real CLI.

Test files are named after the camx module they test: ``test_<package>_<module>.py`` for
``camx/<package>/<module>.py`` (``test_cam_fusion.py`` tests ``camx/cam/fusion.py``), ``test_<module>.py``
for a top-level module (``test_perturb.py``, ``test_checkpoint.py``), and ``test_cli*.py`` for runs of
the real ``camx`` command end to end. ``_cam_helpers.py`` and ``_configs.py`` are plain imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def camx(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``camx`` console script (the real CLI) in ``cwd``."""
    exe = Path(sys.executable).with_name("camx")
    full_env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workdir with smoke-trained resnet50 plain and dropkey checkpoints under outputs/ (a real 2-job sweep)."""
    work = tmp_path_factory.mktemp("work")
    res = camx("train", "-m", "experiment=smoke", "model.head=plain,dropkey", cwd=work)
    assert res.returncode == 0, res.stdout + res.stderr
    return work


@pytest.fixture
def one_thread():
    """One torch thread for the test (timings and reductions do not depend on the core count), restored after."""
    from _cam_helpers import single_thread

    with single_thread():
        yield
