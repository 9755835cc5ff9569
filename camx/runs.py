"""Training runs on disk: their ``run.json`` records, and which checkpoints a job uses.

Each training run dir holds ``run.json`` (arch, head, dataset, paths, status) next to its
``checkpoints/``: finding "the latest checkpoint of resnet50/dropkey" reads these small per-run
files, so concurrent runs never share a file that could be corrupted. Nothing here opens a
checkpoint, so this module needs no torch: a missing checkpoint, or none trained yet, is reported
before torch is imported. Reading checkpoints is :mod:`camx.checkpoint`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camx.atomic import atomic_write_text
from camx.errors import CheckpointError, check_checkpoint_file
from camx.options.model import HEADS, is_external

__all__ = [
    "Pretrained",
    "discard_if_empty",
    "find_runs",
    "read_run_record",
    "latest_checkpoints",
    "pretrained_source",
    "resolve_checkpoints",
    "write_run_record",
]


@dataclass(frozen=True)
class Pretrained:
    """A pretrained classifier a job explains as it is (no camx checkpoint): ``model.arch`` with ``model.weights``."""

    arch: str
    weights: str
    class_names: tuple[str, ...] | None = None  #: ``model.class_names``: its classes' names, in output order

    @property
    def label(self) -> str:
        """A file-name-safe label: ``resnet50-imagenet``, ``timm-vit_small_patch16_224-mystate``."""
        kind = self.weights if self.weights in ("imagenet", "none") else Path(self.weights).stem
        return re.sub(r"[^\w.+-]+", "-", f"{self.arch}-{kind}")

    def __str__(self) -> str:  # what records and messages call it
        return f"{self.arch} ({self.weights} weights)"


def pretrained_source(cfg: Mapping[str, Any]) -> Pretrained | None:
    """The pretrained classifier an explain/eval job uses: with no ``checkpoint``/``checkpoints``, when
    ``model.weights`` is not ``none`` or ``model.arch`` names another library's model; else None."""
    if (
        cfg.get("task") not in ("explain", "eval", "sanity")
        or cfg.get("checkpoint")
        or cfg.get("checkpoints")
    ):
        return None
    arch, weights = str(cfg["model"]["arch"]), str(cfg["model"]["weights"])
    if weights == "none" and not is_external(arch):
        return None
    names = cfg["model"].get("class_names")
    return Pretrained(arch, weights, tuple(str(n) for n in names) if names else None)


