"""Overrides that name no key camx reads: one line with the key meant, never a silent no-op.

A misspelt or misplaced key (``dpi=300`` for ``figure.dpi=300``) is one Hydra refuses to set; the line
names the key of that name elsewhere in the config, or the closest one of its group. A key added with
``+key=VALUE`` composes, but a camx job reads only the keys of :data:`camx.options.schema.SCHEMA`, so an
added key outside it would be ignored: it is refused too, except Hydra's own (``hydra.*``), the free-form
groups camx reads whole (``perturb.*``, ``fail_under.*``, ``cam.options.*``) and config groups
(``+experiment=…``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from camx.errors import ConfigError

FREE_FORM = ("hydra", "perturb", "fail_under", "cam.options")  #: read whole: any key below them may be added


def dotted_keys(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every key of ``node`` as a dotted name (groups and their keys; not ``hydra``)."""
    for key, value in node.items():
        name = f"{prefix}{key}"
        if name == "hydra":
            continue
        yield name
        if isinstance(value, Mapping):
            yield from dotted_keys(value, name + ".")


def nested_match(name: str, keys: Iterable[str]) -> str | None:
    """The key among ``keys`` that ends in ``.name`` (``dpi`` → ``figure.dpi``), the shortest of several."""
    found = sorted((k for k in keys if k.endswith("." + name)), key=lambda k: (k.count("."), k))
    return found[0] if found else None


def unknown_key(task: str, overrides: list[str], key: str) -> str | None:
    """One line naming the override ``key`` that does not exist, the keys that do, and the key meant:
    one of that name elsewhere (``dpi`` → ``figure.dpi``), else a close match in its group."""
    from camx.cli.hydra_bridge import GROUPS, compose, group_choices

    if key.startswith(("+", "~", "hydra")) or key in GROUPS:
        return None
    try:  # the config without the override (a sweep's first values), to list the keys that exist
        cfg = compose(task, [first_value(o) for o in overrides if o.split("=")[0] != key])
    except ConfigError:
        return None
    value = next((o.partition("=")[2] for o in overrides if o.partition("=")[0] == key), "VALUE")
    plain = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(plain, dict)
    parts = key.split(".")
    node: Any = cfg
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth])
        if not isinstance(node, DictConfig):
            return f"unknown config key {key}: {where} is a value, not a group of keys; set it with {where}=VALUE"
        if part not in node:
            valid = [str(k) for k in node]
            close = difflib.get_close_matches(part, valid, n=1)
            meant = nested_match(".".join(parts[depth:]), dotted_keys(plain)) or (
                ".".join([*parts[:depth], close[0]]) if close else None
            )
            hint = f" (did you mean {meant}={value}?)" if meant else ""
            group = parts[0] if depth == 1 and parts[0] in GROUPS else None
            select = f"; {group}={part} selects it" if group and part in group_choices(group) else ""
            return (
                f"unknown config key {key}: {where or 'the config'} has no {part!r}{hint}; "
                f"valid keys: {', '.join(valid)}{select}"
            )
        node = node[part]
    return None


def first_value(override: str) -> str:
    """A sweep override (``k=a,b``, ``k=range(…)``) as its first job's override; others unchanged."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        (parsed,) = OverridesParser.create().parse_overrides([override])
    except Exception:  # noqa: BLE001 - an unparsable override is reported by the compose itself
        return override
    if not parsed.is_sweep_override():
        return override
    return f"{parsed.get_key_element()}={next(iter(parsed.sweep_string_iterator()))}"


def task_overrides(cfg: DictConfig) -> list[str]:
    """The command's overrides (``hydra.overrides.task``) as typed: ``model.arch=${x}`` is not resolved."""
    node = OmegaConf.select(cfg, "hydra.overrides.task", default=None)
    return [str(o) for o in OmegaConf.to_container(node, resolve=False)] if node is not None else []


def check_added_keys(task: str, cfg: DictConfig) -> None:
    """Refuse a ``+key=VALUE`` / ``++key=VALUE`` override (in ``hydra.overrides.task``) whose key no
    camx ``task`` job reads, naming the key of that name it reads when there is one."""
    from camx.cli.hydra_bridge import GROUPS, config_dir

    from camx.options.schema import keys_for

    dataset = OmegaConf.select(cfg, "dataset.name", default=None)
    known = list(keys_for(task, None if dataset is None else str(dataset)))
    for override in task_overrides(cfg):
        item = str(override)
        if not item.startswith("+"):
            continue
        key, _, value = item.lstrip("+").partition("=")
        if (
            key in GROUPS
            or (config_dir() / key).is_dir()
            or key.startswith(tuple(f + "." for f in FREE_FORM))
        ):
            continue
        if key in FREE_FORM or key in known or any(k.startswith(key + ".") for k in known):
            continue
        meant = nested_match(key.rsplit(".", 1)[-1], known) or next(
            iter(difflib.get_close_matches(key, known, n=1)), None
        )
        hint = f"; did you mean {meant}={value}?" if meant else f"; `camx {task} --cfg job` shows the keys"
        raise ConfigError(f"{item}: camx {task} reads no key {key}, so the value would be ignored{hint}")
