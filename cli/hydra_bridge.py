"""Drive Hydra for the Typer commands with an explicit argument list (no ``sys.argv``, no environment).

Every command is a real Hydra application — run dirs, ``-m`` sweeps through Hydra's sweeper and
launchers, ``--cfg`` — composed and launched through Hydra's own ``Hydra`` object. :func:`launch` does
what ``Hydra.run``/``Hydra.multirun`` do, with one step between composing and launching: a check of the
composed config, so a bad value costs one line and exit code 2 before any run dir exists (Hydra's
callbacks cannot stop a run: their exceptions are turned into warnings). Hydra's own failures come back
as camx errors: a config Hydra cannot compose is a :class:`ConfigError` in one line, a run dir the file
system refused a :class:`StorageError` (exit 3).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camx.cli.config_keys import unknown_key
from omegaconf import DictConfig, OmegaConf

from camx.errors import IO_ERRNOS, CamxError, ConfigError, StorageError, storage_error
from camx.options.cam import builtin_methods
from camx.runs import discard_if_empty
from camx.runtime import run_uid

GROUPS = ("model", "dataset", "trainer", "cam", "perturb", "experiment", "hydra/launcher")


def config_dir() -> Path:
    """The Hydra config tree, wherever camx is installed and whatever the working directory."""
    import camx.configs

    return Path(next(iter(camx.configs.__path__))).resolve()


def group_choices(group: str) -> list[str]:
    """Option names of a config group (files under ``configs/<group>/``, the generated ``cam`` presets,
    Hydra's own launchers); files starting with ``_`` are shared parts, not choices."""
    if group == "cam":
        return list(builtin_methods())
    folder = config_dir() / group
    names = (
        sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_")) if folder.is_dir() else []
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
    if not OmegaConf.has_resolver("camx_head"):  # run dirs: "pretrained" for another library's model
        OmegaConf.register_new_resolver("camx_head", _run_head)


def _run_head(*, _root_: Any) -> str:
    """``pretrained`` when the job uses a pretrained classifier (:func:`camx.runs.pretrained_source`),
    else ``model.head`` (a camx-trained model's head)."""
    from camx.runs import pretrained_source

    return "pretrained" if pretrained_source(_root_) else str(_root_.model.head)


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
    return "; ".join(lines).split("; Config search path")[0].replace(":;", ":")


# ------------------------------------------------------------------------ Hydra's errors in one line


def _config_error(exc: Exception, task: str, overrides: list[str]) -> ConfigError:
    """A composition failure of Hydra or OmegaConf as one ConfigError line (what, why, how to fix)."""
    from hydra.errors import MissingConfigException

    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        group, _, name = str(exc.missing_cfg_file).rpartition("/")
        if group in GROUPS:
            valid = group_choices(group)
            return ConfigError(f"{group}={name} is not a valid choice; choose one of: {', '.join(valid)}")
    msg = _one_line(exc)
    if "not in struct" in msg or "Could not override" in msg or "Key '" in msg:
        key = next((o.split("=")[0] for o in overrides if o.split("=")[0].lstrip("+~") in msg), None)
        found = unknown_key(task, overrides, key) if key else None
        return ConfigError(
            found
            or f"unknown config key{f' ({key})' if key else ''}: {msg}; check the spelling with "
            f"`camx {task} --cfg job`"
        )
    return ConfigError(f"invalid configuration: {msg}")


@contextmanager
def _hydra_errors(task: str, overrides: list[str]) -> Iterator[None]:
    """Hydra's and OmegaConf's exceptions as camx errors; a refused run dir as a StorageError."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except (HydraException, OmegaConfBaseException) as exc:  # before OSError: MissingConfigException is one
        raise _config_error(exc, task, overrides) from None
    except OSError as exc:
        if exc.errno not in IO_ERRNOS and not isinstance(exc, (FileExistsError, NotADirectoryError)):
            raise
        _discard_partial_run_dir(exc.filename)
        raise storage_error(exc, exc.filename, "cannot create the run dir") from None


def compose(task: str, overrides: list[str]) -> DictConfig:
    """Compose the config of one job (no sweep values), raising ConfigError on any composition problem."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    _register_resolvers()
    _register_cam_presets()
    overrides = rewrite(overrides)
    GlobalHydra.instance().clear()
    try:
        with (
            _hydra_errors(task, overrides),
            initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name=task),
        ):
            return hydra_compose(config_name=task, overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


# ---------------------------------------------------------------------------------------- launching


@dataclass
class Launched:
    """What :func:`launch` ran: the composed config (a sweep's without its sweep values) and the run dir
    of every job that returned."""

    config: DictConfig | None
    run_dirs: list[Path]


def launch(
    task: str,
    overrides: list[str],
    task_function: Callable[[DictConfig], Any],
    *,
    multirun: bool = False,
    show: str | None = None,
    check: Callable[[DictConfig], None] | None = None,
    check_job: Callable[[DictConfig], None] | None = None,
) -> Launched:
    """Run ``task_function`` as the Hydra application ``task`` with ``overrides`` (a sweep when ``multirun``).

    ``show`` prints instead: ``job``, ``hydra`` or ``all`` the composed config (``--cfg``), ``info``
    Hydra's information (``--info``). ``check`` sees the composed config before anything is written, ``check_job`` each job's config of
    a sweep (:func:`camx.cli.sweep_jobs.check_jobs`) after it.
    """
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    _register_resolvers()
    _register_cam_presets()
    overrides = rewrite(overrides)
    version.setbase("1.3")  # what hydra.main(version_base="1.3") sets: no chdir into the run dir
    GlobalHydra.instance().clear()
    search_path = create_config_search_path(f"file://{config_dir()}")
    hydra = Hydra.create_main_hydra2(task_name=task, config_search_path=search_path)
    try:
        with _hydra_errors(task, overrides):
            if show == "info":
                hydra.show_info("all", config_name=task, overrides=overrides)
                return Launched(None, [])
            if show:
                hydra.show_cfg(config_name=task, overrides=overrides, cfg_type=show, package=None)
                return Launched(None, [])
            mode = RunMode.MULTIRUN if multirun else RunMode.RUN
            cfg = hydra.compose_config(
                task, [*overrides, f"hydra.mode={mode.name}"], run_mode=mode, with_log_configuration=True
            )
            if check is not None:
                check(cfg)
            if multirun and check_job is not None:
                from camx.cli.sweep_jobs import check_jobs

                check_jobs(cfg, hydra.config_loader, check_job)
            jobs = _sweep(hydra, cfg, task_function) if multirun else _run(hydra, cfg, task_function)
        return Launched(cfg, [Path(j.hydra_cfg.hydra.runtime.output_dir) for j in jobs if j.hydra_cfg])
    finally:
        GlobalHydra.instance().clear()


def _run(hydra: Any, cfg: DictConfig, task_function: Callable[[DictConfig], Any]) -> list[Any]:
    """One job in this process: ``Hydra.run`` after its compose."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.utils import run_job
    from hydra.types import HydraContext

    callbacks = Callbacks(cfg)
    callbacks.on_run_start(config=cfg, config_name=str(cfg.task))
    with _run_dir_refused(cfg.hydra.run.dir):
        ret = run_job(
            hydra_context=HydraContext(config_loader=hydra.config_loader, callbacks=callbacks),
            task_function=task_function,
            config=cfg,
            job_dir_key="hydra.run.dir",
            job_subdir_key=None,
        )
    callbacks.on_run_end(config=cfg, config_name=str(cfg.task), job_return=ret)
    _ = ret.return_value  # raises what the job raised
    return [ret]


def _sweep(hydra: Any, cfg: DictConfig, task_function: Callable[[DictConfig], Any]) -> list[Any]:
    """Hydra's sweeper and launcher over the sweep overrides: ``Hydra.multirun`` after its compose. A sweep
    that fails with no job's run dir left (each job removes its own when refused) leaves no sweep dir."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext

    callbacks = Callbacks(cfg)
    callbacks.on_multirun_start(config=cfg, config_name=str(cfg.task))
    sweeper = Plugins.instance().instantiate_sweeper(
        config=cfg,
        hydra_context=HydraContext(config_loader=hydra.config_loader, callbacks=callbacks),
        task_function=task_function,
    )
    sweep_dir = Path(str(cfg.hydra.sweep.dir)).absolute()  # the sweeper reads the same (cached) path
    new = next((p for p in [*reversed(sweep_dir.parents), sweep_dir] if not p.exists()), None)
    try:
        with _run_dir_refused(sweep_dir):
            returns = sweeper.sweep(arguments=OmegaConf.to_container(cfg.hydra.overrides.task, resolve=False))
    except BaseException:
        _discard_empty_sweep(sweep_dir, new)
        raise
    callbacks.on_multirun_end(config=cfg, config_name=str(cfg.task))
    return [r for batch in returns or [] for r in (batch if isinstance(batch, list) else [batch])]


@contextmanager
def _run_dir_refused(run_dir: Any) -> Iterator[None]:
    """A folder the file system will not create although its parent exists (``outputs_dir=/proc/x``:
    ENOENT from mkdir) as the StorageError of a refused run dir (exit 3); other errors pass."""
    try:
        yield
    except FileNotFoundError as exc:
        target, missing = Path(str(run_dir)).absolute(), Path(str(exc.filename or "")).absolute()
        if not exc.filename or (missing != target and missing not in target.parents):
            raise
        raise StorageError(
            f"{missing}: cannot create the run dir: the file system at {missing.parent} does not allow new "
            "folders (ENOENT); set outputs_dir= to a writable folder",
            missing,
            exc.errno,
        ) from None


def _discard_empty_sweep(sweep_dir: Path, new: Path | None) -> None:
    """Remove a sweep dir that holds no job's run dir (only Hydra's ``multirun.yaml`` and launcher logs),
    and the folders above it down from ``new``, the first that did not exist before the sweep."""
    try:
        if not sweep_dir.is_dir() or any(p.is_dir() and p.name[0] != "." for p in sweep_dir.iterdir()):
            return
        shutil.rmtree(sweep_dir, ignore_errors=True)
        for folder in sweep_dir.parents:
            if new is None or not folder.is_relative_to(new) or any(folder.iterdir()):
                break
            folder.rmdir()
    except OSError:  # the file system that failed the sweep may refuse this too: leave it
        pass


def _discard_partial_run_dir(filename: Any) -> None:
    """Remove the run dir Hydra was writing ``filename`` (``<run dir>/.hydra/…``) into, if that is all it holds."""
    if not filename:
        return
    path = Path(str(filename))
    run_dir = next((p.parent for p in [path, *path.parents] if p.name == ".hydra"), None)
    if run_dir is not None:
        discard_if_empty(run_dir)


__all__ = ["CamxError", "Launched", "compose", "config_dir", "group_choices", "launch", "quote", "rewrite"]