def write_run_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` of a training run (atomically)."""
    atomic_write_text(Path(run_dir) / "run.json", json.dumps(record, indent=2, default=str))


def read_run_record(run_dir: str | Path) -> dict[str, Any] | None:
    """``run.json`` of ``run_dir`` as a dict, or None if it is missing, unreadable or not a JSON object."""
    try:
        rec = json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def discard_if_empty(run_dir: str | Path) -> None:
    """Tidy the run dir of a job that failed: remove its empty folders (e.g. ``checkpoints/`` when no
    checkpoint could be written), then the run dir itself if nothing but Hydra's ``.hydra`` is left."""
    run_dir = Path(run_dir)
    try:
        if not run_dir.is_dir():
            return
        for sub in run_dir.iterdir():
            if sub.is_dir() and sub.name != ".hydra" and not any(sub.iterdir()):
                sub.rmdir()
        if all(p.name == ".hydra" for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
    except OSError:  # the file system that refused the job's write may refuse this too: leave it
        pass


def find_runs(
    outputs_dir: str | Path, *, arch: str | None = None, head: str | None = None
) -> list[dict[str, Any]]:
    """Every training run under ``outputs_dir`` (newest first) with a usable checkpoint, filtered by arch/head.

    A ``run.json`` that cannot be read or parsed, is not a JSON object or lacks arch/head (a file from
    elsewhere, or one being replaced) is skipped, as is a run whose checkpoint vanishes while looking.
    """
    runs = []
    root = Path(outputs_dir)
    if not root.is_dir():
        return []
    for rec_path in root.rglob("run.json"):
        try:
            rec = json.loads(rec_path.read_text())
        except (OSError, ValueError):
            continue
        if (
            not isinstance(rec, dict)
            or rec.get("task") != "train"
            or not all(isinstance(rec.get(k), str) for k in ("arch", "head"))
        ):
            continue
        if (arch and rec.get("arch") != arch) or (head and rec.get("head") != head):
            continue
        best = rec_path.parent / "checkpoints" / "best.pt"
        last = rec_path.parent / "checkpoints" / "last.pt"
        ckpt = best if best.is_file() else last if last.is_file() else None
        if ckpt is None:
            continue
        try:
            mtime = ckpt.stat().st_mtime
        except OSError:
            continue
        rec["checkpoint"] = str(ckpt)
        rec["run_dir"] = str(rec_path.parent)
        rec["_mtime"] = mtime
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
    return {h: found[h] for h in HEADS if h in found}


def resolve_checkpoints(cfg: Mapping[str, Any], *, all_heads: bool) -> dict[str, str | Pretrained]:
    """Label → checkpoint path (or :class:`Pretrained` classifier, see :func:`pretrained_source`) of the
    models a job uses.

    Explicit ``checkpoint``/``checkpoints`` win (a folder among them stands for every training run below
    it, e.g. a ``camx train -m`` sweep dir, labelled by run folder, optionally only ``heads``); otherwise the latest trained checkpoint of
    ``model.arch`` for ``model.head`` (``all_heads=False``) or for every trained head (optionally only
    ``heads``). Nothing found → one CheckpointError saying how to train one.
    """
    pretrained = pretrained_source(cfg)
    if pretrained is not None:
        return {pretrained.label: pretrained}
    explicit = [str(p) for p in (cfg.get("checkpoints") or [])]
    if cfg.get("checkpoint"):
        explicit = [str(cfg["checkpoint"])]
    only = list(cfg["heads"]) if cfg.get("heads") else None
    explicit = [c for p in explicit for c in (_runs_below(p, only) if Path(p).is_dir() else [p])]
    if explicit:
        found: dict[str, str | Pretrained] = {}
        for path in explicit:
            check_checkpoint_file(path)
            label = (
                Path(path).parent.parent.name if Path(path).parent.name == "checkpoints" else Path(path).stem
            )
            found[label if label not in found else f"{label}#{len(found)}"] = path
        return found
    arch, outputs = cfg["model"]["arch"], cfg["outputs_dir"]
    heads = list(cfg["heads"]) if cfg.get("heads") else (None if all_heads else [cfg["model"]["head"]])
    found = latest_checkpoints(outputs, arch, heads)
    if not found:
        which = f"{arch}/{'|'.join(heads)}" if heads else arch
        args = [f"model.head={heads[0]}" if heads and heads[0] != "plain" else ""]
        args.append("" if arch == "resnet50" else f"model={arch}")
        command = " ".join(["camx train", *filter(None, args)])
        raise CheckpointError(
            f"no trained {which} checkpoint under {outputs}/; train one with `{command}` or pass --checkpoint PATH "
            f"(or explain a pretrained classifier: model.weights=imagenet, model.arch=timm/<name>)"
        )
    return found


def _runs_below(folder: str, heads: list[str] | None) -> list[str]:
    """The checkpoint of every training run below ``folder`` (a run dir, a train sweep, any folder of runs) of
    one of ``heads``, in job order; a run's ``checkpoints/`` folder itself stands for its ``best.pt``."""
    runs = [r for r in find_runs(folder) if heads is None or r["head"] in heads]
    direct = [Path(folder) / n for n in ("best.pt", "last.pt") if (Path(folder) / n).is_file()]
    if not runs and direct:  # a run's checkpoints/ folder itself
        return [str(direct[0])]
    if not runs:
        which = f"{'/'.join(heads)} " if heads else ""
        raise CheckpointError(
            f"{folder}: no trained {which}checkpoint below this folder; pass a `camx train -m` sweep dir "
            "(outputs/multirun/<date>_train_…) or checkpoint files"
        )

    def order(rec: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(rec["run_dir"])))

    return [rec["checkpoint"] for rec in sorted(runs, key=order)]
