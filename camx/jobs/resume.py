"""``trainer.resume``: which run a training run continues, whether it may, and marking it continued.

A run continues another's ``last.pt``: ``trainer.resume=true`` picks the latest interrupted run of the
same model and head under ``outputs_dir``, ``trainer.resume=PATH`` names a run dir or its
``checkpoints/last.pt``. Once the new run holds its own resumable state, the old run's ``run.json``
says ``"status": "resumed"`` so the next ``resume=true`` skips it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from camx.errors import CheckpointError
from camx.runs import find_runs, write_run_record

#: options that change the network but not its tensors (the weights would load into either), and the
#: value a checkpoint written before the option existed was trained with
SHAPE_FREE_OPTIONS = (("classifier", "full"), ("output_stride", 32))


def resume_source(cfg: Mapping[str, Any]) -> Path | None:
    """The ``last.pt`` this run continues (``trainer.resume``), or None for a fresh run."""
    resume = cfg["trainer"]["resume"]
    if resume in (False, None, "false", "False"):
        return None
    if resume not in (True, "true", "True"):
        path = Path(str(resume))
        path = path / "checkpoints" / "last.pt" if path.is_dir() else path
        if not path.is_file():
            raise CheckpointError(
                f"trainer.resume={resume}: no last.pt there; pass a run dir or its checkpoints/last.pt"
            )
        return path
    arch, head = cfg["model"]["arch"], cfg["model"]["head"]
    for rec in find_runs(cfg["outputs_dir"], arch=arch, head=head):
        last = Path(rec["run_dir"]) / "checkpoints" / "last.pt"
        # "running" with a pid is a live run (recover_stale marked the dead ones "interrupted")
        live = rec.get("status") == "running" and "pid" in rec
        if rec.get("status") not in ("finished", "resumed", "diverged") and not live and last.is_file():
            return last
    raise CheckpointError(
        f"trainer.resume=true but no interrupted {arch}/{head} run was found under {cfg['outputs_dir']}; "
        "start a fresh run without trainer.resume"
    )


def check_resumable(state: Mapping[str, Any], source: Path, model_cfg: Mapping[str, Any]) -> None:
    """A CheckpointError unless the run saved in ``state`` was built as ``model_cfg`` asks."""
    if (state.get("arch"), state.get("head")) != (model_cfg["arch"], model_cfg["head"]):
        raise CheckpointError(
            f"{source}: a {state.get('arch')}/{state.get('head')} run cannot resume "
            f"{model_cfg['arch']}/{model_cfg['head']}"
        )
    saved = state.get("model") or {}
    for key, before in SHAPE_FREE_OPTIONS:
        theirs, ours = saved.get(key, before), model_cfg[key]
        if str(theirs) != str(ours):
            raise CheckpointError(
                f"{source}: that run was trained with model.{key}={theirs}, this one asks for "
                f"model.{key}={ours}; pass model.{key}={theirs} to resume it, or start a new run"
            )


def mark_resumed(source: Path, run_dir: Path) -> None:
    """Record in the source run's ``run.json`` that ``run_dir`` continues it, so ``resume=true`` skips it next time."""
    rec_path = source.parent.parent / "run.json"
    try:
        rec = json.loads(rec_path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(rec, dict) and rec.get("status") != "finished":
        write_run_record(
            rec_path.parent, {**rec, "status": "resumed", "resumed_by": str(Path(run_dir).resolve())}
        )


__all__ = ["check_resumable", "mark_resumed", "resume_source"]
