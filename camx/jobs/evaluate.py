"""``camx eval``: how predictions and heatmaps of trained checkpoints hold up under perturbations.

For every (checkpoint, perturbation, level) the images of the evaluation split are perturbed once,
forwarded once, and — for every CAM method and baseline — explained and scored against the
ground-truth masks. Every figure is aggregated as a mean with a 95% confidence interval over images
and written as long-format records (see :mod:`camx.results`).

Maps explain the true class of each image. Conditions: ``none`` (clean, level 0) first, then each
selected perturbation at each of its levels (or, with ``compose=true``, their chained product).

With ``dataset=imagefolder``, unreadable images are left out of every figure and reported once each
through ``Reporter.note`` (and in :attr:`EvalResult.skipped`). A checkpoint whose logits are NaN or
infinite stops the job with a CheckpointError rather than filling the tables with meaningless values.
Same config and seed on CPU → the same ``metrics.json`` (apart from its ``created`` time, and the
``seconds_per_image`` records that ``timing=true`` adds: each method's wall time per image, one value
per batch, filed under the clean condition).
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from camx import figures
from camx import metrics as M
from camx import perturb as P
from camx.config import levels_of, methods_of, perturbation_grid
from camx.data.datasets import build_dataset, resolve_image_size
from camx.data.transforms import normalize
from camx.jobs.common import class_index_map, load_for_job, method_options
from camx.jobs.explain import check_finite_logits, explain_checked
from camx.jobs.progress import SILENT, Reporter
from camx.jobs.train import check_target_layer, unreadable
from camx.results import write_metrics
from camx.runs import resolve_checkpoints
from camx.runtime import seed_everything, select_device

EXAMPLES = 4  # images per condition kept for the heatmap figures


@dataclass(frozen=True)
class Condition:
    """One perturbation setting: ``steps`` applied in order (empty → clean)."""

    name: str
    level: float | str
    steps: tuple[tuple[str, float], ...]
    axis: str = "horizontal"

    @property
    def geometric(self) -> bool:
        return any(kind in P.GEOMETRIC for kind, _ in self.steps)


@dataclass
class EvalResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    examples: dict[tuple[str, str, str, Any], list[Any]] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)  #: unreadable image path → reason (imagefolder)


def conditions(cfg: Mapping[str, Any]) -> list[Condition]:
    """Clean first, then each perturbation level (or the chained product with ``compose``)."""
    out = [Condition("none", 0.0, ())]
    grid = [(kind, params) for kind, params in perturbation_grid(cfg.get("perturb")) if kind != "none"]
    axis = next((str(p.get("axis")) for k, p in grid if k == "stretch" and p.get("axis")), "horizontal")
    if cfg.get("compose") and len(grid) > 1:
        names = "+".join(k for k, _ in grid)
        for combo in itertools.product(*[levels_of(k, p) for k, p in grid]):
            level = "+".join(f"{v:g}" for v in combo)
            out.append(Condition(names, level, tuple(zip([k for k, _ in grid], combo)), axis))
        return out
    for kind, params in grid:
        for level in levels_of(kind, params):
            out.append(Condition(kind, level, ((kind, level),), str(params.get("axis", axis))))
    return out


class _Accumulator:
    """Per-image values per (checkpoint, method, condition, metric), summarised into records."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str | None, str, Any, str], list[float]] = defaultdict(list)

    def add(self, label: str, method: str | None, cond: Condition, metric: str, values: torch.Tensor) -> None:
        self.values[(label, method, cond.name, cond.level, metric)] += values.detach().float().cpu().tolist()

    def records(self, models: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for (label, method, cond, level, metric), vals in self.values.items():
            s = M.mean_ci(vals)
            if s.n == 0:
                continue
            info = models[label]
            out.append(
                {
                    "model": info["arch"],
                    "head": info.get("head", label),
                    "run": label,
                    "seed": info.get("seed"),
                    "mask_ratio": info.get("mask_ratio"),
                    "checkpoint": info["path"],
                    "method": method,
                    "perturbation": cond,
                    "level": level,
                    "metric": metric,
                    "value": s.mean,
                    "ci_low": s.ci_low,
                    "ci_high": s.ci_high,
                    "n": s.n,
                }
            )
        return out


def evaluate(cfg: Mapping[str, Any], run_dir: str | Path, reporter: Reporter = SILENT) -> EvalResult:
    """Evaluate the selected checkpoints under every condition; write metrics files and figures into ``run_dir``."""

    started = time.perf_counter()
    run_dir = Path(run_dir)
    seed = int(cfg.get("seed", 0))
    seed_everything(seed)
    device = select_device(cfg["trainer"].get("device", "auto"))
    checkpoints = resolve_checkpoints(cfg, all_heads=True)
    data_cfg = resolve_image_size(cfg["dataset"], cfg["model"])[0]  # image_size=auto: as train chose it
    dataset = build_dataset(data_cfg, data_cfg.get("split", "test"))
    n_images = len(dataset) if cfg.get("max_images") is None else min(len(dataset), int(cfg["max_images"]))
    subset = Subset(dataset, list(range(n_images)))
    has_masks = bool(getattr(dataset, "has_masks", False))
    conds = conditions(cfg)
    map_metrics = bool(cfg.get("map_metrics", True))
    methods = methods_of(cfg) if map_metrics else []
    baselines = [b for b in (cfg.get("baselines") or []) if b not in methods] if methods else []
    cam_cfg = cfg.get("cam") or {}
    steps = int(cfg.get("faithfulness_steps", 16))
    average_drop = bool(cfg.get("average_drop", True))
    threshold = float(cfg.get("iou_threshold", 0.5))
    batch_size = int(cfg.get("batch_size", 50))
    timing = bool(cfg.get("timing", False))
    mc = int(cam_cfg.get("mc_samples", 1))
    # Methods explained together share their forward/backward pass (camx.explain_many); with
    # Monte-Carlo sampling the baselines get one pass of their own. timing=true explains every method
    # alone, so its seconds are that method's own.
    if timing:
        groups = [[m] for m in methods + baselines]
    elif mc > 1:
        groups = [methods, baselines]
    else:
        groups = [methods + baselines]
    method_groups = [(g, {m: method_options(cfg, m) for m in g}) for g in groups if g]
    acc = _Accumulator()
    result = EvalResult()
    models: dict[str, dict[str, Any]] = {}
    class_names = list(getattr(dataset, "classes", []))

    def skip(found: Mapping[str, str]) -> None:
        for path, reason in found.items():
            if path not in result.skipped:
                result.skipped[path] = reason
                reporter.note(f"skipped unreadable image {path}: {reason}")

    skip({f.path: f.reason for f in getattr(dataset, "failures", [])})
    total = len(checkpoints) * len(conds) * n_images
    reporter.begin("eval", total)
    for label, path in checkpoints.items():
        model, meta = load_for_job(path, device)
        layer = check_target_layer(
            model, cfg["model"].get("target_layer"), f"{path} ({meta['arch']}/{meta['head']})"
        )
        relabel = None
        if meta["head"] == "pretrained":  # score it in its own classes: the folders carry their names
            relabel = class_index_map(list(getattr(dataset, "classes", [])), meta["class_names"], str(path))
            class_names = meta["class_names"]
        models[label] = {
            "arch": meta["arch"],
            "path": str(path),
            "head": meta["head"],
            "seed": (meta.get("config") or {}).get("trainer", {}).get("seed"),
            "mask_ratio": (
                meta.get("model", {}).get("mask_ratio") if meta["head"] in ("dropout", "dropkey") else None
            ),
        }

        def forward(images01: torch.Tensor, _model: Any = model) -> torch.Tensor:
            with torch.inference_mode():
                return _model(normalize(images01.to(device), _model)).float().softmax(1)

        offset = 0
        loader = DataLoader(subset, batch_size=batch_size, generator=torch.Generator().manual_seed(seed))
        for batch_no, batch in enumerate(loader):
            images = batch["image"].to(device)
            labels = (batch["label"] if relabel is None else relabel[batch["label"]]).to(device)
            masks = batch["mask"].to(device) if has_masks else None
            keys = list(range(offset, offset + len(labels)))
            offset += len(labels)
            if "valid" in batch:  # imagefolder: leave out files that failed to decode
                skip(unreadable(batch))
                keep = batch["valid"].bool()
                if not bool(keep.all()):
                    reporter.advance(int((~keep).sum()) * len(conds))
                    images, labels = images[keep.to(device)], labels[keep.to(device)]
                    masks = masks[keep.to(device)] if masks is not None else None
                    keys = [k for k, ok in zip(keys, keep.tolist()) if ok]
                    if not keys:
                        continue
            # every level of every perturbation of this batch goes through the model together (in chunks)
            perturbed = []
            for cond in conds:
                if cond.steps:
                    x, m = P.apply_chain(
                        list(cond.steps), images, masks=masks, seed=seed, keys=keys, axis=cond.axis
                    )
                else:
                    x, m = images, masks
                perturbed.append((cond, x, m))
            stacked = torch.cat([x for _, x, _ in perturbed])
            all_labels = labels.repeat(len(conds))
            chunk = max(batch_size, 256)
            maps_all: dict[str, torch.Tensor] = {}
            probs_all = None
            for group, options in method_groups:
                tick = time.perf_counter()
                outs = [
                    explain_checked(
                        path,
                        model,
                        normalize(stacked[i : i + chunk], model),
                        group,
                        targets=all_labels[i : i + chunk],
                        mc_samples=mc if group[0] in methods else 1,
                        chunk_size=cam_cfg.get("chunk_size", "auto"),
                        target_layer=layer,
                        reshape=cfg["model"].get("reshape"),
                        options=options,
                    )
                    for i in range(0, len(stacked), chunk)
                ]
                if timing:  # one value per batch: its wall time over all conditions, per image
                    per_image = (time.perf_counter() - tick) / len(stacked)
                    acc.add(label, group[0], conds[0], "seconds_per_image", torch.tensor([per_image]))
                for method in group:
                    maps_all[method] = torch.cat([o[method].maps for o in outs])
                if probs_all is None:  # the maps' own forward gives the predictions too
                    probs_all = torch.cat([o[group[0]].probs.float() for o in outs])
            if probs_all is None:
                probs_all = torch.cat(
                    [forward(stacked[i : i + chunk]) for i in range(0, len(stacked), chunk)]
                )
                check_finite_logits(probs_all, path)
            clean_maps: dict[str, torch.Tensor] = {}
            n = len(labels)
            for ci, (cond, x, m) in enumerate(perturbed):
                probs = probs_all[ci * n : (ci + 1) * n]
                maps_of = {method: maps[ci * n : (ci + 1) * n] for method, maps in maps_all.items()}
                pred = probs.argmax(1)
                acc.add(label, None, cond, "accuracy", (pred == labels).float())
                acc.add(label, None, cond, "confidence", probs.gather(1, labels[:, None])[:, 0])
                acc.add(label, None, cond, "confidence_pred", probs.max(1).values)
                for method, maps in maps_of.items():
                    if average_drop:
                        drop, inc = M.average_drop_increase(forward, x, maps, labels, base_probs=probs)
                        acc.add(label, method, cond, "average_drop", drop)
                        acc.add(label, method, cond, "increase_in_confidence", inc)
                    if steps > 0:
                        dele, ins = M.deletion_insertion_auc(forward, x, maps, labels, steps=steps)
                        acc.add(label, method, cond, "deletion_auc", dele)
                        acc.add(label, method, cond, "insertion_auc", ins)
                    if m is not None:
                        present = M.has_object(m)
                        if bool(present.any()):
                            acc.add(label, method, cond, "pointing_game", M.pointing_game(maps, m)[present])
                            acc.add(
                                label,
                                method,
                                cond,
                                "energy_pointing_game",
                                M.energy_pointing_game(maps, m)[present],
                            )
                            acc.add(label, method, cond, "iou", M.iou(maps, m, threshold)[present])
                    if not cond.steps:
                        clean_maps[method] = maps
                    elif method in clean_maps:
                        ref = (
                            P.warp_chain(list(cond.steps), clean_maps[method], axis=cond.axis)
                            if cond.geometric
                            else clean_maps[method]
                        )
                        acc.add(label, method, cond, "stability_pearson", M.pearson(ref, maps))
                        acc.add(label, method, cond, "stability_ssim", M.ssim(ref, maps))
                if batch_no == 0:  # keep the first images for the figures
                    k = min(EXAMPLES, len(labels))
                    for method, maps in maps_of.items():
                        result.examples[(label, method, cond.name, cond.level)] = [
                            x[:k].cpu(),
                            maps[:k].cpu(),
                            probs[:k].cpu(),
                            labels[:k].cpu(),
                            None if m is None else m[:k].cpu(),
                        ]
                    result.examples.setdefault(("", "", cond.name, cond.level), [x[:k].cpu()])
                reporter.advance(len(labels), model=label, condition=f"{cond.name} {cond.level}")
    reporter.end()
    result.records = acc.records(models)
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    result.written += write_metrics(run_dir, result.records, config)
    if cfg.get("figures", True):
        from camx.jobs.eval_figures import draw_all

        result.written += draw_all(result, run_dir, models, methods, class_names=class_names)
    result.written += write_report(result, run_dir, config, class_names, bool(cfg.get("figures", True)))
    result.seconds = time.perf_counter() - started
    return result


def write_report(
    result: EvalResult, run_dir: Path, config: Mapping[str, Any], class_names: list[str], gallery: bool
) -> list[Path]:
    """``report.html`` (results, figures, the map gallery, command, config, machine) and its tiles."""
    from camx.jobs.eval_figures import caption
    from camx.report.gallery import read_gallery, write_gallery
    from camx.report.pages import REPORT, command_of, run_page
    from camx.runtime import machine_summary

    folder = run_dir / "gallery"
    if gallery:
        write_gallery(result.examples, folder, lambda probs, label: caption(probs, label, class_names))
    page = run_page(
        run_dir / REPORT,
        title=f"camx eval — {run_dir.name}",
        records=result.records,
        figures=[p for p in result.written if p.suffix == ".png"],
        tiles=read_gallery(folder) if gallery else [],
        command=command_of(run_dir, "eval"),
        machine=machine_summary(),
        config=config,
    )
    return [page]


__all__ = ["Condition", "EvalResult", "conditions", "evaluate", "figures"]
