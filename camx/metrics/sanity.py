"""Sanity checks for saliency maps: do the maps change when the model's weights are randomised?

Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity Checks for Saliency Maps", NeurIPS 2018,
§3 (model-parameter randomisation test). The model's parameterised blocks (:func:`units`) are
re-initialised, each with its own seeded ``reset_parameters()`` (PyTorch's default initialisation;
BatchNorm also forgets its running statistics), in two ways:

- **cascading**: from the logits down, step k randomises the top k blocks (the last step leaves no
  trained weight);
- **independent**: step k randomises block k alone, every other block stays trained.

At every step each method's maps of the same images, for the same target classes (the trained model's
predictions unless given), are compared with the trained model's maps, image by image: Spearman rank
correlation of the absolute maps and of the signed maps (CAMs are non-negative after their ReLU and
min–max, so the two coincide for them; saliency methods with signed maps would differ), and SSIM
(:func:`camx.metrics.stability.ssim`). A method whose maps keep a high similarity while the weights
they should explain are gone fails the check: the map shows the input or a prior, not the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from camx.metrics.stability import ssim
from camx.metrics.stats import Summary, mean_ci

MODES: tuple[str, ...] = ("cascading", "independent")
SIMILARITIES: tuple[str, ...] = ("spearman_abs", "spearman", "ssim")
SIMILARITY_RANGE = (-1.0, 1.0)  #: Spearman's ρ and SSIM: every similarity's CI is clipped to it
_CONTAINERS = (nn.Sequential, nn.ModuleList)


def units(model: nn.Module) -> list[str]:
    """The model's parameterised blocks in forward (registration) order, as dotted module names.

    The model's direct children, with ``nn.Sequential`` / ``nn.ModuleList`` children (and children of
    modules without direct parameters that only group others, e.g. a ``features`` wrapper) opened one
    level; modules without parameters are left out. EfficientNet-Lite0 (timm): conv_stem, bn1,
    blocks.0 … blocks.6, conv_head, bn2, classifier.
    """
    out: list[str] = []

    def visit(prefix: str, module: nn.Module, depth: int) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if not any(True for _ in child.parameters()):
                continue
            grouping = isinstance(child, _CONTAINERS) or not any(
                True for _ in child.parameters(recurse=False)
            )
            children = list(child.children())
            if depth < 1 and grouping and len(children) > 1 and not _is_leaf_block(child):
                visit(f"{full}.", child, depth + 1)
            else:
                out.append(full)

    visit("", model, 0)
    return out


def _is_leaf_block(module: nn.Module) -> bool:
    """A block that is one unit even though it has several children (a residual or MBConv block)."""
    return (
        not isinstance(module, _CONTAINERS)
        and type(module).forward is not nn.Module.forward
        and any(isinstance(c, (nn.Conv2d, nn.Linear)) for c in module.children())
    )


def count(model: nn.Module, blocks: Sequence[str] | None = None) -> int:
    """The number of randomisation steps of one mode: one per block (either mode)."""
    return len(units(model) if blocks is None else blocks)


def steps(names: Sequence[str], mode: str) -> list[tuple[str, list[str]]]:
    """[(label, blocks randomised)] of ``mode``: cascading from the last block (the logits) down, or
    one block at a time (independent), also from the logits down."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}; choose one of: {', '.join(MODES)}")
    top_down = list(reversed(names))
    if mode == "cascading":
        return [(name, top_down[: k + 1]) for k, name in enumerate(top_down)]
    return [(name, [name]) for name in top_down]


