"""Validation of a composed config before any work starts: every user mistake becomes one ConfigError.

It needs only the torch-free option tables of :mod:`camx.options`, so a typo is reported without
importing torch or torchvision (``tests/test_cli.py`` checks that).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from camx.errors import ConfigError, check_choice, check_chunk_size, check_range
from camx.options.cam import check_method, check_options
from camx.options.dataset import DATASETS, SPLITS, is_auto_size, shapes_spec
from camx.options.metrics import METRICS
from camx.options.model import ARCHS, HEADS, is_external, min_input_side, validate_model_options
from camx.options.perturb import AXES, CORRUPTIONS, KINDS, LEVEL_NAMES, NOISE_SPACES, corruption_grid
from camx.options.perturb import validate as validate_level
from camx.options.schema import check_schema
from camx.options.trainer import validate_trainer
from camx.paths import check_output_root
from camx.results import flatten_gates


def perturbation_grid(perturb: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """``perturb`` config → [(kind, {param: [levels]...})] in config order (``none`` → []).

    The ImageNet-C selection of ``perturb=corruptions`` (``names``, ``severities`` at the group's root)
    becomes one kind per corruption after the others (:func:`camx.options.perturb.corruption_grid`).
    """
    grid = []
    items = dict(perturb or {})
    names, severities = items.pop("names", None), items.pop("severities", None)
    for kind, params in items.items():
        if params is None:
            continue
        grid.append((str(kind), dict(params)))
    if names is not None or severities is not None:
        grid += corruption_grid(names, severities)
    return grid


def levels_of(kind: str, params: Mapping[str, Any]) -> list[float]:
    """The levels of one perturbation (its main parameter as a list; a scalar is a one-level list)."""
    name = LEVEL_NAMES.get(kind)
    if name is None or name not in params:
        raise ConfigError(f"perturb.{kind} needs a '{name}' list (e.g. perturb.{kind}.{name}=[...])")
    value = params[name]
    values = (
        list(value)
        if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, str)
        else [value]
    )
    if not values:
        raise ConfigError(f"perturb.{kind}.{name} is empty; give at least one level")
    return [float(v) for v in values]


def methods_of(cfg: Mapping[str, Any]) -> list[str]:
    """The CAM methods a job uses: ``methods`` if set, else ``[cam.name]``."""
    methods = cfg.get("methods")
    if methods is None:
        return [str(cfg["cam"]["name"])] if cfg.get("cam") else []
    if isinstance(methods, str):
        return [m for m in methods.split(",") if m]
    return [str(m) for m in methods]


def validate(cfg: Mapping[str, Any]) -> None:
    """Raise ConfigError for any unknown choice or out-of-range value of a composed train/explain/eval config."""
    task = cfg.get("task")
    check_schema(cfg, str(task))
    check_output_root(cfg.get("outputs_dir", "outputs"))
    m = cfg["model"]
    validate_model_options(**{k: m[k] for k in m if k != "target_layer"})
    frozen = task == "train" and (cfg.get("trainer") or {}).get("freeze_backbone")
    if frozen and not m.get("init_backbone") and m.get("weights", "none") == "none":
        raise ConfigError(
            "trainer.freeze_backbone=true would train a head on a random backbone; "
            "set model.init_backbone=PATH (a camx checkpoint) or model.weights=imagenet"
        )
    if task == "train" and is_external(m["arch"]):
        raise ConfigError(
            f"model.arch={m['arch']} is explained and evaluated as it is; camx train trains "
            f"{', '.join(ARCHS)} (model.weights=imagenet starts from torchvision's ImageNet weights)"
        )
    if task == "explain":
        check_choice("view", cfg.get("view", "photo"), ("photo", "model"))
        check_range("view_max_side", cfg.get("view_max_side", 1024), 16, 16384)
    d = cfg["dataset"]
    check_choice("dataset", d.get("name"), DATASETS)
    check_choice("dataset.split", d.get("split", "test"), SPLITS)
    auto = is_auto_size(d.get("image_size"))
    if auto and d.get("name") != "imagefolder":
        raise ConfigError(
            f"dataset.image_size=auto (the images' own size) is for dataset=imagefolder; {d.get('name')} needs a number"
        )
    if auto:
        check_range("dataset.max_auto_size", d.get("max_auto_size", 224), 8, 4096)
    size = 4096 if auto else int(check_range("dataset.image_size", d.get("image_size", 64), 8, 4096))
    need = min_input_side(m)
    if size < need:
        raise ConfigError(
            f"dataset.image_size={size} is too small for {m['arch']} (output stride "
            f"{m.get('output_stride', 32)}); use at least {need} px"
        )
    if d.get("name") == "shapes":
        shapes_spec(d)  # its ranges and the number of classes
    validate_trainer(cfg["trainer"])
    if task == "sanity":
        for mode in cfg.get("modes") or []:
            check_choice("modes", mode, ("cascading", "independent"))
        if not cfg.get("modes"):
            raise ConfigError("modes is empty; use modes=[cascading,independent] or one of them")
    if task in ("explain", "eval", "sanity"):
        for head in cfg.get("heads") or []:
            check_choice("heads", head, HEADS)
        methods = methods_of(cfg) + list(cfg.get("baselines") or [])
        for method in methods:
            check_method(method)
        c = cfg.get("cam") or {}
        check_options(c.get("options"), methods)
        if int(c.get("mc_samples", 1)) < 1:
            raise ConfigError(f"cam.mc_samples={c.get('mc_samples')} is out of range; it must be 1 or more")
        check_chunk_size(c.get("chunk_size", "auto"), "cam.chunk_size")
    if task == "eval":
        for kind, params in perturbation_grid(cfg.get("perturb")):
            check_choice("perturb", kind, KINDS)
            if kind in CORRUPTIONS and importlib.util.find_spec("imagecorruptions") is None:
                raise ConfigError(
                    f"perturb {kind} is an ImageNet-C corruption, which needs the imagecorruptions package; "
                    "install it with: pip install 'camx[corruptions]'"
                )
            if kind == "stretch":
                check_choice("perturb.stretch.axis", params.get("axis", "horizontal"), AXES)
            if kind == "noise":
                check_choice("perturb.noise.space", params.get("space", "pixel"), NOISE_SPACES)
            for level in levels_of(kind, params):
                validate_level(kind, level)
        for key in ("max_images",):
            if cfg.get(key) is not None and int(cfg[key]) < 1:
                raise ConfigError(f"{key}={cfg[key]} is out of range; it must be a positive integer or null")
        if int(cfg.get("batch_size", 1)) < 1:
            raise ConfigError(
                f"batch_size={cfg.get('batch_size')} is out of range; it must be a positive integer"
            )
        check_range("iou_threshold", cfg.get("iou_threshold", 0.5), 0.0, 1.0)
        for key in ("map_metrics", "average_drop", "compose", "figures", "timing"):
            if not isinstance(cfg.get(key, False), bool):
                raise ConfigError(f"{key}={cfg[key]!r} is not valid; it must be true or false")
        for key in flatten_gates(cfg.get("fail_under") or {}):
            metric = key.rsplit(".", 1)[-1]
            check_choice(f"--fail-under {key}: metric", metric, METRICS)
