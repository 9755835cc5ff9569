"""The models explain and eval explain: a checkpoint (or pretrained classifier) loaded for a job, and
the mapping of a dataset's classes onto a pretrained classifier's.

The torch-free parts live elsewhere: which checkpoints a job uses in
:func:`camx.runs.resolve_checkpoints`, the checks before it starts in :func:`camx.jobs.preflight.preflight`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from camx.checkpoint import load_checkpoint
from camx.errors import ConfigError
from camx.runs import Pretrained


def load_for_job(source: str | Pretrained, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint at ``source`` (or the pretrained classifier it names) as a model on ``device`` in
    eval mode, and its metadata (arch, head, num_classes, class_names, image_size)."""
    if isinstance(source, Pretrained):
        from camx.models.pretrained import load_pretrained

        model = load_pretrained(source.arch, source.weights, class_names=source.class_names)
        meta = {
            "arch": source.arch,
            "head": "pretrained",
            "num_classes": len(model.class_names),
            "class_names": list(model.class_names),
            "image_size": model.input_size,
            "weights": source.weights,
        }
        return model.to(device).eval(), meta
    model, meta = load_checkpoint(source, map_location="cpu")
    return model.to(device).eval(), meta


def _key(name: str) -> str:
    return " ".join(str(name).replace("_", " ").replace("-", " ").lower().split())


def class_index_map(dataset_classes: Sequence[str], model_classes: Sequence[str], what: str) -> torch.Tensor:
    """Index of each dataset class among ``model_classes`` (names compared ignoring case, ``_``, ``-``),
    so a pretrained classifier is scored on a folder whose class folders carry its class names
    (``photos/tabby/…``, ``photos/golden_retriever/…``). A class it lacks is a ConfigError."""
    index = {_key(c): i for i, c in enumerate(model_classes)}
    missing = [c for c in dataset_classes if _key(c) not in index]
    if missing:
        names = ",".join(dataset_classes) if len(dataset_classes) <= 12 else "<the folder names, sorted>"
        raise ConfigError(
            f"dataset class {missing[0]!r} is not a class of {what} ({len(missing)} of {len(dataset_classes)} "
            f"classes missing); if the model was trained on these folders, pass "
            f"'model.class_names=[{names}]', else name the class folders as the "
            f"model's classes (e.g. {model_classes[0]!r})"
        )
    return torch.tensor([index[_key(c)] for c in dataset_classes], dtype=torch.long)


__all__ = ["class_index_map", "load_for_job"]
