"""What one config key may hold: :class:`Key` (type, range, choices, null) and the check of a value
against it, worded for the one-line error (``name=value is out of range; it must be …``).

The table of every key camx reads is :data:`camx.options.schema.SCHEMA`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from camx.errors import ConfigError, check_choice


@dataclass(frozen=True)
class Key:
    """One config key: ``kind`` is int, float, bool, text, path, texts (a list of texts), device, target,
    resume, sizes or any; ``low``/``high`` bound numbers (inclusive unless said otherwise)."""

    kind: str
    low: float | None = None
    high: float | None = None
    optional: bool = False  #: null allowed
    low_inclusive: bool = True
    high_inclusive: bool = True
    auto: bool = False  #: the text "auto" allowed too (decided at run time)
    choices: tuple[str, ...] = ()  #: the texts allowed (each item of a list); empty: any


def choice_key(*choices: str, optional: bool = False) -> Key:
    return Key("text", optional=optional, choices=choices)


def int_key(low: int | None, high: int | None, optional: bool = False) -> Key:
    return Key("int", low, high, optional)


def float_key(low: float | None, high: float | None, *, lo_inc: bool = True, hi_inc: bool = True) -> Key:
    return Key("float", low, high, low_inclusive=lo_inc, high_inclusive=hi_inc)


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")


def _problem_int(value: Any, key: Key) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,30}", value.strip()):
        value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return "is not an integer"
    if (key.low is not None and value < key.low) or (key.high is not None and value > key.high):
        return "is out of range"
    return None


def _problem_float(value: Any, key: Key) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return "is not a number"
    try:
        v = float(value)
    except ValueError:
        return "is not a number"
    if not math.isfinite(v):
        return "is not finite"
    lo_ok = key.low is None or (v >= key.low if key.low_inclusive else v > key.low)
    hi_ok = key.high is None or (v <= key.high if key.high_inclusive else v < key.high)
    return None if lo_ok and hi_ok else "is out of range"


def _is_list(value: Any) -> bool:
    """A list (OmegaConf's ListConfig is a Sequence, not a list), not a text."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _is_texts(value: Any) -> bool:
    return _is_list(value) and all(isinstance(v, str) and v.strip() for v in value)


def _problem(value: Any, key: Key) -> str | None:
    """What is wrong with ``value`` for ``key`` (None: nothing), as the words after ``name=value``."""
    if value is None:
        return None if key.optional or key.kind == "any" else "is empty (null)"
    if key.auto and value == "auto":
        return None
    kind = key.kind
    if kind == "int":
        return _problem_int(value, key)
    if kind == "float":
        return _problem_float(value, key)
    if kind == "bool":
        return None if isinstance(value, bool) else "is not true or false"
    if kind in ("text", "path", "device"):
        if not isinstance(value, str) or (not value.strip() and not key.optional):  # '' = unset if optional
            return "is not a non-empty text"
        return None if kind != "device" or _DEVICE.fullmatch(value) else "is not a device"
    if kind == "texts":
        return None if _is_texts(value) else "is not a list of non-empty texts"
    if kind == "methods":  # a list, or one text of comma-separated ids
        return (
            None
            if _is_texts(value) or (isinstance(value, str) and value.strip())
            else "is not a list of methods"
        )
    if kind == "layers":  # one module path, or a list of them (maps fused by cam.fuse)
        single = isinstance(value, (str, int)) and not isinstance(value, bool)
        return None if single or _is_texts(value) else "is not a layer or a list of layers"
    if kind == "target":
        return None if isinstance(value, (str, int)) and not isinstance(value, bool) else "is not a class"
    if kind == "resume":
        return (
            None if isinstance(value, bool) or (isinstance(value, str) and value.strip()) else "is not valid"
        )
    if kind == "sizes":
        ok = (
            _is_list(value)
            and len(value) > 0
            and all(_problem_int(v, int_key(8, 4096)) is None for v in value)
        )
        return None if ok else "is not a list of input sides in [8, 4096]"
    if kind == "ratios":
        ok = (
            _is_list(value)
            and len(value) == 3
            and all(_problem_float(v, float_key(0.0, 1.0)) is None for v in value)
            and sum(float(v) for v in value) > 0
        )
        return None if ok else "is not three fractions (train, val, test) in [0, 1]"
    if kind == "range":
        ok = (
            _is_list(value)
            and len(value) == 2
            and all(_problem_float(v, float_key(0.0, None)) is None for v in value)
        )
        return None if ok and float(value[0]) <= float(value[1]) else "is not a range with 0 ≤ low ≤ high"
    return None if isinstance(value, (str, int, float, bool)) else "is not a single value"


_EXPECTED = {
    "bool": "true or false",
    "text": "a non-empty text",
    "path": "a folder or file path",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "texts": "a list such as [a,b]",
    "methods": "a list of CAM methods such as [gradcam,gradcampp]",
    "target": "a class index or name",
    "layers": "a module path such as layer4, or a list such as [layer3,layer4]",
    "resume": "true, false or a run dir",
    "sizes": "null or a list such as [32,48]",
    "ratios": "a list such as [0.8,0.1,0.1]",
    "range": "null or [low, high] such as [0,1]",
    "any": "a single value",
}


def expected(key: Key) -> str:
    if key.kind in ("int", "float"):
        lo = "-inf" if key.low is None else f"{key.low:g}" if key.kind == "float" else str(int(key.low))
        hi = "inf" if key.high is None else f"{key.high:g}" if key.kind == "float" else str(int(key.high))
        rng = ("[" if key.low_inclusive and key.low is not None else "(") + f"{lo}, {hi}"
        rng += "]" if key.high_inclusive and key.high is not None else ")"
        what = f"an integer in {rng}" if key.kind == "int" else f"a finite number in {rng}"
    else:
        what = _EXPECTED[key.kind]
    return what + (" or auto" if key.auto else "") + (" or null" if key.optional else "")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_value(name: str, value: Any, key: Key) -> None:
    """One ConfigError if ``value`` does not fit ``key``: its type and range, then its choices."""
    problem = _problem(value, key)
    if problem:
        raise ConfigError(f"{name}={_shown(value)} {problem}; it must be {expected(key)}")
    if key.choices and value is not None:
        items = value.split(",") if isinstance(value, str) and key.kind != "text" else value
        for item in [items] if isinstance(items, str) else items:
            check_choice(name, item, key.choices)
