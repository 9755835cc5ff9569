"""``camx explain IMAGE...``: heatmaps, top-k predictions and a method × head comparison grid.

Bad inputs never stop the run: every readable image is explained and written (PNGs are written
through a temp file and renamed, so none is ever half-written), and every unusable input — a missing
path, a folder without images, a non-image, a truncated or corrupt file, a too small or too large
image — is returned in :attr:`ExplainResult.failures` with a one-line reason. The CLI prints one
``error: <path>: <reason>`` line per failure after the results and exits with code 2 (0 when every
input was explained). With no readable input at all, a DataError is raised instead: one line, exit
code 2, and no run dir is left behind.

A model whose logits are NaN or infinite (diverged weights) has no meaningful explanation: the job
raises a :class:`~camx.errors.CheckpointError` naming the checkpoint instead of drawing NaN maps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from camx import figures
from camx.cam.targets import class_index
from camx.config import methods_of
from camx.data.fit import crop_box
from camx.data.images import load_image_tensor, load_images
from camx.data.inputs import ImageFailure, require_images
from camx.data.transforms import normalize
from camx.errors import CheckpointError, ConfigError, DataError
from camx.jobs.models import load_for_job
from camx.jobs.progress import SILENT, Reporter
from camx.models.target_layer import check_target_layer
from camx.options import is_unset
from camx.options.cam import explain_settings, method_options
from camx.runs import latest_checkpoints, pretrained_source, resolve_checkpoints
from camx.runtime import select_device


@dataclass
class ExplainResult:
    predictions: list[dict[str, Any]] = field(default_factory=list)  # {file, head, top: [(class, prob)]}
    written: list[Path] = field(default_factory=list)
    failures: list[ImageFailure] = field(default_factory=list)
    maps: dict[tuple[str, str, str], torch.Tensor] = field(
        default_factory=dict
    )  # (file, head, method) → (H, W)


def resolve_target(target: Any, classes: Sequence[str], key: str = "--target") -> int | None:
    """Unset (:func:`~camx.options.is_unset`) → None, the predicted class; an index or a class name → its
    index (:func:`camx.cam.targets.class_index`: exact case first, else the one case-insensitive match);
    errors name ``key`` as the user gave it (``--target`` for explain, ``target`` for sanity)."""
    if is_unset(target):
        return None
    return class_index(str(target), classes, key)


def explain_checked(
    checkpoint: str | Path, model: Any, images: torch.Tensor, methods: Sequence[str], **kwargs: Any
) -> dict[str, Any]:
    """:func:`camx.explain_many`, with a diverged model reported as a CheckpointError naming ``checkpoint``,
    and a method this model does not admit (e.g. ``cam`` on an attention head) as a ConfigError naming it."""
    from camx.cam import explain_many

    try:
        outs = explain_many(model, images, methods, **kwargs)
    except DataError as exc:
        if "logits" in str(exc):
            raise CheckpointError(f"{checkpoint}: {exc}") from None
        raise
    except ConfigError as exc:  # a sweep holds many checkpoints: say which one the method refused
        raise ConfigError(f"{checkpoint}: {exc}") from None
    check_finite_logits(next(iter(outs.values())).logits, checkpoint)  # every method explains the same pass
    return outs


def check_finite_logits(logits: torch.Tensor, checkpoint: str | Path) -> None:
    """Raise a CheckpointError if any logit is NaN or infinite: such a model's maps and scores mean nothing."""
    bad = ~torch.isfinite(logits).all(dim=1)
    if bool(bad.any()):
        raise CheckpointError(
            f"{checkpoint}: the model returns NaN or infinite logits for {int(bad.sum())} of {len(bad)} image(s), "
            "so its maps and scores would be meaningless; its weights have probably diverged — retrain "
            "(e.g. with a lower trainer.lr) or use another checkpoint"
        )


