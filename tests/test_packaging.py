"""Packaging: every config-group folder is a listed package (so setuptools ships it without a
warning), and a non-editable install — the wheel pip builds from this tree — runs ``camx`` with its
configs from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_config_folder_is_a_listed_package_with_its_yaml() -> None:
    setup = _pyproject()["tool"]["setuptools"]
    folders = {
        "camx.configs." + ".".join(p.relative_to(ROOT / "configs").parts)
        for p in (ROOT / "configs").rglob("*")
        if p.is_dir() and p.name != "__pycache__"
    }
    listed = {p for p in setup["packages"] if p.startswith("camx.configs.")}
    assert listed == folders
    assert all(setup["package-data"].get(p) == ["*.yaml"] for p in folders)


def test_wheel_ships_the_configs_and_runs_outside_the_tree(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", minversion="77")
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheel_dir), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = wheel_dir.glob("camx-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    yamls = {f"camx/configs/{p.relative_to(ROOT / 'configs')}" for p in (ROOT / "configs").rglob("*.yaml")}
    assert yamls <= names, sorted(yamls - names)[:5]
    assert "camx/cli/main.py" in names and not any(n.startswith("tests/") for n in names)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}  # ahead of the editable install's finder
    code = "import camx, camx.cli.main as m, sys; print(camx.__file__); sys.argv=['camx', *sys.argv[1:]]; m.main()"
    res = subprocess.run(
        [sys.executable, "-c", code, "eval", "--cfg", "job", "perturb=noise_sweep"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(str(site)), res.stdout[:200]
    assert "noise" in res.stdout and "task: eval" in res.stdout
