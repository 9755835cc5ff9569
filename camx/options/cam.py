"""The ``cam`` group, torch-free: the built-in method ids and option defaults, and the checks of ``cam``.

There is one list of methods: the classes themselves. :func:`builtin_methods` reads it from the source
of ``camx/cam/*.py`` with :mod:`ast` — every class that sets a non-empty ``name`` of its own, with the
keyword-only arguments of its ``__init__`` (its own or inherited from another class there) and their
literal defaults — so config validation and the CLI's ``cam=<id>`` presets know every method without
importing torch. It follows the registry's rules and order (``camx.cam.registry.order_key``: methods
before baselines, then by module); ``tests/test_cam_explain.py`` checks that both views agree.

A user's own method is ``"package.module:Class"``: checked when the job builds it (importing it), and
its options live under ``cam.options.<Class>`` (:func:`options_key`).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from camx.errors import ConfigError

CAM_DIR = Path(__file__).resolve().parents[1] / "cam"


@functools.lru_cache(maxsize=1)
def builtin_methods() -> dict[str, dict[str, Any]]:
    """Built-in method id → {option: default} in registry order, read from ``camx/cam/*.py``."""
    classes: dict[str, dict[str, Any]] = {}  # class name → what it defines itself
    registered: list[tuple[bool, str, str, str]] = []
    for path in sorted(CAM_DIR.glob("*.py")):
        module = "camx.cam." + path.stem
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                classes[node.name] = {**_class_facts(node), "module": module}
    for cls_name, facts in classes.items():
        if facts["attrs"].get("name"):
            baseline = bool(_inherited(classes, cls_name, lambda f: f["attrs"].get("baseline")))
            registered.append((baseline, facts["module"], facts["attrs"]["name"], cls_name))
    registered.sort(key=lambda r: (r[0], r[1]))  # stable: a module's classes keep their order
    return {
        method: _inherited(classes, cls_name, lambda f: f["options"]) or {}
        for _, _, method, cls_name in registered
    }


def _class_facts(node: ast.ClassDef) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    options: dict[str, Any] | None = None
    for stmt in node.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
        target = stmt.target if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else target
        if isinstance(target, ast.Name) and isinstance(stmt.value, ast.Constant):  # type: ignore[union-attr]
            attrs[target.id] = stmt.value.value  # type: ignore[union-attr]
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            options = {}
            for arg, default in zip(stmt.args.kwonlyargs, stmt.args.kw_defaults):
                try:
                    options[arg.arg] = ast.literal_eval(default) if default is not None else "???"
                except ValueError:  # not a literal: the config leaves it to the class
                    continue
    bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
    return {"attrs": attrs, "options": options, "bases": bases}


def _inherited(classes: Mapping[str, dict[str, Any]], name: str, get: Any) -> Any:
    """``get(facts)`` of class ``name`` or, where it gives None, of its bases (depth first, as Python's MRO
    does for single inheritance)."""
    facts = classes.get(name)
    if facts is None:
        return None
    own = get(facts)
    if own is not None:
        return own
    for base in facts["bases"]:
        found = _inherited(classes, base, get)
        if found is not None:
            return found
    return None


def __getattr__(name: str) -> Any:
    if name == "METHODS":  # every built-in id, in registry order
        return tuple(builtin_methods())
    raise AttributeError(name)


def is_user_method(method: str) -> bool:
    """Whether ``method`` names a user's class, ``"package.module:Class"``."""
    return ":" in method


def options_key(method: str) -> str:
    """The key of ``method``'s options under ``cam.options``: its id, or ``Class`` of ``"package.module:Class"``."""
    return method.rpartition(":")[2]


def check_method(method: object, what: str = "cam method") -> str:
    """``method`` if it is a built-in id or looks like ``"package.module:Class"``; else a ConfigError."""
    text = str(method)
    if is_user_method(text):
        module, _, cls = text.partition(":")
        if module and cls.isidentifier() and all(p.isidentifier() for p in module.split(".")):
            return text
        raise ConfigError(f"{what}={text!r} is not valid; give 'package.module:Class' (e.g. mycams:MyCAM)")
    if text not in builtin_methods():
        raise ConfigError(
            f"{what}={text!r} is not a valid choice; choose one of: {', '.join(builtin_methods())} "
            "(or 'package.module:Class' for your own CamMethod)"
        )
    return text


def check_options(options: Mapping[str, Any] | None, methods: list[str]) -> None:
    """``cam.options`` is ``{method: {option: value}}`` and names only built-in methods or the job's own."""
    known = set(builtin_methods()) | {options_key(m) for m in methods}
    for key, value in (options or {}).items():
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"cam.options.{key}={value!r}: options go under their method, "
                f"cam.options.<method>.{key}=VALUE (e.g. cam.options.smoothgradcampp.n_samples=4)"
            )
        if key not in known:
            raise ConfigError(
                f"cam.options.{key}: {key!r} is not a method of this job ({', '.join(methods)}); "
                "give options as cam.options.<method>.<option>=VALUE"
            )


def method_options(cfg: Mapping[str, Any], method: str) -> dict[str, Any]:
    """Options of ``method``: ``cam.options.<method>`` (``cam.options.<Class>`` for ``"package.module:Class"``,
    :func:`options_key`); a method without an entry gets its defaults."""
    options = (cfg.get("cam") or {}).get("options") or {}
    return dict(options.get(options_key(method)) or {})


def explain_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`camx.cam.explain_many` that the ``cam`` group and ``model.reshape``
    set, the same for every job that explains (explain, eval and its metrics, sanity)."""
    cam = cfg["cam"]
    return {
        "chunk_size": cam["chunk_size"],
        "fuse": cam.get("fuse", "mean"),
        "eigen_smooth": bool(cam.get("eigen_smooth", False)),
        "aug_smooth": bool(cam.get("aug_smooth", False)),
        "reshape": (cfg.get("model") or {}).get("reshape"),
    }
