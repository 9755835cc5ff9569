"""``camx eval``: how predictions and heatmaps of trained checkpoints hold up under perturbations.

For every (checkpoint, perturbation, level) the images of the evaluation split are perturbed once,
forwarded once, and — for every CAM method and baseline — explained and scored against the
ground-truth masks. Every figure is aggregated as a mean with a 95% confidence interval over images
and written as long-format records (see :mod:`camx.results`).

The job runs in three steps per batch: the :func:`conditions` (``none``, clean, level 0, first; then
each selected perturbation at each of its levels, or with ``compose=true`` their chained product) →
one pass that explains all conditions together and gives every method's maps and the predicted
probabilities (:func:`maps_and_probs`) → the metric tables, scored per condition (and per method).
Maps explain the true class of each image.

Adding a metric
---------------
A metric is one entry of a table keyed by its id, in :mod:`camx.jobs.eval_metrics`:
:data:`PREDICTION_METRICS` (scored once per condition, from the probabilities) or :data:`MAP_METRICS`
(scored for every method's maps). An entry
is a function ``Scoring → {metric name: per-image values}``: it reads what it needs from the
:class:`Scoring` (images, labels, probabilities, masks, maps, the clean maps, the eval config, the
images' keys and seed for random draws, the method as a function to explain other inputs) and
returns ``{}`` when it does not apply (no masks, switched off in ``configs/eval.yaml``). Each name
it returns becomes a ``metric`` of ``metrics.json``, summarised over images as mean and 95% CI::

    def _complexity(s: Scoring) -> Scores:          # camx/jobs/eval_metrics.py
        if not s.cfg["complexity"]:
            return {}
        return {"sparseness": sparseness(s.maps), "complexity": complexity(s.maps)}  # (B,) each

    MAP_METRICS = {..., "complexity": _complexity}   # one more line in the table

and the name it returns to :data:`camx.options.metrics.METRICS` (report order, ``fail_under`` gates,
which way it improves: :data:`~camx.options.metrics.HIGHER_IS_BETTER`).

With ``dataset=imagefolder``, unreadable images are left out of every figure and reported once each
through ``Reporter.note`` (and in :attr:`EvalResult.skipped`). A checkpoint whose logits are NaN or
infinite stops the job with a CheckpointError rather than filling the tables with meaningless values.
Same config and seed on CPU → the same ``metrics.json`` (apart from its ``created`` time, and the
``seconds_per_image`` records that ``timing=true`` adds: each method's wall time per image, one value
per batch, filed under the clean condition).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from camx import figures
from camx.cam.inference import inference_copy, inference_layout
from camx.config import methods_of
from camx.data.augment import head_label
from camx.data.datasets import build_dataset, resolve_image_size
from camx.data.transforms import normalize, stats_of
from camx.data.unreadable import SkipLog, drop_unreadable
from camx.jobs.eval_conditions import Condition, Perturbed, conditions, perturb_all
from camx.jobs.eval_examples import image_names, keep_examples
from camx.jobs.eval_metrics import MAP_METRICS, PREDICTION_METRICS, Accumulator, Scoring, method_explainer
from camx.jobs.explain import check_finite_logits, explain_checked
from camx.jobs.models import class_index_map, load_for_job
from camx.jobs.progress import SILENT, Reporter
from camx.models.target_layer import check_target_layer
from camx.options.cam import explain_settings, method_options
from camx.results import write_metrics
from camx.runs import resolve_checkpoints
from camx.runtime import seed_everything, select_device


@dataclass
class EvalResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    examples: dict[tuple[str, str, str, Any], list[Any]] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)  #: unreadable image path → reason (imagefolder)
    names: dict[int, str] = field(default_factory=dict)  #: image number in the split → its file (imagefolder)


# --- what is evaluated, and with which checkpoint --------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """The eval config, read once: conditions, methods and how they are grouped into passes."""

    cfg: Mapping[str, Any]
    conds: list[Condition]
    methods: list[str]
    groups: list[tuple[list[str], dict[str, dict[str, Any]]]]  #: methods explained together, their options
    seed: int
    batch_size: int
    mc: int
    timing: bool


def _plan(cfg: Mapping[str, Any]) -> _Plan:
    methods = methods_of(cfg) if cfg["map_metrics"] else []
    baselines = [b for b in (cfg["baselines"] or []) if b not in methods] if methods else []
    timing, mc = bool(cfg["timing"]), int(cfg["cam"]["mc_samples"])
    # Methods explained together share their forward/backward pass (camx.explain_many); with
    # Monte-Carlo sampling the baselines get one pass of their own. timing=true explains every method
    # alone, so its seconds are that method's own.
    if timing:
        groups = [[m] for m in methods + baselines]
    elif mc > 1:
        groups = [methods, baselines]
    else:
        groups = [methods + baselines]
    return _Plan(
        cfg,
        conditions(cfg),
        methods,
        [(g, {m: method_options(cfg, m) for m in g}) for g in groups if g],
        int(cfg["seed"]),
        int(cfg["batch_size"]),
        mc,
        timing,
    )


@dataclass
class _Checkpoint:
    """One loaded checkpoint: its model, target layer, class mapping and the record fields it adds."""

    label: str
    path: Any
    model: nn.Module
    layer: str | list[str] | None  #: several layers: maps fused by cam.fuse
    relabel: torch.Tensor | None  #: dataset class → model class (pretrained classifiers), else None
    class_names: list[str] | None  #: the model's own class names when it scores in them
    info: dict[str, Any]
    device: torch.device
    fast: nn.Module | None = None  #: the metrics' inference copy of ``model``, made on first use

    def forward(self, images01: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities of [0, 1] images, for the metrics' forwards (maps use ``model`` itself):
        the BatchNorm-folded, channels-last :func:`~camx.cam.inference.inference_copy` of an eval-mode
        model, the same function up to float rounding (~1e-7 on the probabilities) and several times faster
        on a CPU."""
        if self.fast is None:  # the weights do not change during the job: fold once
            self.fast = inference_copy(self.model)
        model = self.fast
        x = normalize(images01.to(self.device), self.model).contiguous(
            memory_format=inference_layout(self.device)
        )
        with torch.inference_mode():
            return model(x).float().softmax(1)