def explain_images(cfg: Mapping[str, Any], run_dir: str | Path, reporter: Reporter = SILENT) -> ExplainResult:
    """Explain every readable input with every method and every selected checkpoint; write PNGs into ``run_dir``.

    Steps: the checkpoints (:func:`_checkpoints`) → each model loaded once (:func:`_load_models`) →
    the inputs in chunks, each decoded once per input size and explained by every model
    (:func:`_explain_chunk`) → the figures (:func:`_write_figures`).
    """
    result, seen = ExplainResult(), _Seen()
    files, result.failures = require_images(list(cfg["inputs"] or []))
    device = select_device(cfg["trainer"]["device"])
    methods = methods_of(cfg)
    checkpoints = _checkpoints(cfg)
    models = _load_models(cfg, checkpoints, device, seen)
    batch = int(cfg["trainer"]["eval_batch_size"])
    reporter.begin("explain", len(checkpoints) * len(methods) * len(files))
    for start in range(0, len(files), batch):
        _explain_chunk(cfg, files[start : start + batch], models, methods, device, result, seen, reporter)
    reporter.end()
    if not seen.originals:  # every input failed to decode: nothing to show, nothing written
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in result.failures[:3])
        more = f" and {len(result.failures) - 3} more" if len(result.failures) > 3 else ""
        raise DataError(f"no readable image among the inputs ({reasons}{more})")
    with figures.settings(cfg):  # figure.dpi / figure.format
        _write_figures(cfg, Path(run_dir), files, checkpoints, methods, seen, result)
    return result


@dataclass
class _Seen:
    """What the explained inputs gave: each decoded image, each model's probabilities and class names."""

    originals: dict[str, torch.Tensor] = field(default_factory=dict)
    probs_of: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)
    classes_of: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Model:
    """One model to explain with: its checkpoint, target layer, input side and target class."""

    label: str
    path: Any
    model: torch.nn.Module
    layer: str | list[str] | None  #: several layers: maps fused by cam.fuse
    size: int
    target: int | None


