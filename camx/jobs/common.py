"""What explain and eval share: which checkpoints to use, and how to run CAM methods in batches."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camx.checkpoint import find_runs, latest_checkpoints, load_checkpoint
from camx.config import methods_of
from camx.errors import CheckpointError


def resolve_checkpoints(cfg: Mapping[str, Any], *, all_heads: bool) -> dict[str, str]:
    """Label → checkpoint path of the models a job uses.

    Explicit ``checkpoint``/``checkpoints`` win (a folder among them stands for every training run below
    it, e.g. a ``camx train -m`` sweep dir, labelled by run folder, optionally only ``heads``); otherwise the latest trained checkpoint of
    ``model.arch`` for ``model.head`` (``all_heads=False``) or for every trained head (optionally only
    ``heads``). Nothing found → one CheckpointError saying how to train one.
    """
    explicit = [str(p) for p in (cfg.get("checkpoints") or [])]
    if cfg.get("checkpoint"):
        explicit = [str(cfg["checkpoint"])]
    only = list(cfg["heads"]) if cfg.get("heads") else None
    explicit = [c for p in explicit for c in (_runs_below(p, only) if Path(p).is_dir() else [p])]
    if explicit:
        found: dict[str, str] = {}
        for path in explicit:
            if not Path(path).is_file():
                raise CheckpointError(
                    f"{path}: no such checkpoint file; pass an existing path or train one with `camx train`"
                )
            label = (
                Path(path).parent.parent.name if Path(path).parent.name == "checkpoints" else Path(path).stem
            )
            found[label if label not in found else f"{label}#{len(found)}"] = path
        return found
    arch, outputs = cfg["model"]["arch"], cfg.get("outputs_dir", "outputs")
    heads = list(cfg["heads"]) if cfg.get("heads") else (None if all_heads else [cfg["model"]["head"]])
    found = latest_checkpoints(outputs, arch, heads)
    if not found:
        which = f"{arch}/{'|'.join(heads)}" if heads else arch
        example = f"model.head={heads[0]} " if heads and heads[0] != "plain" else ""
        raise CheckpointError(
            f"no trained {which} checkpoint under {outputs}/; train one with `camx train {example}"
            f"{'' if arch == 'resnet50' else 'model=' + arch}`".rstrip()
            + " or pass --checkpoint PATH"
        )
    return found


def _runs_below(folder: str, heads: list[str] | None) -> list[str]:
    """The checkpoint of every training run below ``folder`` (a train sweep) of one of ``heads``, in job order."""
    runs = [r for r in find_runs(folder) if heads is None or r["head"] in heads]
    if not runs:
        which = f"{'/'.join(heads)} " if heads else ""
        raise CheckpointError(
            f"{folder}: no trained {which}checkpoint below this folder; pass a `camx train -m` sweep dir "
            "(outputs/multirun/<date>_train_…) or checkpoint files"
        )

    def order(rec: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(rec["run_dir"])))

    return [rec["checkpoint"] for rec in sorted(runs, key=order)]


def load_for_job(path: str, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    model, meta = load_checkpoint(path, map_location="cpu")
    return model.to(device).eval(), meta


def method_options(cfg: Mapping[str, Any], method: str) -> dict[str, Any]:
    """Options of ``method``: the ``cam`` group's options when it selects this method, else the method's defaults."""
    cam = cfg.get("cam") or {}
    if cam.get("name") == method:
        return dict(cam.get("options") or {})
    return {}


__all__ = ["load_for_job", "method_options", "methods_of", "resolve_checkpoints"]


def preflight(cfg: Mapping[str, Any]) -> None:
    """Checks that need the file system, run before a job creates its run dir: checkpoints and inputs exist."""
    task = cfg.get("task")
    if task == "explain":
        if cfg.get("checkpoint"):
            resolve_checkpoints(cfg, all_heads=False)  # an explicit path that does not exist is named first
        from camx.data.images import collect_images
        from camx.errors import DataError

        files, failures = collect_images(list(cfg.get("inputs") or []))
        if not files:
            reasons = "; ".join(f"{f.path}: {f.reason}" for f in failures[:3])
            raise DataError(f"no readable image among the inputs ({reasons})")
        resolve_checkpoints(cfg, all_heads=cfg.get("heads") is not None and not cfg.get("checkpoint"))
    elif task == "eval":
        found = resolve_checkpoints(cfg, all_heads=True)
        if cfg.get("checkpoints"):
            for path in found.values():
                load_checkpoint(path)
    if task in ("explain",) and cfg.get("checkpoint"):
        load_checkpoint(cfg["checkpoint"])
    init = (cfg.get("model") or {}).get("init_backbone")
    if task == "train" and init:  # the file, its architecture and output stride (train checks the tensors)
        from camx.checkpoint import backbone_state

        backbone_state(init, cfg["model"]["arch"], int(cfg["model"].get("output_stride", 32)))
