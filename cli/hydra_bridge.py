"""Compose, validate and launch Hydra jobs for the Typer commands.

Every command is a real Hydra application (run dirs, ``-m`` sweeps, launchers, ``--cfg``), started
through ``hydra.main`` with the command's overrides. Before Hydra creates anything on disk, the
overrides are parsed and every combination of a sweep is composed and validated, so a typo or an
out-of-range value costs one line and exit code 2, and no run dir is left behind.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from camx.errors import IO_ERRNOS, CamxError, ConfigError, storage_error
from camx.options.cam import builtin_methods
from camx.runs import discard_if_empty
from camx.runtime import run_uid

GROUPS = ("model", "dataset", "trainer", "cam", "perturb", "experiment", "hydra/launcher")
MAX_VALIDATED = 256


def config_dir() -> Path:
    """The Hydra config tree, wherever camx is installed and whatever the working directory."""
    import camx.configs

    return Path(next(iter(camx.configs.__path__))).resolve()


def group_choices(group: str) -> list[str]:
    """Option names of a config group (files under ``configs/<group>/``, the generated ``cam`` presets,
    Hydra's own launchers); files starting with ``_`` are shared parts, not choices."""
    if group == "cam":
        return list(builtin_methods())
    names = (
        sorted(p.stem for p in (config_dir() / group).glob("*.yaml") if not p.stem.startswith("_"))
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


def _register_cam_presets() -> None:
    """The ``cam`` group's presets, one per built-in method, generated from the method classes
    (:func:`camx.options.cam.builtin_methods`): ``cam=<id>`` is ``configs/cam/_shared.yaml`` with
    ``name: <id>`` and every method's option defaults under ``options.<method>``, so a default lives
    once, in the method's ``__init__``."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    if store.repo.get("cam", {}).get("_generated.yaml") is not None:
        return
    shared = OmegaConf.to_container(OmegaConf.load(config_dir() / "cam" / "_shared.yaml"))
    assert isinstance(shared, dict)
    methods = builtin_methods()
    options = {method: dict(opts) for method, opts in methods.items() if opts}
    for method in methods:
        store.store(group="cam", name=method, node={"name": method, **shared, "options": options})
    store.store(group="cam", name="_generated", node={})


def rewrite(overrides: list[str]) -> list[str]:
    """camx's shorthands, as Hydra overrides: ``cam=package.module:Class`` (a user's method, not a preset)
    is ``cam.name=…`` (the presets differ only in ``name``), and ``cam.options.<method>.<option>=V`` may
    add a key (a user method's options are not in the presets; unknown options are refused when the
    method is built)."""
    out = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if key == "cam" and sep and ":" in value:
            item = f"cam.name={value}"
        elif key.startswith("cam.options.") and sep:
            item = "++" + item
        out.append(item)
    return out


def quote(value: str) -> str:
    """``value`` as a Hydra-grammar quoted string that composes to exactly ``value``: a literal, never an
    interpolation (``${…}`` is escaped for OmegaConf, quotes and the backslashes before them for Hydra)."""
    text = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)
    text = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    text = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text)
    return "'" + text + "'"


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
    _register_cam_presets()
    overrides = rewrite(overrides)
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
    """Run ``task_function`` as a Hydra application with ``overrides`` (``-m`` when ``multirun``).

    Hydra's own failures come back as camx errors instead of Hydra's report and exit code 1: a run dir
    or ``.hydra`` file the file system refused is a StorageError (exit 3; a run dir left with a partial
    ``.hydra`` only is removed), a config Hydra cannot compose (``--cfg`` skips the prevalidation) a
    ConfigError.
    """
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    _register_resolvers()
    _register_cam_presets()
    argv = [f"camx {task}", *(["-m"] if multirun else []), *(hydra_flags or []), *rewrite(overrides)]
    main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=task)(task_function)
    saved, saved_env = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = argv
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing a stack and exiting 1
    try:
        main()
    except (HydraException, OmegaConfBaseException) as exc:  # before OSError: MissingConfigException is one
        msg = _one_line(exc).split("; Config search path")[0].replace(":;", ":")
        raise ConfigError(f"invalid configuration: {msg}") from None
    except OSError as exc:
        if exc.errno not in IO_ERRNOS and not isinstance(exc, (FileExistsError, NotADirectoryError)):
            raise
        _discard_partial_run_dir(exc.filename)
        raise storage_error(exc, exc.filename, "cannot create the run dir") from None
    finally:
        sys.argv = saved
        if saved_env is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_env


def _discard_partial_run_dir(filename: Any) -> None:
    """Remove the run dir Hydra was writing ``filename`` (``<run dir>/.hydra/…``) into, if that is all it holds."""
    if not filename:
        return
    path = Path(str(filename))
    run_dir = next((p.parent for p in [path, *path.parents] if p.name == ".hydra"), None)
    if run_dir is not None:
        discard_if_empty(run_dir)


__all__ = [
    "CamxError",
    "compose",
    "config_dir",
    "expand",
    "group_choices",
    "launch",
    "prevalidate",
    "quote",
    "rewrite",
]