def _load(
    label: str, path: Any, cfg: Mapping[str, Any], dataset: Dataset, device: torch.device
) -> _Checkpoint:
    model, meta = load_for_job(path, device)
    layer = check_target_layer(model, cfg["model"]["target_layer"], f"{path} ({meta['arch']}/{meta['head']})")
    relabel, names = None, None
    if meta["head"] == "pretrained":  # score it in its own classes: the folders carry their names
        relabel = class_index_map(list(getattr(dataset, "classes", [])), meta["class_names"], str(path))
        names = meta["class_names"]
    info = {
        "arch": meta["arch"],
        "path": str(path),
        "head": head_label(meta["head"], meta.get("config")),  # plain+noise: trainer.noise_augment
        "seed": (meta.get("config") or {}).get("trainer", {}).get("seed"),
        "mask_ratio": (
            meta.get("model", {}).get("mask_ratio") if meta["head"] in ("dropout", "dropkey") else None
        ),
    }
    return _Checkpoint(label, path, model, layer, relabel, names, info, device)


def _eval_split(cfg: Mapping[str, Any]) -> tuple[Dataset, Subset]:
    """The evaluated split and its first ``max_images`` images."""
    data_cfg = resolve_image_size(cfg["dataset"], cfg["model"])[0]  # image_size=auto: as train chose it
    dataset = build_dataset(data_cfg, data_cfg["split"])
    n = len(dataset) if cfg["max_images"] is None else min(len(dataset), int(cfg["max_images"]))
    return dataset, Subset(dataset, list(range(n)))


