"""Checkpoints: written atomically, read without executing code, found by model and head.

A checkpoint is a plain dict of tensors and primitives (``torch.save``), loaded with
``torch.load(weights_only=True)`` so a file from elsewhere can never run code. It carries the
weights, the composed config, the class names, the metrics so far, the camx version and, for
``last.pt``, the optimizer/scheduler/RNG state needed to resume.

Each training run dir also holds ``run.json`` (arch, head, dataset, paths, status): finding "the
latest checkpoint of resnet50/dropkey" reads these small per-run files, so concurrent runs never
share a file that could be corrupted.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camx.errors import CheckpointError

FORMAT = "camx-checkpoint-1"


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Write through a temp file in the same folder and rename it into place (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (must hold ``state_dict``, ``arch``, ``head``, ``num_classes``) atomically."""
    data = {"format": FORMAT, **payload}
    atomic_write_bytes(Path(path), lambda fh: torch.save(data, fh))


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``); every failure is one clear CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; train one with `camx train` or pass an existing path")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: refused to load: the file holds Python objects other than tensors and plain data "
            f"(it could run code): {first[:200]}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (corrupt or truncated: {type(exc).__name__}); re-copy or retrain it"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "state_dict" not in data:
        raise CheckpointError(f"{path}: not a camx checkpoint (no '{FORMAT}' marker); use a file written by `camx train`")
    return data


def model_from_checkpoint(data: dict[str, Any], path: str | Path = "checkpoint") -> nn.Module:
    """Rebuild the model a checkpoint was trained as and load its weights."""
    from camx.models import build_model

    options = dict(data.get("model", {}))
    options.pop("weights", None)
    options.pop("arch", None)
    options.pop("head", None)
    model = build_model(data["arch"], data["head"], int(data["num_classes"]), **options)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit {data['arch']}/{data['head']}: {str(exc).splitlines()[0]}") from None
    return model.eval()


def load_checkpoint(
    path: str | Path,
    *,
    arch: str | None = None,
    head: str | None = None,
    num_classes: int | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Load ``path`` → (model in eval mode, metadata without the tensors).

    If ``arch``, ``head`` or ``num_classes`` is given and the checkpoint was trained otherwise,
    raise a CheckpointError naming both.
    """
    data = read_checkpoint(path, map_location)
    for key, want in (("arch", arch), ("head", head), ("num_classes", num_classes)):
        if want is not None and data.get(key) != want:
            raise CheckpointError(
                f"{path}: checkpoint is {key}={data.get(key)!r} but {key}={want!r} was requested; "
                f"pass a matching checkpoint or set model.{'arch' if key == 'arch' else key}={data.get(key)}"
            )
    model = model_from_checkpoint(data, path)
    meta = {k: v for k, v in data.items() if k not in ("state_dict", "optimizer", "scheduler", "rng")}
    meta["path"] = str(path)
    return model, meta


def write_run_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` of a training run (atomically)."""
    atomic_write_text(Path(run_dir) / "run.json", json.dumps(record, indent=2, default=str))


def find_runs(outputs_dir: str | Path, *, arch: str | None = None, head: str | None = None) -> list[dict[str, Any]]:
    """Every training run under ``outputs_dir`` (newest first) with a usable checkpoint, filtered by arch/head."""
    runs = []
    root = Path(outputs_dir)
    if not root.is_dir():
        return []
    for rec_path in root.rglob("run.json"):
        try:
            rec = json.loads(rec_path.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("task") != "train":
            continue
        if (arch and rec.get("arch") != arch) or (head and rec.get("head") != head):
            continue
        best = rec_path.parent / "checkpoints" / "best.pt"
        last = rec_path.parent / "checkpoints" / "last.pt"
        ckpt = best if best.is_file() else last if last.is_file() else None
        if ckpt is None:
            continue
        rec["checkpoint"] = str(ckpt)
        rec["run_dir"] = str(rec_path.parent)
        rec["_mtime"] = ckpt.stat().st_mtime
        runs.append(rec)
    runs.sort(key=lambda r: r["_mtime"], reverse=True)
    return runs


def latest_checkpoints(outputs_dir: str | Path, arch: str, heads: list[str] | None = None) -> dict[str, str]:
    """The newest checkpoint of each trained head of ``arch`` (optionally only ``heads``), head → path."""
    found: dict[str, str] = {}
    for rec in find_runs(outputs_dir, arch=arch):
        h = rec["head"]
        if (heads is None or h in heads) and h not in found:
            found[h] = rec["checkpoint"]
    from camx.models import HEADS

    return {h: found[h] for h in HEADS if h in found}
