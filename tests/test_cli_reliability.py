"""Reliability through the real CLI: bad images, bad configuration, interrupted and concurrent runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import camx
from PIL import Image

from camx.checkpoint import read_checkpoint
from camx.runs import find_runs

os.environ["OMP_NUM_THREADS"] = "1"  # subprocesses (and the session fixture) share two cores with other work
torch.set_num_threads(1)
ENV = {"OMP_NUM_THREADS": "1"}


def _run_dir(stdout: str) -> Path:
    return Path(stdout.split("run dir:")[1].split()[0])


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _png(path: Path, rgb: tuple[int, int, int], size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = np.array(rgb, np.float64)[None, None, :]
    arr = np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _truncated_png(path: Path) -> Path:
    """A PNG whose header reads fine but whose pixel data is cut off."""
    noise = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    full = path.with_suffix(".full")
    Image.fromarray(noise).save(full, format="PNG")
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


# --------------------------------------------------------------------------------------- 1. bad images


def test_explain_mixed_folder_explains_good_reports_each_bad_exit_2(trained: Path, tmp_path: Path) -> None:
    from camx.data.shapes import export_samples
    from camx.options.dataset import ShapesSpec

    folder = tmp_path / "mixed"
    good = [Path(p) for p in export_samples(str(folder), 2, spec=ShapesSpec(image_size=32, num_classes=4))]
    lying = folder / "really_a_png.jpg"  # opened by content: explained
    lying.write_bytes(good[0].read_bytes())
    bad = {
        folder / "notes.png": "not an image",
        folder / "empty.jpg": "not an image",
        _truncated_png(folder / "cut.png"): "truncated",
        folder / "tiny.png": "needs at least 8 px",
    }
    (folder / "notes.png").write_text("hello")
    (folder / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (4, 4)).save(folder / "tiny.png")
    missing = tmp_path / "missing.png"
    ckpt = find_runs(trained / "outputs", arch="resnet50", head="plain")[0]["checkpoint"]

    res = camx(
        "explain", str(folder), str(missing), "experiment=smoke", "--checkpoint", ckpt, cwd=trained, env=ENV
    )

    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    run_dir = _run_dir(res.stdout)
    for image in [*good, lying]:
        png = run_dir / f"{image.stem}_{Path(ckpt).parent.parent.name}.png"
        assert png.is_file(), sorted(p.name for p in run_dir.iterdir())
        with Image.open(png) as im:
            im.verify()  # complete, not half-written
    assert _no_temp_files(run_dir)
    lines = _error_lines(res.stderr)
    for path, reason in [*bad.items(), (missing, "no such file")]:
        mine = [ln for ln in lines if str(path) in ln]
        assert len(mine) == 1 and reason in mine[0], (path, lines)
    assert lines[-1].startswith("error: 5 input(s) could not be read")
    assert len(lines) == 6  # one per failure, one summary
    assert "probability" in res.stdout


def test_explain_only_bad_inputs_writes_nothing(trained: Path, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_text("x")
    before = set((trained / "outputs").rglob("*"))
    res = camx("explain", str(tmp_path / "a.png"), "experiment=smoke", cwd=trained, env=ENV)
    assert res.returncode == 2 and "no readable image" in res.stderr and "a.png" in res.stderr
    assert len(_error_lines(res.stderr)) == 1 and "Traceback" not in res.stderr
    new = set((trained / "outputs").rglob("*")) - before
    assert all(p.is_dir() and not any(p.iterdir()) for p in new), (
        new
    )  # at most the empty outputs/explain parent


def test_imagefolder_training_skips_and_reports_unreadable_files(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for split, n in (("train", 6), ("val", 2)):
        for k, (name, rgb) in enumerate((("cat", (40, 40, 40)), ("dog", (210, 210, 210)))):
            for i in range(n):
                _png(root / split / name / f"{i}.png", rgb, seed=100 * k + i)
    broken = root / "train" / "cat" / "broken.png"  # caught from its header when the dataset is built
    broken.write_text("not an image")
    cut = _truncated_png(root / "train" / "dog" / "cut.png")  # header fine: fails to decode, in a worker
    tiny = root / "val" / "cat" / "tiny.png"
    Image.new("RGB", (4, 4)).save(tiny)

    res = camx(
        "train",
        "experiment=smoke",
        "dataset=imagefolder",
        f"dataset.root={root}",
        "dataset.image_size=32",
        "trainer.workers=1",
        cwd=tmp_path,
        env=ENV,
    )

    assert res.returncode == 0, res.stdout + res.stderr
    notes = [ln for ln in res.stdout.splitlines() if ln.startswith("skipped unreadable image")]
    for path, reason in ((broken, "not an image"), (cut, "truncated"), (tiny, "8 px")):
        mine = [ln for ln in notes if str(path) in ln]
        assert len(mine) == 1 and reason in mine[0], (path, notes)
    assert "3 unreadable image(s) were skipped" in res.stdout
    run_dir = _run_dir(res.stdout)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished"
    assert sorted(s["path"] for s in record["skipped_images"]) == sorted(map(str, (broken, cut, tiny)))
    assert all(s["reason"] for s in record["skipped_images"])
    assert read_checkpoint(run_dir / "checkpoints" / "last.pt")["num_classes"] == 2


def test_imagefolder_dataset_drops_unreadable_headers_and_flags_decode_failures(tmp_path: Path) -> None:
    from camx.data.folder import ImageFolderDataset

    for name, rgb in (("a", (0, 0, 0)), ("b", (255, 255, 255))):
        _png(tmp_path / name / "ok.png", rgb)
    (tmp_path / "a" / "bad.jpg").write_text("text")
    cut = _truncated_png(tmp_path / "b" / "cut.png")
    ds = ImageFolderDataset(tmp_path, "train", 16, ratios=[1, 0, 0])
    assert [(Path(f.path).name, "not an image" in f.reason) for f in ds.failures] == [("bad.jpg", True)]
    assert len(ds) == 3
    samples = [ds[i] for i in range(len(ds))]
    flagged = [s for s in samples if not s["valid"]]
    assert [s["path"] for s in flagged] == [str(cut)] and "truncated" in flagged[0]["error"]
    assert all(s["valid"] and s["error"] == "" for s in samples if s["path"] != str(cut))


# --------------------------------------------------------------------------------- 2. bad configuration


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["eval", "perturb=rotation", "perturb.rotation.degrees=[nan]"], ["rotation.degrees=nan", "finite"]),
        (["train", "model=vgg16", "dataset.image_size=24"], ["too small", "vgg16", "at least 32"]),
        (["explain", "x.png", "--method", "nosuch"], ["'nosuch'", "choose one of", "gradcam"]),
        (["train", "model.target_layer=layer9"], ["model.target_layer='layer9'", "layer4", "layer3"]),
        (["train", "trainer.fooo=1"], ["trainer.fooo", "valid keys", "batch_size"]),
        (["train", "dataset.imgsize=3"], ["did you mean dataset.image_size=3?"]),
        (["eval", "perturb.rotation.degrees=[10]"], ["perturb has no 'rotation'", "perturb=rotation"]),
        (["train", "trainer.epochs=abc"], ["trainer.epochs='abc' is not an integer"]),
        (["train", "model.dim=abc"], ["model.dim='abc' is not an integer", "[1, 65536]"]),
    ],
)
def test_bad_configuration_is_one_line_exit_2_no_run_dir(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    res = camx(*args, cwd=tmp_path, env=ENV)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not (tmp_path / "outputs").exists()


def test_explain_unknown_target_layer_names_checkpoint_and_leaves_no_run_dir(
    trained: Path, tmp_path: Path
) -> None:
    from camx.data.shapes import export_samples

    (img,) = export_samples(str(tmp_path / "i"), 1)
    ckpt = find_runs(trained / "outputs", arch="resnet50", head="plain")[0]["checkpoint"]
    explain_dir = trained / "outputs" / "explain"
    before = set(explain_dir.iterdir()) if explain_dir.is_dir() else set()
    res = camx("explain", img, "--checkpoint", ckpt, "model.target_layer=layer9", cwd=trained, env=ENV)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and "layer9" in lines[0] and "layer4" in lines[0] and ckpt in lines[0]
    assert set(explain_dir.iterdir()) == before


# --------------------------------------------------------------------------- 4. interrupted and concurrent

# dropkey: its DropKey draws come from the global RNG, which resuming must restore exactly; one worker
# process per epoch, which must survive a Ctrl-C sent to the whole process group. 2 epochs of 8 steps.
BASE = [
    "train",
    "experiment=smoke",
    "model.head=dropkey",
    "dataset.train_size=128",
    "trainer.epochs=2",
    "trainer.batch_size=16",
    "trainer.workers=1",
]


def _interrupt(args: list[str], cwd: Path, sig: signal.Signals, delay: float = 0.5) -> tuple[int, str]:
    """Start ``camx *args``, wait until it is inside its training loop, signal its whole process group (like
    Ctrl-C in a terminal, DataLoader workers included) and return (exit code, stderr)."""
    exe = Path(sys.executable).with_name("camx")
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore", **ENV}
    before = set(cwd.rglob("run.json"))
    proc = subprocess.Popen(
        [str(exe), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            fresh = [p for p in cwd.rglob("run.json") if p not in before]
            if fresh and json.loads(fresh[0].read_text()).get("status") == "running":
                break
            time.sleep(0.05)
        time.sleep(delay)
        assert proc.poll() is None, "training ended before it could be interrupted"
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, err


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def test_sigterm_then_sigint_then_resume_reaches_the_uninterrupted_weights(tmp_path: Path) -> None:
    work, ref = tmp_path / "work", tmp_path / "ref"
    work.mkdir()
    ref.mkdir()

    code, err = _interrupt(BASE, work, signal.SIGTERM)
    assert code == 130, err
    assert "Traceback" not in err and "trainer.resume=true" in err
    (first,) = [r for r in work.rglob("run.json")]
    assert json.loads(first.read_text())["status"] == "interrupted"
    state = read_checkpoint(first.parent / "checkpoints" / "last.pt")
    position = state["position"]
    assert 1 <= position["step"] <= 8  # the signal stops training after the step in progress
    assert _no_temp_files(first.parent)

    code, err = _interrupt([*BASE, "trainer.resume=true"], work, signal.SIGINT)
    assert code == 130, err
    assert json.loads(first.read_text())["status"] == "resumed"  # never resumed twice
    (second,) = [r for r in work.rglob("run.json") if r != first]
    assert read_checkpoint(second.parent / "checkpoints" / "last.pt")["position"] != position

    res = camx(*BASE, "trainer.resume=true", cwd=work, env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    resumed = _run_dir(res.stdout)
    assert json.loads((resumed / "run.json").read_text())["resumed_from"].startswith(str(second.parent))

    res = camx(*BASE, cwd=ref, env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    straight = _run_dir(res.stdout)

    for name in ("last.pt", "best.pt"):
        a, b = _weights(resumed / "checkpoints" / name), _weights(straight / "checkpoints" / name)
        assert a.keys() == b.keys()
        different = [k for k in a if not torch.equal(a[k], b[k])]
        assert not different, f"{name}: {len(different)} tensors differ, e.g. {different[:3]}"


def test_two_runs_started_at_once_get_their_own_run_dirs(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("camx")
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore", **ENV}
    procs = [
        subprocess.Popen(
            [str(exe), "train", "experiment=smoke"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    dirs = {_run_dir(out) for out, _ in outs}
    assert len(dirs) == 2
    for d in dirs:
        assert json.loads((d / "run.json").read_text())["status"] == "finished"
        for name in ("best.pt", "last.pt"):
            assert read_checkpoint(d / "checkpoints" / name)["arch"] == "resnet50"
        assert _no_temp_files(d)
    assert {r["run_dir"] for r in find_runs(tmp_path / "outputs")} == {str(d) for d in dirs}


def test_find_runs_skips_garbage_and_half_written_records(trained: Path, tmp_path: Path) -> None:
    import shutil

    outputs = tmp_path / "outputs"
    real = find_runs(trained / "outputs", arch="resnet50", head="plain")[0]
    good = outputs / "train" / "good"
    shutil.copytree(real["run_dir"], good, ignore=shutil.ignore_patterns("last.pt"))
    for name, text in (
        ("half", '{"task": "train", "arch": "resn'),
        ("garbage", "\x00\xffnot json"),
        ("list", "[1, 2]"),
        ("string", '"train"'),
        ("nohead", '{"task": "train", "arch": "resnet50"}'),
        ("nullhead", '{"task": "train", "arch": "resnet50", "head": null}'),
    ):
        bad = outputs / "train" / name
        (bad / "checkpoints").mkdir(parents=True)
        (bad / "run.json").write_bytes(text.encode("latin-1"))
        (bad / "checkpoints" / "best.pt").write_bytes(b"x")
    runs = find_runs(outputs)
    assert [r["run_dir"] for r in runs] == [str(good)]
    from camx.runs import latest_checkpoints

    assert latest_checkpoints(outputs, "resnet50") == {"plain": str(good / "checkpoints" / "best.pt")}
