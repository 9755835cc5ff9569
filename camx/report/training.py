"""What a study trained, from its training runs' ``run.json`` and Hydra configs: the recipe of each
stage (backbones, heads on them) and the best validation accuracy per group."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camx.errors import plural
from camx.report.groups import HEAD_ORDER

Run = tuple[dict[str, Any], dict[str, Any]]  #: (run.json, composed config)


def training_runs(path: Path) -> list[Run]:
    """Every training run below ``path`` (unreadable ones skipped)."""
    from omegaconf import OmegaConf

    runs = []
    for rec in sorted(Path(path).rglob("run.json")):
        try:
            info = json.loads(rec.read_text())
            conf = OmegaConf.load(rec.parent / ".hydra" / "config.yaml")
            cfg = OmegaConf.to_container(conf)
            if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):  # e.g. …/seed${trainer.seed}/…
                cfg["model"]["init_backbone"] = OmegaConf.select(conf, "model.init_backbone", default=None)
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("task") == "train" and isinstance(cfg, dict):
            runs.append(({**info, "_dir": str(rec.parent.resolve())}, cfg))
    return runs


def setup_lines(path: Path) -> list[str]:
    """The study's training, as markdown lines (empty if nothing was trained below ``path``)."""
    runs = training_runs(path)
    if not runs:
        return []
    # runs whose checkpoint another run starts from (model.init_backbone) are the backbone stage
    sources = {str(Path(c["model"]["init_backbone"]).resolve().parents[1]) for _, c in runs if _init(c)}
    backbones = [(i, c) for i, c in runs if i["_dir"] in sources]
    heads = [(i, c) for i, c in runs if (i, c) not in backbones]
    lines = []
    if backbones:
        title = f"Backbones trained here from scratch ({plural(len(backbones), 'run')}, plain head)"
        lines += [recipe(title, backbones), "", *accuracy_lines(backbones), ""]
    return [*lines, recipe(_heads_title(heads), heads), "", *accuracy_lines(heads), ""]


def _heads_title(heads: Sequence[Run]) -> str:
    _, cfg = heads[0]
    if not _init(cfg):
        return f"Trained here from {_start(cfg)} ({plural(len(heads), 'run')})"
    frozen = bool(cfg["trainer"].get("freeze_backbone"))
    return f"Heads trained here ({plural(len(heads), 'run')}), each on the backbone of its training seed" + (
        " (frozen: weights and BatchNorm statistics)" if frozen else " (fine-tuned with it)"
    )


def _init(cfg: Mapping[str, Any]) -> str | None:
    return (cfg.get("model") or {}).get("init_backbone")


def _start(cfg: Mapping[str, Any]) -> str:
    weights = (cfg.get("model") or {}).get("weights", "none")
    return "scratch" if weights == "none" else f"{weights} weights"


def _is_gap(cfg: Mapping[str, Any]) -> bool:
    m = cfg.get("model") or {}
    return m.get("classifier") == "gap" and m.get("arch") != "resnet50"


def recipe(title: str, runs: Sequence[Run]) -> str:
    """The training recipe of ``runs`` (one group, read from the first run's config)."""
    cfg = runs[0][1]
    d, t = cfg["dataset"], cfg["trainer"]
    sizes = t.get("sizes")
    grain = float(d.get("grain", 0) or 0)
    gap = any(_is_gap(c) for _, c in runs)  # the full variant's first run is a ResNet50
    return (
        f"{title}: {d['name']} at {d['image_size']} px, {d['num_classes']} "
        f"classes, {plural(int(t['epochs']), 'epoch')} × {plural(int(d['train_size']), 'fresh image')}"
        + (f" (input side per epoch {sizes})" if sizes else "")
        + f", {t['optimizer']} lr {t['lr']:g}, batch {t['batch_size']}, "
        + (f"training pixel noise std ≤ {grain:g}" if grain else "no training pixel noise")
        + f", objects rotated ≤ {d.get('max_rotation', 180):g}°"
        + (
            ", VGG16/AlexNet with model.classifier=gap (features cut before the last max-pool; plain head: "
            "global average pooling → fc)"
            if gap
            else ""
        )
        + ". Best validation accuracy per group (mean over runs, min–max):"
    )


def accuracy_lines(runs: Sequence[Run]) -> list[str]:
    """One line per (arch, head, mask ratio): best validation accuracy, mean (min–max), seconds per run."""
    groups: dict[tuple[str, str, float], list[Run]] = defaultdict(list)
    for info, cfg in runs:
        ratio = cfg["model"].get("mask_ratio") if info["head"] in ("dropout", "dropkey") else -1.0
        groups[(info["arch"], info["head"], float(ratio))].append((info, cfg))
    order = {h: i for i, h in enumerate(HEAD_ORDER)}
    lines = []
    for (arch, head, ratio), items in sorted(
        groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][2])
    ):
        accs = [float(i["best_val_accuracy"]) for i, _ in items if i.get("best_val_accuracy") is not None]
        secs = [float(i["seconds"]) for i, _ in items if i.get("seconds") is not None]
        if accs:
            lines.append(
                f"- {arch}/{head}"
                + (f" (mask ratio {ratio:g})" if ratio >= 0 else "")
                + f": {sum(accs) / len(accs):.3f} ({min(accs):.3f}–{max(accs):.3f}) over {len(accs)} run(s), "
                f"{sum(secs) / max(len(secs), 1):.0f} s per run"
            )
    return lines