def randomized(model: nn.Module, names: Sequence[str], seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with the blocks ``names`` re-initialised (``reset_parameters()`` of
    every submodule that has it, block i under ``torch.manual_seed(seed + i)``, i its index in
    ``names``); the model itself is left untouched."""
    copy_ = copy.deepcopy(model)
    modules = dict(copy_.named_modules())
    for i, name in enumerate(names):
        if name not in modules:
            raise ValueError(f"the model has no module {name!r}; blocks: {', '.join(units(model))}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed) + i)
            for sub in modules[name].modules():
                if hasattr(sub, "reset_parameters"):
                    sub.reset_parameters()
                if hasattr(sub, "reset_running_stats"):
                    sub.reset_running_stats()
    return copy_.eval()


def _ranks(x: Tensor) -> Tensor:
    """Ranks 1…n of a 1-D tensor, ties given their average rank."""
    order = torch.argsort(x, stable=True)
    sorted_x = x[order]
    _, counts = torch.unique_consecutive(sorted_x, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    avg = ends - (counts.to(torch.float64) - 1) / 2
    ranks = torch.empty_like(x, dtype=torch.float64)
    ranks[order] = torch.repeat_interleave(avg, counts)
    return ranks


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Per-image Spearman rank correlation of two (B, H, W) map batches: the Pearson correlation of
    the pixels' ranks (ties: average ranks); 0 when either map is constant. Returns (B,) float32."""
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(
            f"maps must be two (B, H, W) batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    out = []
    for x, y in zip(a.detach().double().reshape(len(a), -1), b.detach().double().reshape(len(b), -1)):
        rx, ry = _ranks(x), _ranks(y)
        dx, dy = rx - rx.mean(), ry - ry.mean()
        den = float((dx * dx).sum() * (dy * dy).sum()) ** 0.5
        out.append(0.0 if den == 0 else float((dx * dy).sum()) / den)
    return torch.tensor(out, dtype=torch.float32)


def similarities(trained: Tensor, other: Tensor) -> dict[str, Tensor]:
    """Every similarity of :data:`SIMILARITIES` between two (B, H, W) map batches, per image."""
    return {
        "spearman_abs": spearman(trained.abs(), other.abs()),
        "spearman": spearman(trained, other),
        "ssim": ssim(trained, other),
    }


@dataclass
class SanityResult:
    """Maps and similarities of one randomisation mode, for every method and step.

    ``maps[method]`` is (1 + steps, B, H, W): the trained model's maps first. ``values[method][k]``
    holds the per-image similarities of step k, ``summary(method, k, sim)`` their mean and 95% CI.
    """

    mode: str
    labels: list[str]  #: the block each step randomised last (cascading) or alone (independent)
    maps: dict[str, Tensor] = field(default_factory=dict)
    values: dict[str, list[dict[str, Tensor]]] = field(default_factory=dict)

    def summary(self, method: str, step: int, similarity: str) -> Summary:
        return mean_ci(self.values[method][step][similarity], bounds=SIMILARITY_RANGE)


def _maps(
    model: nn.Module, images: Tensor, methods: Sequence[str], targets: Tensor, explain_kw: Mapping[str, Any]
) -> dict[str, Tensor]:
    from camx.cam import explain_many

    res = explain_many(model, images, list(methods), targets=targets, **explain_kw)
    return {m: r.maps for m, r in res.items()}


def sanity_check(
    model: nn.Module,
    images: Tensor,
    methods: Sequence[str],
    *,
    mode: str = "cascading",
    blocks: Sequence[str] | None = None,
    targets: Tensor | Sequence[int] | None = None,
    seed: int = 0,
    progress: Callable[[int, str], None] | None = None,
    **explain_kw: Any,
) -> SanityResult:
    """The model-parameter randomisation test of ``methods`` on ``images`` (normalised, (B, 3, H, W)).

    ``blocks``: the blocks randomised, in forward order (default :func:`units`); ``mode``: cascading
    or independent (:func:`steps`); ``targets``: the classes explained at every step (default: the
    trained model's predictions, as in Adebayo et al.); ``explain_kw`` go to
    :func:`camx.cam.explain_many` (``target_layer``, ``size``, ``options``, …). The target layer is
    named in the trained model and found by the same name in every randomised copy. ``progress``,
    when given, is called as ``progress(len(methods), label)`` after the trained model's maps
    (label ``"trained"``) and after each step's (label: the block randomised last or alone), so a
    caller can advance a bar by method × step; there are ``len(methods) * (1 + steps)`` in all.
    """
    names = list(units(model) if blocks is None else blocks)
    plan = steps(names, mode)
    if targets is None:
        with torch.inference_mode():
            targets = model(images).argmax(1)
    targets = torch.as_tensor(targets)
    result = SanityResult(mode, [label for label, _ in plan])
    tick = progress or (lambda n, label: None)
    trained = _maps(model, images, methods, targets, explain_kw)
    tick(len(methods), "trained")
    per_step = []
    for label, randomised_blocks in plan:
        per_step.append(
            _maps(randomized(model, randomised_blocks, seed), images, methods, targets, explain_kw)
        )
        tick(len(methods), label)
    for m in methods:
        result.maps[m] = torch.stack([trained[m], *[s[m] for s in per_step]])
        result.values[m] = [similarities(trained[m], s[m]) for s in per_step]
    return result


#: A method fails the cascading test when its maps keep this much similarity on average over the cascade.
FAIL_AT = 0.5


def cascade_score(result: SanityResult, method: str, similarity: str = "spearman_abs") -> Summary:
    """Mean similarity over every step of ``result`` and every image (the area under the
    similarity-vs-depth curve, divided by the number of steps), with its 95% CI over images."""
    per_image = torch.stack([v[similarity] for v in result.values[method]]).mean(dim=0)
    return mean_ci(per_image, bounds=SIMILARITY_RANGE)


def passes(
    result: SanityResult, method: str, similarity: str = "spearman_abs", fail_at: float = FAIL_AT
) -> bool:
    """Whether ``method`` passes: its :func:`cascade_score` stays below ``fail_at`` (default 0.5).

    Adebayo et al. judge by eye that maps must change as the weights go; this reads "change" as a mean
    rank correlation with the trained maps under ½ over the steps. A model-independent map (the
    ``center`` and ``random`` baselines: 1.0 at every step) fails.
    """
    return cascade_score(result, method, similarity).mean < fail_at