def _checkpoints(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """label → checkpoint (or pretrained source); a grid of every trained head comes for free when there are several."""
    grid_mode = not cfg["checkpoint"] and (cfg["heads"] is not None)
    checkpoints = resolve_checkpoints(cfg, all_heads=grid_mode)
    if not grid_mode and not cfg["checkpoint"] and pretrained_source(cfg) is None:
        others = latest_checkpoints(cfg["outputs_dir"], cfg["model"]["arch"])
        if len(others) > 1:
            checkpoints = {**checkpoints, **{h: p for h, p in others.items() if h not in checkpoints}}
    return checkpoints


def _load_models(
    cfg: Mapping[str, Any], checkpoints: Mapping[str, Any], device: torch.device, seen: _Seen
) -> list[_Model]:
    """Every checkpoint's model, loaded once (its class names into ``seen``)."""
    models = []
    for label, path in checkpoints.items():
        model, meta = load_for_job(path, device)
        what = f"{path} ({meta['arch']}/{meta['head']})"
        layer = check_target_layer(model, cfg["model"]["target_layer"], what)
        classes = list(meta.get("class_names") or [str(i) for i in range(int(meta["num_classes"]))])
        seen.classes_of[label] = classes
        size = int(cfg["image_size"] or meta.get("image_size") or cfg["dataset"]["image_size"])
        models.append(_Model(label, path, model, layer, size, resolve_target(cfg["target"], classes)))
    return models


def _explain_chunk(
    cfg: Mapping[str, Any],
    chunk: Sequence[Path],
    models: Sequence[_Model],
    methods: Sequence[str],
    device: torch.device,
    result: ExplainResult,
    seen: _Seen,
    reporter: Reporter,
) -> None:
    """Explain one chunk of files with every model (decoding it once per input size)."""
    decoded: dict[int, tuple[list[Path], torch.Tensor | None, list[Any]]] = {}
    for job in models:
        if job.size not in decoded:
            decoded[job.size] = load_images(
                chunk, job.size, max_pixels=int(cfg["max_pixels"]), resize=resize_mode(cfg)
            )
        ok, images, failed = decoded[job.size]
        if job is models[0]:  # the primary model's decoding failures are the run's
            result.failures += failed
        if images is None:
            continue
        outs = explain_checked(  # every method explains the same forward (and backward) pass
            job.path,
            job.model,
            normalize(images.to(device), job.model),
            methods,
            targets=job.target,
            mc_samples=int(cfg["cam"]["mc_samples"]),
            target_layer=job.layer,
            options={m: method_options(cfg, m) for m in methods},
            **explain_settings(cfg),
        )
        for method, out in outs.items():
            for i, f in enumerate(ok):
                result.maps[(str(f), job.label, method)] = out.maps[i].cpu()
                seen.probs_of[(str(f), job.label)] = out.probs[i].cpu()
                seen.originals[str(f)] = images[i].cpu()
            reporter.advance(len(ok), model=job.label, method=method)


def resize_mode(cfg: Mapping[str, Any]) -> str:
    """``dataset.resize``: how explain/sanity bring a photo to the input size (:mod:`camx.data.fit`)."""
    return str((cfg.get("dataset") or {}).get("resize") or "stretch")


def photo_view(
    path: str | Path,
    maps: Sequence[torch.Tensor],
    *,
    max_side: int,
    max_pixels: int,
    resize: str = "stretch",
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The photo at its own resolution (downscaled to at most ``max_side`` px on its long side) and the
    maps, computed at the model's input size, upsampled onto it (bilinear). The photo is the region the
    model saw (``resize=crop``: its centre crop, :func:`camx.data.fit.crop_box`), so every map pixel
    lands on the pixels it explains."""
    photo = load_image_tensor(path, None, max_pixels=max_pixels)
    if maps:
        top, left, ch, cw = crop_box(
            int(photo.shape[-2]), int(photo.shape[-1]), tuple(maps[0].shape[-2:]), resize
        )
        photo = photo[:, top : top + ch, left : left + cw]
    h, w = (int(v) for v in photo.shape[-2:])
    scale = min(1.0, max_side / max(h, w))
    hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    if hw != (h, w):
        photo = F.interpolate(photo[None], size=hw, mode="bilinear", antialias=True, align_corners=False)[0]
    resized = [
        F.interpolate(m[None, None].float(), size=hw, mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)
        for m in maps
    ]
    return photo.clamp(0, 1), resized


def _smoothing(cfg: Mapping[str, Any]) -> str:
    """`` · cam.eigen_smooth=true, cam.aug_smooth=true`` (those on) for the figure's title, else empty."""
    on = [f"cam.{k}=true" for k in ("eigen_smooth", "aug_smooth") if (cfg.get("cam") or {}).get(k)]
    return f" · {', '.join(on)}" if on else ""


def _caption(cfg: Mapping[str, Any], probs: torch.Tensor, classes: Sequence[str]) -> str:
    target = resolve_target(cfg["target"], classes)
    explained = int(probs.argmax()) if target is None else target
    return f"{classes[explained]} {float(probs[explained]):.2f}"


def _write_figures(
    cfg: Mapping[str, Any],
    run_dir: Path,
    files: Sequence[Path],
    checkpoints: Mapping[str, Any],
    methods: Sequence[str],
    seen: _Seen,
    result: ExplainResult,
) -> None:
    """One panel per image (the primary model: image | heatmap | overlay per method) and, with several
    models, a methods × models grid; predictions into ``result``."""
    top_k, used, primary = int(cfg["top_k"]), set(), next(iter(checkpoints))
    view, max_side = str(cfg["view"]), int(cfg["view_max_side"])
    originals, probs_of, classes_of = seen.originals, seen.probs_of, seen.classes_of
    for f in files:
        key = str(f)
        if key not in originals:
            continue
        stem = f.stem if f.stem not in used else f"{f.stem}_{len(used)}"
        used.add(stem)
        image, maps = originals[key], [result.maps[(key, label, m)] for label in checkpoints for m in methods]
        if view == "photo":
            image, maps = photo_view(
                f, maps, max_side=max_side, max_pixels=int(cfg["max_pixels"]), resize=resize_mode(cfg)
            )
        shown = dict(zip([(label, m) for label in checkpoints for m in methods], maps))
        grid_cells: dict[str, dict[str, tuple[torch.Tensor, str]]] = {m: {} for m in methods}
        for label in checkpoints:
            probs, classes = probs_of[(key, label)], classes_of[label]
            values, indices = probs.topk(min(top_k, len(classes)))
            top = [(classes[int(i)], float(v)) for v, i in zip(values, indices)]
            result.predictions.append({"file": key, "head": label, "top": top})
            caption = _caption(cfg, probs, classes)
            for m in methods:
                grid_cells[m][label] = (shown[(label, m)], caption)
            if label == primary:
                rows = [(m, shown[(label, m)]) for m in methods]
                fig = figures.explain_panel(image, rows, f"{f.name} — {label}: {caption}{_smoothing(cfg)}")
                result.written.append(figures.save(fig, run_dir / f"{stem}_{label}.png"))
        if len(checkpoints) > 1:
            fig = figures.grid(image, grid_cells, f"{f.name}: methods × heads")
            result.written.append(figures.save(fig, run_dir / f"{stem}_grid.png"))
