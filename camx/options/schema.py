"""The schema of every key a train/explain/eval job reads: its type, range, choices and whether it may be null.

One source each: a key's default lives in ``configs/`` (YAML, ``???`` where there is none, e.g.
``dataset.root`` of ``imagefolder``), what it may hold lives here, and nothing here restates a
default. :func:`check_schema` runs first in :func:`camx.config.validate`: a value of the wrong type
(``abc`` for an integer, ``1.5`` for a seed, a list for a path), out of range (a batch size past 64
bits), not finite, empty, not one of the key's choices, or a required group or key removed
(``~trainer``) is one ConfigError naming the key. Only the rules that tie keys together follow in
:func:`camx.config.validate`.

Why not dataclasses in Hydra's ConfigStore: they would move the defaults into Python, and OmegaConf's
typed nodes accept values camx must refuse (a bool node takes ``1`` or ``yes``), convert others
silently, and have no ranges, choices or unions (``int | auto``, a class index or name), so a second
table would still be needed. Here the YAML stays the one place to read and change a default, and
``tests/test_options_schema.py`` checks that every key of the composed configs is listed.

Keys a job does not read are not listed (a key added with ``+key=value`` is the user's own). Groups
whose keys depend on the choice (``perturb``, ``cam.options``, ``fail_under``) are checked where they
are interpreted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from camx.errors import ConfigError
from camx.options.dataset import DATASETS, RESIZE_MODES, SPLITS
from camx.options.figure import DPI_RANGE, FORMATS
from camx.options.keys import Key, check_value, choice_key, expected, float_key, int_key
from camx.options.model import CLASSIFIERS, HEADS
from camx.options.trainer import OPTIMIZERS, SCHEDULES

__all__ = ["SCHEMA", "Key", "check_group", "check_schema", "keys_for"]

SEED_MAX = 2**32 - 1  #: seeds are 0 … 2³²−1 (NumPy's range)
BATCH_MAX = 65_536


_choice, _int, _float = choice_key, int_key, float_key  # short names for the table below

TEXT, PATH, BOOL, TEXTS = Key("text"), Key("path"), Key("bool"), Key("texts")
OPTIONAL_TEXT, OPTIONAL_TEXTS = Key("text", optional=True), Key("texts", optional=True)
HEAD_LIST = Key("texts", optional=True, choices=HEADS)

#: task → dotted key → Key; "*" applies to every task, "dataset:<name>" to that dataset's group.
SCHEMA: dict[str, dict[str, Key]] = {
    "*": {
        "task": TEXT,
        "outputs_dir": PATH,
        "checkpoint": OPTIONAL_TEXT,
        "model.arch": TEXT,
        "model.head": _choice(*HEADS),
        "model.weights": TEXT,
        "model.init_backbone": OPTIONAL_TEXT,
        "model.classifier": _choice(*CLASSIFIERS),
        "model.output_stride": _int(1, 64),
        "model.target_layer": Key("layers", optional=True),
        "model.reshape": OPTIONAL_TEXT,
        "model.class_names": OPTIONAL_TEXTS,
        "model.mask_ratio": _float(0.0, 1.0, hi_inc=False),
        "model.dim": _int(1, 65_536),
        "model.num_heads": _int(1, 1024),
        "model.depth": _int(1, 64),
        "dataset.name": _choice(*DATASETS),
        "dataset.split": _choice(*SPLITS),
        "dataset.image_size": Key("int", 8, 4096, auto=True),
        "dataset.resize": _choice(*RESIZE_MODES),
        "trainer.epochs": _int(1, 100_000),
        "trainer.batch_size": _int(1, BATCH_MAX),
        "trainer.optimizer": _choice(*OPTIMIZERS),
        "trainer.lr": Key("float", 0.0, None, low_inclusive=False, auto=True),
        "trainer.lr_find.steps": _int(5, 100_000),
        "trainer.lr_find.start": _float(0.0, None, lo_inc=False),
        "trainer.lr_find.end": _float(0.0, None, lo_inc=False),
        "trainer.diverge.factor": _float(0.0, None),
        "trainer.diverge.steps": _int(1, 10**9),
        "trainer.momentum": _float(0.0, 1.0, hi_inc=False),
        "trainer.weight_decay": _float(0.0, None),
        "trainer.schedule": _choice(*SCHEDULES),
        "trainer.warmup": _float(0.0, 1.0, lo_inc=False, hi_inc=False),
        "trainer.seed": _int(0, SEED_MAX),
        "trainer.device": Key("device"),
        "trainer.workers": _int(0, 256),
        "trainer.channels_last": BOOL,
        "trainer.eval_batch_size": _int(1, BATCH_MAX),
        "trainer.sizes": Key("sizes", optional=True),
        "trainer.threads": _int(0, 4096),
        "trainer.freeze_backbone": BOOL,
        "trainer.resume": Key("resume"),
        "trainer.noise_augment.variance": Key("range", optional=True),  # camx.data.augment
        "trainer.noise_augment.space": _choice("pixel", "normalized", "minmax"),  # as perturb.noise.space
        "figure.dpi": _int(*DPI_RANGE),  # camx.figures.save: every figure's resolution
        "figure.format": _choice(*FORMATS),
    },
    "explain": {
        "cam.name": TEXT,  # a built-in id or package.module:Class: camx.config checks it
        "cam.mc_samples": _int(1, 10_000),
        "cam.chunk_size": Key("any"),  # auto or an int ≥ 1: camx.errors.check_chunk_size
        "cam.fuse": _choice("mean", "layercam"),  # camx.cam.fusion.FUSES (tests/test_cam_fusion.py checks)
        "cam.eigen_smooth": BOOL,
        "cam.aug_smooth": BOOL,
        "inputs": TEXTS,
        "methods": Key("methods", optional=True),
        "heads": HEAD_LIST,
        "target": Key("target", optional=True),
        "top_k": _int(1, 100_000),
        "image_size": _int(8, 4096, optional=True),
        "max_pixels": _int(1, 2**40),
        "view": _choice("photo", "model"),  # photo: maps on each image at its size | model: its input
        "view_max_side": _int(16, 16_384),
    },
    "eval": {
        "cam.name": TEXT,  # a built-in id or package.module:Class: camx.config checks it
        "cam.mc_samples": _int(1, 10_000),
        "cam.chunk_size": Key("any"),
        "cam.fuse": _choice("mean", "layercam"),
        "cam.eigen_smooth": BOOL,
        "cam.aug_smooth": BOOL,
        "checkpoints": TEXTS,
        "heads": HEAD_LIST,
        "methods": Key("methods", optional=True),
        "baselines": Key("texts", optional=True),
        "max_images": _int(1, 10**9, optional=True),
        "batch_size": _int(1, BATCH_MAX),
        "seed": _int(0, SEED_MAX),
        "compose": BOOL,
        "map_metrics": BOOL,
        "average_drop": BOOL,
        "faithfulness_steps": _int(0, 10_000),
        "faithfulness_substrate": TEXT,
        "iou_threshold": _float(0.0, 1.0),
        "complexity": BOOL,
        "road": BOOL,
        "random_logit": BOOL,
        "sensitivity_samples": _int(0, 10_000),
        "sensitivity_radius": _float(0.0, None, lo_inc=False),
        "figures": BOOL,
        "timing": BOOL,
    },
    "sanity": {
        "cam.name": TEXT,
        "cam.mc_samples": _int(1, 10_000),
        "cam.chunk_size": Key("any"),
        "cam.eigen_smooth": BOOL,
        "cam.aug_smooth": BOOL,
        "inputs": TEXTS,
        "methods": Key("methods", optional=True),
        "baselines": OPTIONAL_TEXTS,
        "modes": Key("texts", choices=("cascading", "independent")),
        "heads": OPTIONAL_TEXTS,
        "blocks": OPTIONAL_TEXTS,
        "target": Key("target", optional=True),
        "image_size": _int(8, 4096, optional=True),
        "max_pixels": _int(1, 2**40),
        "seed": _int(0, SEED_MAX),
    },
    "dataset:shapes": {
        "dataset.image_size": Key("int", 16, 1024, auto=True),  # what it draws (auto: imagefolder's)
        "dataset.num_classes": _int(2, 10),
        "dataset.train_size": _int(1, 10**8),
        "dataset.val_size": _int(1, 10**8),
        "dataset.test_size": _int(1, 10**8),
        "dataset.fresh_every_epoch": BOOL,
        "dataset.seed": _int(0, SEED_MAX),
        "dataset.min_scale": _float(0.02, 1.0),
        "dataset.max_scale": _float(0.02, 1.0),
        "dataset.distractors": _int(0, 100),
        "dataset.texture": _float(0.0, 1.0),
        "dataset.min_contrast": _float(0.0, 1.0),
        "dataset.max_rotation": _float(0.0, 180.0),
        "dataset.grain": _float(0.0, 1.0),
    },
    "dataset:imagefolder": {
        "dataset.root": PATH,
        "dataset.ratios": Key("ratios"),
        "dataset.seed": _int(0, SEED_MAX),
        "dataset.max_pixels": _int(1, 2**40),
        "dataset.max_auto_size": _int(8, 4096),
    },
    **{
        f"dataset:{name}": {
            "dataset.root": PATH,
            "dataset.download": BOOL,
            "dataset.val_fraction": _float(0.0, 1.0, hi_inc=False),
            "dataset.seed": _int(0, SEED_MAX),
            **({"dataset.variant": TEXT} if name == "imagenette" else {}),
        }
        for name in ("cifar10", "imagenette", "oxford_pets")
    },
}
#: groups a task cannot run without (removing one, e.g. ``~trainer``, is a ConfigError)
REQUIRED_GROUPS = {
    "train": ("model", "dataset", "trainer"),
    "explain": ("model", "dataset", "trainer", "cam"),
}
REQUIRED_GROUPS["eval"] = REQUIRED_GROUPS["sanity"] = REQUIRED_GROUPS["explain"]


def keys_for(task: str, dataset: str | None) -> dict[str, Key]:
    """Every key a ``task`` job reads (with ``dataset`` chosen), dotted name → :class:`Key`."""
    return {**SCHEMA["*"], **SCHEMA.get(task, {}), **SCHEMA.get(f"dataset:{dataset}", {})}


def check_schema(cfg: Mapping[str, Any], task: str) -> None:
    """Raise one ConfigError for the first required group or key that is missing, or value that does not
    fit its :class:`Key`; otherwise return (nothing is converted)."""
    for group in REQUIRED_GROUPS.get(task, ()):
        if not isinstance(cfg.get(group), Mapping):
            raise ConfigError(
                f"the {group} group is required by camx {task} but was removed or replaced; "
                f"drop the ~{group} (or {group}=…) override"
            )
    dataset = cfg["dataset"].get("name") if task in REQUIRED_GROUPS else None
    for name, key in keys_for(task, str(dataset)).items():
        node: Any = cfg
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping) or leaf not in list(node.keys()):
            removed = " or ".join(f"~{'.'.join(name.split('.')[: i + 1])}" for i in range(len(parents) + 1))
            raise ConfigError(
                f"{name} is missing but camx {task} needs it ({expected(key)}); drop the override that "
                f"removed it ({removed}) or set {name}=VALUE"
            )
        check_value(name, _value(node, leaf, name, key), key)


def check_group(node: Mapping[str, Any], group: str, skip: tuple[str, ...] = (), table: str = "*") -> None:
    """Check the keys of one group (``trainer``) that ``node`` holds against their :class:`Key` in
    ``SCHEMA[table]``, except ``skip``; keys it lacks are left alone (a library caller's partial config)."""
    for name, key in SCHEMA[table].items():
        if not name.startswith(group + ".") or name in skip:
            continue
        *parents, leaf = name[len(group) + 1 :].split(".")
        sub: Any = node
        for part in parents:
            sub = sub.get(part) if isinstance(sub, Mapping) else None
        if isinstance(sub, Mapping) and leaf in sub:
            check_value(name, sub[leaf], key)


def _value(node: Mapping[str, Any], leaf: str, name: str, key: Key) -> Any:
    """``node[leaf]`` resolved; a missing (``???``) or unresolvable interpolation is a ConfigError."""
    try:
        return node[leaf]
    except Exception as exc:  # noqa: BLE001 - OmegaConf's resolution errors: any interpolation can fail
        if "Missing mandatory value" in str(exc):
            raise ConfigError(f"{name} is required: set {name}=VALUE ({expected(key)})") from None
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{name}: its value cannot be resolved ({first}); set {name}=VALUE") from None
