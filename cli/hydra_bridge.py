"""Compose, validate and launch Hydra jobs for the Typer commands.

Every command is a real Hydra application (run dirs, ``-m`` sweeps, launchers, ``--cfg``), started
through ``hydra.main`` with the command's overrides. Before Hydra creates anything on disk, the
overrides are parsed and every combination of a sweep is composed and validated, so a typo or an
out-of-range value costs one line and exit code 2, and no run dir is left behind.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from camx.errors import CamxError, ConfigError
from camx.runtime import run_uid

GROUPS = ("model", "dataset", "trainer", "cam", "perturb", "experiment", "hydra/launcher")
MAX_VALIDATED = 256


def config_dir() -> Path:
    """The Hydra config tree, wherever camx is installed and whatever the working directory."""
    import camx.configs

    return Path(next(iter(camx.configs.__path__))).resolve()


def group_choices(group: str) -> list[str]:
    """Option names of a config group (files under ``configs/<group>/``, plus Hydra's own launchers)."""
    names = (
        sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))
        if (config_dir() / group).is_dir()
        else []
    )
    if group == "hydra/launcher":
        names = sorted({*names, "basic", *_plugin_launchers()})
    return names


def _plugin_launchers() -> list[str]:
    found = []
    for module, names in (
        ("hydra_plugins.hydra_joblib_launcher", ["joblib"]),
        ("hydra_plugins.hydra_submitit_launcher", ["submitit_local", "submitit_slurm"]),
    ):
        try:
            __import__(module)
            found += names
        except ImportError:
            pass
    return found


def _register_resolvers() -> None:
    if not OmegaConf.has_resolver("camx_uid"):
        OmegaConf.register_new_resolver("camx_uid", run_uid, use_cache=True)
    if not OmegaConf.has_resolver("camx_slug"):  # a value as one path component: timm/vit_b → timm-vit_b
        OmegaConf.register_new_resolver("camx_slug", lambda v: str(v).replace("/", "-").replace(":", "-"))


def quote(value: str) -> str:
    """A Hydra-grammar quoted string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and "HYDRA_FULL_ERROR" not in ln]
    return "; ".join(lines)


def expand(overrides: list[str]) -> list[list[str]]:
    """Every job's override list of a sweep (the basic sweeper's cartesian product), at most MAX_VALIDATED."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(f"cannot parse the overrides: {_one_line(exc)}") from None
    axes: list[list[str]] = []
    for o in parsed:
        if o.is_sweep_override():
            key = o.get_key_element()
            axes.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            axes.append([o.input_line])
    return [list(c) for c in itertools.islice(itertools.product(*axes), MAX_VALIDATED)]


def _check_groups(overrides: list[str]) -> None:
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if key.startswith("hydra/") and key != "hydra/launcher":
            continue
        if key in GROUPS and value:
            values = (
                [v.strip() for v in value.strip("[]").split(",")]
                if value.startswith("[")
                else [value.strip()]
            )
            valid = group_choices(key)
            for v in values:
                if v and v != "null" and v not in valid:
                    raise ConfigError(f"{key}={v} is not a valid choice; choose one of: {', '.join(valid)}")


def compose(task: str, overrides: list[str]) -> DictConfig:
    """Compose the config of one job (no sweep values), raising ConfigError on any composition problem."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    _register_resolvers()
    _check_groups(overrides)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name=task):
            return hydra_compose(config_name=task, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        msg = _one_line(exc)
        if "not in struct" in msg or "Could not override" in msg or "Key '" in msg:
            key = next((o.split("=")[0] for o in overrides if o.split("=")[0].lstrip("+~") in msg), None)
            hint = f" ({key})" if key else ""
            raise ConfigError(
                f"unknown config key{hint}: {msg}; check the spelling with `camx {task} --cfg job`, "
                "or add a new key with +key=value"
            ) from None
        raise ConfigError(f"invalid configuration: {msg}") from None
    finally:
        GlobalHydra.instance().clear()


def prevalidate(task: str, overrides: list[str], check: Callable[[DictConfig], None]) -> DictConfig:
    """Compose and ``check`` every job of the sweep; return the first job's config."""
    jobs = expand(overrides)
    first: DictConfig | None = None
    for job in jobs:
        cfg = compose(task, job)
        check(cfg)
        first = first or cfg
    assert first is not None
    return first


def launch(
    task: str,
    overrides: list[str],
    task_function: Callable[[DictConfig], Any],
    *,
    multirun: bool,
    hydra_flags: list[str] | None = None,
) -> None:
    """Run ``task_function`` as a Hydra application with ``overrides`` (``-m`` when ``multirun``)."""
    import hydra

    _register_resolvers()
    argv = [f"camx {task}", *(["-m"] if multirun else []), *(hydra_flags or []), *overrides]
    main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=task)(task_function)
    saved = sys.argv
    sys.argv = argv
    try:
        main()
    finally:
        sys.argv = saved


__all__ = ["CamxError", "compose", "config_dir", "expand", "group_choices", "launch", "prevalidate", "quote"]
