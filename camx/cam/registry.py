"""The method registry: every :class:`~camx.cam.base.CamMethod` subclass with a ``name`` of its own
registers itself when its class is defined, so adding a built-in method is one new file in
``camx/cam/`` (:mod:`camx.cam` imports every module of the package) and a user's method is any
subclass in the user's own module.

:func:`resolve_method` turns what a caller passes as a method — an id (``"gradcam"``), a class, or
``"package.module:Class"`` naming one — into the class. The torch-free half of config validation reads
the built-in ids and option defaults from the same class definitions (:mod:`camx.options.cam`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from camx.errors import ConfigError

if TYPE_CHECKING:
    from camx.cam.base import CamMethod

#: method id → class, built-ins first (in :func:`order_key` order), then methods registered later
REGISTRY: dict[str, type[CamMethod]] = {}


def register(cls: type[CamMethod]) -> None:
    """Add ``cls`` under ``cls.name`` (called by ``CamMethod.__init_subclass__``); another class already
    holding the id is a ConfigError (redefining the same class, e.g. on a module reload, replaces it)."""
    held = REGISTRY.get(cls.name)
    if held is not None and (held.__module__, held.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ConfigError(
            f"method id {cls.name!r} of {cls.__module__}.{cls.__qualname__} is already taken by "
            f"{held.__module__}.{held.__qualname__}; give the class another name"
        )
    REGISTRY[cls.name] = cls


def order_key(cls: type[CamMethod]) -> tuple[bool, str]:
    """Listing order: methods before baselines, then by module (definition order within a module)."""
    return (bool(cls.baseline), cls.__module__)


def sort_registry() -> None:
    """Put the registry in :func:`order_key` order (stable: a module's classes keep their order)."""
    items = sorted(REGISTRY.items(), key=lambda item: order_key(item[1]))
    REGISTRY.clear()
    REGISTRY.update(items)


def display_name(cls: type) -> str:
    """A class's method id: the ``name`` it sets itself, else its class name (a subclass that only
    tweaks a built-in keeps the built-in's ``name`` but is not that method)."""
    return str(cls.__dict__.get("name") or cls.__name__)


def method_key(method: Any) -> str:
    """The key of a method in results and options: its id or the ``"module:Class"`` text as given, or
    a class's :func:`display_name`."""
    if isinstance(method, str):
        return method
    return display_name(method) if isinstance(method, type) else str(method)


def _import_class(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"method={spec!r}: cannot import it ({type(exc).__name__}: {exc}); "
            "give 'package.module:Class' of a CamMethod subclass importable from here"
        ) from None


def resolve_method(method: Any) -> type[CamMethod]:
    """The class of ``method``: a registered id, a CamMethod subclass, or ``"package.module:Class"``."""
    from camx.cam.base import CamMethod

    cls = _import_class(method) if isinstance(method, str) and ":" in method else method
    if isinstance(cls, type) and issubclass(cls, CamMethod) and cls is not CamMethod:
        return cls
    if isinstance(method, str) and ":" not in method:
        return get_method(method)
    raise ConfigError(
        f"method={method!r} is not a CamMethod subclass; give an id ({', '.join(REGISTRY)}), "
        "a subclass of camx.cam.CamMethod or 'package.module:Class' naming one"
    )


def get_method(name: str) -> type[CamMethod]:
    """The class registered as ``name``; a ConfigError listing the valid ids otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"method={name!r} is not a CAM method; choose one of: {', '.join(REGISTRY)} "
            "(or 'package.module:Class' for your own)"
        ) from None


def method_table() -> str:
    """The README's method table, one row per built-in method (kept in sync by tests/test_readme.py)."""
    lines = [
        "| id | what the map is | paper | gradients | cost per image |",
        "|---|---|---|---|---|",
    ]
    for name, cls in REGISTRY.items():
        if not cls.__module__.startswith("camx.cam."):
            continue
        grads = "yes" if cls.needs_gradients else "no"
        lines.append(f"| `{name}` | {cls.summary} | {cls.paper} | {grads} | {cls.cost} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m camx.cam.registry: the table to paste into the README
    import camx.cam  # noqa: F401  (imports every built-in method, which registers it)
    import camx.cam.registry as registered  # the package's copy, filled by importing camx.cam

    print(registered.method_table(), end="")
