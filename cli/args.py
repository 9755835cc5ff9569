"""The arguments of a command before Hydra sees them: images apart from overrides, unknown and repeated
options refused in one line (exit 2) before any work."""

from __future__ import annotations

import difflib
import os
import re
from typing import Any

import typer
from camx.cli import hydra_bridge as hb
from camx.cli import render
from typer.core import TyperCommand

IMAGES_AFTER_DASHDASH = "camx_images"
# key=value, +key=value, ++key=value, ~key; a key is dotted names (hydra/… groups may hold a slash)
_OVERRIDE_KEY = re.compile(r"(\+{1,2}|~)?(hydra/[\w@.-]+|[A-Za-z_][\w@-]*(\.[\w@-]+)*)")


def is_override(arg: str) -> bool:
    """Whether an argument of ``camx explain`` is a Hydra override rather than an image: an existing path
    is always an image (``a=b.png`` from a glob), and so is anything whose part before ``=`` is no config
    key (``imgs/a=b.png``); the arguments after ``--`` are images whatever they look like."""
    if os.path.lexists(arg):
        return False
    key, sep, _ = arg.partition("=")
    if not sep and not arg.startswith("~"):
        return False
    return _OVERRIDE_KEY.fullmatch(key) is not None


def with_images(ctx: typer.Context, task: str, cfg: str | None) -> list[str]:
    """The overrides among the arguments, plus ``inputs=[…]`` of the images (the other arguments and every
    one after ``--``); no image is a usage error (exit 2) unless ``--cfg`` only prints the config."""
    args = list(ctx.args)
    images = [a for a in args if not is_override(a)] + list(ctx.meta.get(IMAGES_AFTER_DASHDASH, []))
    if not images and not cfg:
        render.error(f"no image given; usage: camx {task} IMAGE... [key=value ...] (files, folders or globs)")
        raise typer.Exit(2)
    inputs = ["inputs=[" + ",".join(hb.quote(i) for i in images) + "]"] if images else []
    return [a for a in args if is_override(a)] + inputs


def methods_override(method: list[str]) -> str:
    """``--method a,b`` (or ``--method a --method b``) as the override ``methods=[a,b]``."""
    names = [m.strip() for item in method for m in item.split(",") if m.strip()]
    return "methods=[" + ",".join(names) + "]"


def _refuse(message: str) -> None:
    render.error(message)
    raise typer.Exit(2)


class Command(TyperCommand):
    """A command whose unknown options (``--methods`` for ``--method``) and repeated single-value options
    (``--target a --target b``) are refused in one line, exit 2, before anything runs: with unknown options
    allowed through for Hydra, a mistyped one would otherwise become an image path or an override."""

    def _names(self, ctx: typer.Context) -> tuple[list[str], dict[str, Any]]:
        """Every option name of the command, and the single-value ones by name."""
        names: list[str] = []
        single: dict[str, Any] = {}
        for param in self.get_params(ctx):
            if param.param_type_name != "option":
                continue
            opts = [*param.opts, *param.secondary_opts]
            names += opts
            if not param.multiple and not param.is_flag:
                single.update(dict.fromkeys(opts, param))
        return names, single

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        head = args[: args.index("--")] if "--" in args else args
        names, single = self._names(ctx)
        seen: dict[Any, list[str]] = {}
        for i, arg in enumerate(head):
            name, eq, value = arg.partition("=")
            if name in single:
                given = value if eq else (head[i + 1] if i + 1 < len(head) else "")
                seen.setdefault(single[name], []).append(given)
        for param, values in seen.items():
            if len(values) > 1:
                _refuse(f"{param.opts[0]} given {len(values)} times ({', '.join(values)}); give it once")
        rest = super().parse_args(ctx, args)
        for arg in ctx.args:
            if arg.startswith("-") and arg != "-" and not os.path.lexists(arg):
                name = arg.partition("=")[0]
                close = difflib.get_close_matches(name, names, n=1)
                hint = (
                    f"did you mean {close[0]}?"
                    if close
                    else f"`camx {ctx.info_name} --help` lists the options"
                )
                _refuse(f"no such option {name}; {hint}")
        return rest


class ImagesCommand(Command):
    """A :class:`Command` that keeps the arguments after ``--`` apart (in ``ctx.meta``): they are image paths."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta[IMAGES_AFTER_DASHDASH] = args[cut + 1 :]
            args = args[:cut]
        return super().parse_args(ctx, args)
