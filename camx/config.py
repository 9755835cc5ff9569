"""Validation of a composed config before any work starts: every user mistake becomes one ConfigError.

It needs only the torch-free option tables of :mod:`camx.options`, so a typo is reported without
importing torch or torchvision (``tests/test_cli.py`` checks that).
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Mapping
from typing import Any

from camx.errors import ConfigError, check_choice, check_chunk_size
from camx.options.cam import check_method, check_options
from camx.options.dataset import check_auto_size, shapes_spec
from camx.options.metrics import METRICS, unscored
from camx.options.model import ARCHS, HEADS, is_external, min_input_side, validate_model_options
from camx.options.perturb import (
    AXES,
    CORRUPTIONS,
    DEFAULT_NOISE_SPACE,
    KINDS,
    LEVEL_NAMES,
    NOISE_SPACES,
    corruption_grid,
)
from camx.options.perturb import validate as validate_level
from camx.options.schema import check_schema
from camx.options.trainer import validate_trainer
from camx.paths import check_output_root
from camx.results import flatten_gates
from camx.runs import pretrained_source


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
    """Raise ConfigError for any unknown choice or out-of-range value of a composed train/explain/eval config.

    Every key's type, range and choices are checked against one table, :data:`camx.options.schema.SCHEMA`
    (the defaults live in ``configs/`` only); what follows are the rules that tie keys together.
    """
    task = str(cfg.get("task"))
    check_schema(cfg, task)
    check_output_root(cfg["outputs_dir"])
    pretrained = pretrained_source(cfg) is not None
    _check_model(cfg["model"], cfg["trainer"], task, pretrained=pretrained)
    _check_class_names(cfg, task, pretrained=pretrained)
    _check_dataset(cfg["dataset"], cfg["model"])
    validate_trainer(cfg["trainer"])
    if task == "sanity" and not cfg["modes"]:
        raise ConfigError("modes is empty; use modes=[cascading,independent] or one of them")
    if task in ("explain", "eval", "sanity"):
        _check_methods(cfg)
    if task == "eval":
        _check_eval(cfg)


def _check_model(m: Mapping[str, Any], trainer: Mapping[str, Any], task: str, *, pretrained: bool) -> None:
    """The model options together, and what camx train can train. A pretrained classifier is built with
    its own output stride (32), so ``model.output_stride`` (16 from the default ``model=resnet50`` under
    ``model.arch=vgg16_bn``) does not apply to it."""
    options = {k: m[k] for k in m if k != "target_layer"}
    validate_model_options(**(options | {"output_stride": 32} if pretrained else options))
    if task != "train":
        return
    if trainer["freeze_backbone"] and not m["init_backbone"] and m["weights"] == "none":
        raise ConfigError(
            "trainer.freeze_backbone=true would train a head on a random backbone; "
            "set model.init_backbone=PATH (a camx checkpoint) or model.weights=imagenet"
        )
    if is_external(m["arch"]):
        raise ConfigError(
            f"model.arch={m['arch']} is explained and evaluated as it is; camx train trains "
            f"{', '.join(ARCHS)} (model.weights=imagenet starts from torchvision's ImageNet weights)"
        )


def _check_class_names(cfg: Mapping[str, Any], task: str, *, pretrained: bool) -> None:
    """``model.class_names`` names a pretrained classifier's outputs; a camx checkpoint keeps its own
    names and ``camx train`` takes them from the dataset, so anywhere else it would be ignored."""
    if not cfg["model"].get("class_names") or pretrained:
        return
    if task == "train":
        why = "camx train names the classes after the dataset's and keeps them in the checkpoint"
    elif cfg.get("checkpoint") or cfg.get("checkpoints"):
        why = "a camx checkpoint holds its own class names"
    else:
        why = "with model.weights=none the job uses camx checkpoints, which hold their own class names"
    raise ConfigError(
        f"model.class_names is set but {why}; drop model.class_names (it names the outputs of a "
        "pretrained classifier: model.weights=PATH or another library's model.arch)"
    )


def _check_dataset(d: Mapping[str, Any], m: Mapping[str, Any]) -> None:
    """``dataset.image_size`` against the dataset and the network's smallest input; the shapes knobs."""
    auto = check_auto_size(d)
    size = 4096 if auto else int(d["image_size"])
    need = min_input_side(m)
    if size < need:
        raise ConfigError(
            f"dataset.image_size={size} is too small for {m['arch']} (output stride "
            f"{m['output_stride']}); use at least {need} px"
        )
    if d["name"] == "shapes":
        shapes_spec(d)  # min_scale ≤ max_scale, and the generator's own size range


