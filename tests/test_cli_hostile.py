"""Issue 22 through the real CLI: where runs may write, failing disks, odd image names, edited checkpoints,
what a killed run leaves behind, and ``--checkpoint`` folders."""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import camx
from PIL import Image

from camx.checkpoint import FORMAT
from camx.runs import find_runs

ENV = {"OMP_NUM_THREADS": "1"}


def _lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (200, 40, 40)).save(path)
    return path


# ------------------------------------------------------------------------ 1. where a run may write


@pytest.mark.parametrize(
    "args",
    [
        ["train", "experiment=smoke", "outputs_dir="],
        ["train", "experiment=smoke", "outputs_dir=/"],
        ["eval", "experiment=smoke", "outputs_dir=//.."],
        ["train", "experiment=smoke", "hydra.run.dir=/"],
    ],
)
def test_empty_or_root_output_folder_is_refused_before_any_work(
    tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from camx.cli.main import app
    from typer.testing import CliRunner

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, args)  # in-process: the check runs before Hydra launches anything
    lines = _lines(res.stderr)
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit) and len(lines) == 1, res.output
    assert "empty" in lines[0] or "file-system root" in lines[0]
    assert "run dir:" not in res.stdout and not list(tmp_path.iterdir())


# ------------------------------------------------------------------- 2. the file system refuses a write