# --- the job ---------------------------------------------------------------------------------------


def evaluate(cfg: Mapping[str, Any], run_dir: str | Path, reporter: Reporter = SILENT) -> EvalResult:
    """Evaluate the selected checkpoints under every condition; write metrics files and figures into ``run_dir``."""
    started = time.perf_counter()
    seed_everything(int(cfg["seed"]))
    device = select_device(cfg["trainer"]["device"])
    checkpoints = resolve_checkpoints(cfg, all_heads=True)
    plan = _plan(cfg)
    dataset, subset = _eval_split(cfg)
    result, acc, log = EvalResult(), Accumulator(), SkipLog(reporter.note)
    result.skipped, result.names = log.items, image_names(dataset)
    log.add_failures([dataset])
    models: dict[str, dict[str, Any]] = {}
    class_names = list(getattr(dataset, "classes", []))
    masks_too = bool(getattr(dataset, "has_masks", False))
    reporter.begin("eval", len(checkpoints) * len(plan.conds) * len(subset))
    for label, path in checkpoints.items():
        ck = _load(label, path, cfg, dataset, device)
        models[label], class_names = ck.info, ck.class_names or class_names
        for batch_no, (images, labels, masks, keys) in _batches(plan, subset, ck, masks_too, log, reporter):
            perturbed = perturb_all(plan.conds, images, masks, plan.seed, keys, stats_of(ck.model)[1])
            maps, probs = maps_and_probs(plan, ck, perturbed, labels, acc)
            examples = result.examples if batch_no == 0 else None  # the first images go into the figures
            _score_batch(plan, ck, perturbed, maps, probs, labels, keys, acc, examples, reporter)
    reporter.end()
    result.records = acc.records(models)
    _write_outputs(cfg, Path(run_dir), result, models, plan.methods, class_names)
    result.seconds = time.perf_counter() - started
    return result


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, list[int]]


def _batches(
    plan: _Plan, subset: Subset, ck: _Checkpoint, masks_too: bool, log: SkipLog, reporter: Reporter
) -> Iterator[tuple[int, Batch]]:
    """(batch number, (images, labels, masks, keys)) of the readable images; keys number the images of the
    split (the perturbations' noise is seeded by them), labels are in the model's classes."""
    loader = DataLoader(
        subset, batch_size=plan.batch_size, generator=torch.Generator().manual_seed(plan.seed)
    )
    offset = 0
    for batch_no, batch in enumerate(loader):
        n = len(batch["label"])
        batch["key"] = torch.arange(offset, offset + n)
        offset += n
        batch = drop_unreadable(batch, log)  # imagefolder: leave out files that failed to decode
        left = 0 if batch is None else len(batch["label"])
        if left < n:
            reporter.advance((n - left) * len(plan.conds))
        if batch is None:
            continue
        labels = batch["label"] if ck.relabel is None else ck.relabel[batch["label"]]
        masks = batch["mask"].to(ck.device) if masks_too else None
        yield batch_no, (batch["image"].to(ck.device), labels.to(ck.device), masks, batch["key"].tolist())


