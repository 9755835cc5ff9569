"""The test images an eval keeps for its figures and map gallery: a few per condition, one of each class
first (in batch order), with each method's maps and the images' numbers in the split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from camx.jobs.eval_metrics import Scoring

EXAMPLES = 4  # images per condition kept for the heatmap figures

#: (run, method, condition, level) → [images, maps, probs, labels, masks or None, keys]
Examples = dict[tuple[str, str, str, Any], list[Any]]


def spread(labels: Sequence[int], k: int) -> list[int]:
    """``k`` batch positions: the first image of each class, then the others, in batch order."""
    seen: set[int] = set()
    first, rest = [], []
    for i, y in enumerate(labels):
        (rest if y in seen else first).append(i)
        seen.add(y)
    return sorted((first + rest)[:k])


def keep_examples(examples: Examples, label: str, s: Scoring, maps_of: Mapping[str, torch.Tensor]) -> None:
    """:data:`EXAMPLES` images of a condition (:func:`spread` over the classes), with each method's maps."""
    pick = spread([int(y) for y in s.labels.tolist()], EXAMPLES)
    idx = torch.tensor(pick, dtype=torch.long, device=s.labels.device)
    keys = [s.keys[i] for i in pick] if s.keys is not None else pick
    cond = s.cond
    for method, maps in maps_of.items():
        examples[(label, method, cond.name, cond.level)] = [
            s.images[idx].cpu(),
            maps[idx.to(maps.device)].cpu(),
            s.probs[idx].cpu(),
            s.labels[idx].cpu(),
            None if s.masks is None else s.masks[idx].cpu(),
            keys,
        ]
    examples.setdefault(("", "", cond.name, cond.level), [s.images[idx].cpu()])


def image_names(dataset: Any) -> dict[int, str]:
    """Image number in the split → ``class_folder/file`` where the dataset knows its files (imagefolder)."""
    samples = getattr(dataset, "samples", None)
    if not isinstance(samples, list):
        return {}
    return {i: f"{s[0].parent.name}/{s[0].name}" for i, s in enumerate(samples) if hasattr(s[0], "parent")}