def _limited(args: list[str], cwd: Path, limit: int) -> subprocess.CompletedProcess:
    """``camx *args`` with files limited to ``limit`` bytes (``ulimit -f``), SIGXFSZ ignored: writes past it fail with EFBIG."""

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    exe = Path(sys.executable).with_name("camx")
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore", **ENV}
    return subprocess.run(
        [str(exe), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_files,
    )


def test_train_past_the_file_size_limit_is_exit_3_and_recorded_as_failed(tmp_path: Path) -> None:
    res = _limited(
        ["train", "experiment=smoke", "dataset.train_size=16", "dataset.val_size=8"], tmp_path, 1_000_000
    )
    lines = _lines(res.stderr)
    assert res.returncode == 3, res.stdout + res.stderr
    assert len(lines) == 1 and "best.pt: cannot write: File too large (EFBIG)" in lines[0], lines
    assert "Traceback" not in res.stdout + res.stderr
    (record,) = list(tmp_path.rglob("run.json"))
    rec = json.loads(record.read_text())
    assert rec["status"] == "failed" and "EFBIG" in rec["reason"]
    assert [p.name for p in record.parent.rglob("*") if ".hydra" not in p.parts] == ["run.json"]


def test_explain_past_the_file_size_limit_is_exit_3_and_leaves_no_run_dir(
    trained: Path, tmp_path: Path
) -> None:
    img = _png(tmp_path / "x.png")
    res = _limited(
        [
            "explain",
            str(img),
            "experiment=smoke",
            f"outputs_dir={tmp_path / 'out'}",
            "--checkpoint",
            str(_ckpt(trained)),
        ],
        trained,
        6_000,
    )
    lines = _lines(res.stderr)
    assert res.returncode == 3 and len(lines) == 1 and "(EFBIG)" in lines[0], res.stdout + res.stderr
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no run dir, no half-written PNG


def test_read_only_output_folder_is_exit_3_before_any_work(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes")
        res = camx("train", "experiment=smoke", f"outputs_dir={ro / 'out'}", cwd=tmp_path, env=ENV)
    finally:
        ro.chmod(0o755)
    lines = _lines(res.stderr)
    assert res.returncode == 3 and len(lines) == 1 and "EACCES" in lines[0], res.stderr


# ------------------------------------------------------------ 4 and 7. image names, --checkpoint folders


def _ckpt(trained: Path) -> Path:
    return Path(find_runs(trained / "outputs", arch="resnet50", head="plain")[0]["checkpoint"])


def test_image_names_are_literal_and_checkpoint_may_be_a_sweep_dir(trained: Path, tmp_path: Path) -> None:
    odd = [_png(tmp_path / "imgs" / name) for name in ("a=b.png", "${oc.env:HOME}.png", "plain.png")]
    sweep = next(p for p in (trained / "outputs" / "multirun").iterdir() if "_train_" in p.name)
    out = tmp_path / "out"
    res = camx(
        "explain",
        *map(str, odd[:2]),  # as a shell glob expands them
        "experiment=smoke",
        f"outputs_dir={out}",
        "--checkpoint",
        str(sweep),
        "--",
        str(odd[2]),
        cwd=trained,
        env=ENV,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    run_dir = Path(res.stdout.split("run dir:")[1].split()[0])
    grids = sorted(p.name for p in run_dir.glob("*_grid.png"))  # both heads of the sweep: a grid
    assert grids == ["${oc.env:HOME}_grid.png", "a=b_grid.png", "plain_grid.png"]


# ----------------------------------------------------------------------------- 5. edited checkpoints


def _edited(path: Path, **fields: object) -> Path:
    data = {"format": FORMAT, "state_dict": {}, "arch": "resnet50", "head": "plain", "num_classes": 4}
    data.update(class_names=["circle", "square", "triangle", "star"], image_size=32, camx_version="0.1.0")
    torch.save({**data, **fields}, path)
    return path


def test_edited_checkpoint_is_refused_alike_by_explain_and_eval(tmp_path: Path) -> None:
    ckpt = _edited(tmp_path / "edited.pt", class_names=["circle", "square"])
    img = _png(tmp_path / "x.png")
    for args in (["explain", str(img), "--checkpoint", str(ckpt)], ["eval", "--checkpoint", str(ckpt)]):
        res = camx(*args, "experiment=smoke", cwd=tmp_path, env=ENV)
        lines = _lines(res.stderr)
        assert res.returncode == 2 and len(lines) == 1, (args, res.stderr)
        assert "class_names holds 2 names but the head has num_classes=4" in lines[0], lines
        assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"image_size": "abc"}, "field image_size 'abc' is not an integer"),
        ({"image_size": 10**9}, "field image_size 1000000000 is not an integer"),
        ({"num_classes": True}, "field num_classes True is not a positive integer"),
        ({"arch": "resnet18"}, "field arch 'resnet18' is not one of"),
        ({"head": ["plain"]}, "field head ['plain'] is not one of"),
        ({"class_names": "abcd"}, "field class_names is not a list of names"),
        ({"camx_version": "9.0.0"}, "field camx_version 9.0.0 is newer than this camx"),
        ({"camx_version": 3}, "field camx_version 3 is not a version"),
    ],
)
def test_checkpoint_metadata_is_validated_field_by_field(tmp_path: Path, fields: dict, needle: str) -> None:
    from camx.checkpoint import read_checkpoint
    from camx.errors import CheckpointError

    with pytest.raises(CheckpointError, match="edited|upgrade") as info:
        read_checkpoint(_edited(tmp_path / "e.pt", **fields))
    assert needle in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------- 6. what a killed run leaves behind


def test_next_run_tidies_a_killed_run_and_a_held_resume_lock_refuses(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that is gone
    run = tmp_path / "outputs" / "train" / "killed"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    temp = run / "checkpoints" / ".last.pt.k2j3.tmp"
    temp.write_bytes(b"partial")
    record = {"task": "train", "arch": "resnet50", "head": "plain", "status": "running"}
    (run / "run.json").write_text(json.dumps({**record, "pid": dead.pid, "host": socket.gethostname()}))
    with open(run / ".resume.lock", "w") as lock:  # another resume of this run holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()} {socket.gethostname()}\n")
        lock.flush()
        res = camx("train", "experiment=smoke", "trainer.resume=true", cwd=tmp_path, env=ENV)
    lines = _lines(res.stderr)
    assert res.returncode == 2 and len(lines) == 1 and "already being resumed" in lines[0], res.stderr
    assert str(os.getpid()) in lines[0]
    assert not temp.exists()
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "interrupted" and str(dead.pid) in rec["reason"]
    assert sorted(p.name for p in (tmp_path / "outputs" / "train").iterdir()) == ["killed"]  # no new run dir