def maps_and_probs(
    plan: _Plan, ck: _Checkpoint, perturbed: Perturbed, labels: torch.Tensor, acc: Accumulator
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every method's maps and the probabilities of every condition's images, conditions stacked in order.

    All conditions go through the model together, in chunks; the maps' own forward pass gives the
    probabilities (a plain forward only when no method is scored).
    """
    stacked = torch.cat([x for _, x, _ in perturbed])
    targets = labels.repeat(len(perturbed))
    chunk = max(plan.batch_size, 256)
    spans = [slice(i, i + chunk) for i in range(0, len(stacked), chunk)]
    maps: dict[str, torch.Tensor] = {}
    probs = None
    for group, options in plan.groups:
        tick = time.perf_counter()
        outs = [
            explain_checked(
                ck.path,
                ck.model,
                normalize(stacked[span], ck.model),
                group,
                targets=targets[span],
                mc_samples=plan.mc if group[0] in plan.methods else 1,
                target_layer=ck.layer,
                options=options,
                **explain_settings(plan.cfg),
            )
            for span in spans
        ]
        if plan.timing:  # one value per batch: its wall time over all conditions, per image
            per_image = (time.perf_counter() - tick) / len(stacked)
            acc.add(ck.label, group[0], plan.conds[0], "seconds_per_image", torch.tensor([per_image]))
        for method in group:
            maps[method] = torch.cat([o[method].maps for o in outs])
        if probs is None:
            probs = torch.cat([o[group[0]].probs.float() for o in outs])
    if probs is None:
        probs = torch.cat([ck.forward(stacked[span]) for span in spans])
        check_finite_logits(probs, ck.path)
    return maps, probs


def _score_batch(
    plan: _Plan,
    ck: _Checkpoint,
    perturbed: Perturbed,
    maps_all: Mapping[str, torch.Tensor],
    probs_all: torch.Tensor,
    labels: torch.Tensor,
    keys: list[int],
    acc: Accumulator,
    examples: dict[tuple[str, str, str, Any], list[Any]] | None,
    reporter: Reporter,
) -> None:
    """Score one batch under every condition with both metric tables (and keep ``examples`` if given);
    ``keys`` number the images in the split (the per-image seeds of the metrics' random draws)."""
    n = len(labels)
    clean: dict[str, torch.Tensor] = {}  # each method's maps of the clean images (the first condition)
    for ci, (cond, x, m) in enumerate(perturbed):
        rows = slice(ci * n, (ci + 1) * n)
        maps_of = {method: maps[rows] for method, maps in maps_all.items()}
        s = Scoring(
            plan.cfg,
            cond,
            ck.forward,
            x,
            labels,
            probs_all[rows],
            m,
            keys=keys,
            seed=plan.seed,
            fill=stats_of(ck.model)[0],
            # the explain pass's probabilities are ck.forward's up to rounding (not with Monte-Carlo sampling)
            shared={"maps": maps_of, **({"probs": probs_all[rows]} if plan.mc == 1 else {})},
        )
        acc.score(PREDICTION_METRICS, s, ck.label, None)
        for method, maps in maps_of.items():
            acc.score(
                MAP_METRICS,
                replace(
                    s,
                    maps=maps,
                    method=method,
                    clean=clean.get(method) if cond.steps else None,
                    explain=method_explainer(ck, plan.cfg, method, plan.mc if method in plan.methods else 1),
                    std=tuple(stats_of(ck.model)[1]),
                ),
                ck.label,
                method,
            )
            if not cond.steps:
                clean[method] = maps
        if examples is not None:
            keep_examples(examples, ck.label, s, maps_of)
        reporter.advance(n, model=ck.label, condition=f"{cond.name} {cond.level}")


def _write_outputs(
    cfg: Mapping[str, Any],
    run_dir: Path,
    result: EvalResult,
    models: Mapping[str, Mapping[str, Any]],
    methods: list[str],
    class_names: list[str],
) -> None:
    """``metrics.json``/``metrics.csv``, the figures (``figures=true``) and ``report.html``."""
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    result.written += write_metrics(run_dir, result.records, config, result.skipped)
    if cfg["figures"]:
        from camx.report.figures import draw_all

        with figures.settings(config):  # figure.dpi / figure.format
            dataset = str(cfg["dataset"]["name"])
            result.written += draw_all(result, run_dir, models, methods, class_names, dataset)
    from camx.report.eval_page import write_report

    result.written += write_report(result, run_dir, config, class_names, bool(cfg["figures"]))


__all__ = [
    "MAP_METRICS",
    "PREDICTION_METRICS",
    "Condition",
    "EvalResult",
    "Scoring",
    "conditions",
    "evaluate",
    "figures",
    "maps_and_probs",
    "perturb_all",
]