def _check_methods(cfg: Mapping[str, Any]) -> None:
    """The job's CAM methods (built-in ids or ``package.module:Class``), their ``cam.options``, ``chunk_size``."""
    methods = methods_of(cfg) + list(cfg.get("baselines") or [])  # baselines: eval only
    for method in methods:
        check_method(method)
    check_options(cfg["cam"].get("options"), methods)
    check_chunk_size(cfg["cam"]["chunk_size"], "cam.chunk_size")


def _check_eval(cfg: Mapping[str, Any]) -> None:
    """The perturbations and their levels, and the metrics ``--fail-under`` names."""
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
            check_choice("perturb.noise.space", params.get("space", DEFAULT_NOISE_SPACE), NOISE_SPACES)
        for level in levels_of(kind, params):
            validate_level(kind, level)
    for key in flatten_gates(cfg["fail_under"] or {}):
        _check_gate(cfg, key)


def _check_gate(cfg: Mapping[str, Any], key: str) -> None:
    """A ``--fail-under`` gate that names a metric (and a head) this eval will have results for: what the
    config alone tells, before the run (what only the results tell, :func:`camx.results.check_gates`)."""
    *qualifiers, metric = key.split(".")
    check_choice(f"--fail-under {key}: metric", metric, METRICS)
    why = unscored(metric, cfg)
    if why:
        raise ConfigError(f"--fail-under {key}: this eval scores no {metric}: {why}, or drop the gate")
    _check_qualifiers(cfg, key, [q for q in qualifiers if q not in HEADS], metric)
    heads = [q for q in qualifiers if q in HEADS]
    pretrained = pretrained_source(cfg)
    if heads and pretrained is not None:
        raise ConfigError(
            f"--fail-under {key}: this eval scores the pretrained {pretrained.arch} (head 'pretrained'), "
            f"not a camx-trained {heads[0]} head; drop {heads[0]}. from the gate"
        )
    wanted = cfg.get("heads")
    if heads and wanted and heads[0] not in wanted and not cfg.get("checkpoints"):
        raise ConfigError(
            f"--fail-under {key}: heads=[{','.join(map(str, wanted))}] leaves out {heads[0]}; add it to heads or drop the gate"
        )


def _run_conditions(cfg: Mapping[str, Any]) -> list[str]:
    """The perturbation names of an eval's records: ``none`` (clean), then each kind (``a+b`` composed)."""
    kinds = [kind for kind, _ in perturbation_grid(cfg.get("perturb")) if kind != "none"]
    return ["none", *(["+".join(kinds)] if cfg.get("compose") and len(kinds) > 1 else kinds)]


def _check_qualifiers(cfg: Mapping[str, Any], key: str, qualifiers: list[str], metric: str) -> None:
    """Refuse a gate's method or perturbation qualifier the config already rules out: a method not among
    ``methods``/``baselines``, a perturbation not among the run's conditions, a wrong case or a near typo
    of either, a method on a metric scored per model (accuracy, confidence: their records have no method)."""
    from camx.options.cam import builtin_methods
    from camx.options.metrics import PREDICTION

    methods = methods_of(cfg) + [str(b) for b in cfg.get("baselines") or []]
    conds = _run_conditions(cfg)
    arch = str((cfg.get("model") or {}).get("arch", ""))
    gate = f"--fail-under {key}"
    for q in qualifiers:
        name = q.split("=", 1)[0]
        if name in conds or q == arch:
            continue
        if q in methods and metric in PREDICTION:
            raise ConfigError(
                f"{gate}: {metric} is scored once per model and condition, not per CAM method (its "
                f"records have method null); drop {q}. from the gate"
            )
        if q in methods:
            continue
        if q in builtin_methods():
            raise ConfigError(
                f"{gate}: methods=[{','.join(methods_of(cfg))}] and baselines leave out {q}; "
                "add it to methods or drop the gate"
            )
        if name in KINDS:
            raise ConfigError(
                f"{gate}: {name} is not among this run's conditions ({', '.join(conds)}); "
                f"add it to perturb or drop the gate"
            )
        names = [*methods, *conds, *builtin_methods(), *KINDS]
        close = [n for n in [*names, *HEADS] if n.casefold() == name.casefold()]
        close = close or difflib.get_close_matches(name, [*methods, *conds], n=1, cutoff=0.75)
        close = close or difflib.get_close_matches(name, names, n=1, cutoff=0.75)
        if close:
            raise ConfigError(
                f"{gate}: {q} is no method, head or perturbation of this run (methods {', '.join(methods)}; "
                f"conditions {', '.join(conds)}); did you mean {close[0]}?"
            )
