"""Checkpoints from elsewhere: never run code, and every unusable file is one clear CheckpointError."""

from __future__ import annotations

import os
import pickle
import stat
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import camx

from camx.checkpoint import FORMAT, check_checkpoint, load_checkpoint, read_checkpoint, save_checkpoint
from camx.errors import CheckpointError
from camx.runs import find_runs

os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)
ENV = {"OMP_NUM_THREADS": "1"}


class _RunsShell:
    """Unpickling calls ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


class _WritesFile:
    """Unpickling calls ``builtins.exec`` on code that writes a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _evil(path: Path, payload: object) -> Path:
    torch.save(
        {
            "format": FORMAT,
            "arch": "resnet50",
            "head": "plain",
            "num_classes": 4,
            "state_dict": {"w": torch.zeros(1)},
            "x": payload,
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def real(trained: Path) -> Path:
    """A smoke-trained resnet50/plain checkpoint (4 classes)."""
    return Path(find_runs(trained / "outputs", arch="resnet50", head="plain")[0]["checkpoint"])


@pytest.mark.parametrize("kind", ["os.system", "exec"])
def test_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "PWNED"
    payload = _RunsShell(f"touch {marker}") if kind == "os.system" else _WritesFile(marker)
    path = _evil(tmp_path / "evil.pt", payload)
    for load in (read_checkpoint, load_checkpoint):
        with pytest.raises(CheckpointError, match="refused to load") as info:
            load(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
        assert "weights_only" not in str(info.value)  # no advice to load it unsafely
        assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: an unsafe load does run it
    assert marker.exists()


def test_cli_refuses_evil_checkpoint_with_one_line(tmp_path: Path) -> None:
    from camx.data.shapes import export_samples

    (img,) = export_samples(str(tmp_path / "i"), 1)
    marker = tmp_path / "PWNED"
    evil = _evil(tmp_path / "evil.pt", _RunsShell(f"touch {marker}"))
    res = camx("explain", img, "--checkpoint", str(evil), cwd=tmp_path, env=ENV)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "refused to load" in lines[0] and "evil.pt" in lines[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert not marker.exists()
    assert not (tmp_path / "outputs").exists()


def test_checkpoint_of_another_model_names_both(real: Path) -> None:
    for key, want in (("arch", "vgg16"), ("head", "dropkey"), ("num_classes", 8)):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(real, **{key: want})
        msg = str(info.value)
        assert "resnet50/plain" in msg and "4 classes" in msg and f"{key}={want!r}" in msg, msg
    model, meta = load_checkpoint(real, arch="resnet50", head="plain", num_classes=4)
    assert meta["arch"] == "resnet50" and not model.training


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (  # class names edited to match (otherwise their count is what is refused, see test_cli_hostile.py)
            {"num_classes": 8, "class_names": [f"c{i}" for i in range(8)]},
            ["resnet50/plain with 8 classes", "head.fc.weight is (4, 2048) in the file but (8, 2048)"],
        ),
        ({"head": "dropkey"}, ["resnet50/dropkey", "missing, e.g. head.embed"]),
        ({"arch": "vgg16"}, ["vgg16", "cannot build"]),
    ],
)
def test_weights_that_do_not_fit_the_claimed_model(
    real: Path, tmp_path: Path, change: dict, needles: list[str]
) -> None:
    data = {k: v for k, v in read_checkpoint(real).items() if k != "format"}
    path = tmp_path / "mixed.pt"
    save_checkpoint(path, {**data, **change})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    for needle in needles:
        assert needle in msg, msg
    # the preflight's check (meta-device build, tensors assigned) finds the same fault, worded the same
    with pytest.raises(CheckpointError) as quick:
        check_checkpoint(path)
    assert str(quick.value) == msg
    check_checkpoint(real)


def _cut(real: Path, dest: Path, fraction: float) -> Path:
    with real.open("rb") as src:
        dest.write_bytes(src.read(int(real.stat().st_size * fraction)))
    return dest


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda real, p: _cut(real, p, 0.5), "truncated or corrupt"),
        (lambda real, p: _cut(real, p, 0.001), "truncated or corrupt"),
        (lambda real, p: p.write_text("hello, I am a text file\n") and p, "not a PyTorch checkpoint"),
        (lambda real, p: p.write_bytes(b"") == 0 and p, "empty"),
        (lambda real, p: p.write_bytes(pickle.dumps({"state_dict": {}})) and p, "not a PyTorch checkpoint"),
        (lambda real, p: zipfile.ZipFile(p, "w").close() or p, "not a PyTorch checkpoint"),
        (lambda real, p: _zip(p, {"a.txt": "hi"}), "not a PyTorch checkpoint"),
        (lambda real, p: _zip(p, {"archive/data.pkl": "garbage", "archive/version": "3"}), "corrupt"),
        (lambda real, p: torch.save([1, 2, 3], p) or p, "not a camx checkpoint"),
        (
            lambda real, p: torch.save({"format": FORMAT, "state_dict": {}}, p) or p,
            "incomplete camx checkpoint",
        ),
    ],
    ids=[
        "half",
        "head-only",
        "text",
        "empty",
        "pickle",
        "empty-zip",
        "other-zip",
        "bad-data-pkl",
        "list",
        "no-arch",
    ],
)
def test_unusable_files_are_one_clear_error(real: Path, tmp_path: Path, make, needle: str) -> None:
    path = make(real, tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert needle in msg and str(path) in msg and "\n" not in msg, msg


def test_a_missing_checkpoint_reads_the_same_from_every_entry_point(tmp_path: Path) -> None:
    """Reading a checkpoint (camx.checkpoint) and choosing a job's checkpoints (camx.runs) share one message."""
    from camx.runs import resolve_checkpoints

    missing = tmp_path / "missing.pt"
    messages = []
    for call in (
        lambda: read_checkpoint(missing),
        lambda: resolve_checkpoints({"checkpoints": [str(missing)]}, all_heads=True),
        lambda: resolve_checkpoints({"checkpoint": str(missing)}, all_heads=False),
    ):
        with pytest.raises(CheckpointError) as info:
            call()
        messages.append(str(info.value))
    assert (
        messages
        == [
            f"{missing}: no such checkpoint file (nothing is there); check the path, or train one with `camx train`"
        ]
        * 3
    )
    with pytest.raises(CheckpointError, match=r"no such checkpoint file \(it is a folder\); check the path"):
        read_checkpoint(tmp_path)


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def test_cli_truncated_checkpoint_is_one_line_exit_2(real: Path, tmp_path: Path) -> None:
    from camx.data.shapes import export_samples

    (img,) = export_samples(str(tmp_path / "i"), 1)
    half = _cut(real, tmp_path / "half.pt", 0.5)
    res = camx("explain", img, "--checkpoint", str(half), cwd=tmp_path, env=ENV)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "truncated or corrupt" in lines[0] and "Traceback" not in res.stderr


def test_save_is_atomic_and_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(
        path, {"state_dict": {"w": torch.ones(2)}, "arch": "resnet50", "head": "plain", "num_classes": 2}
    )
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - whatever torch.save raises for an unpicklable object
        save_checkpoint(
            path, {"state_dict": {}, "arch": "x", "head": "y", "num_classes": 2, "bad": lambda: 0}
        )
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not the temp file's private 0600
