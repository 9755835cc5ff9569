"""State-dict files (``model.weights=PATH``): read safely, fitted to a model, and every misfit said in one line.

A file is read with ``torch.load(weights_only=True)``: it can hold tensors and containers but never
runs code. What the user most often has instead gets its own message: a whole pickled model
(``torch.save(model)``), and weights of another architecture (the first tensor that differs, and the
architecture of the same family the file fits, when one does). A file whose tensors fit the model except
its classifier's rows is a classifier of another class count (:func:`state_classes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camx.errors import CheckpointError, ConfigError
from camx.options.model import weights_message

__all__ = [
    "blocked_global",
    "fit_state",
    "load_state_file",
    "not_camx_checkpoint",
    "read_state_file",
    "state_classes",
    "state_mismatch",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _unwrap(state: Any) -> dict[str, torch.Tensor] | None:
    """The state dict a loaded file holds (also inside ``{"state_dict": …}`` / ``{"model": …}``), with a
    ``module.`` prefix (DataParallel) removed; None when it holds no mapping of tensors."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not state or not all(torch.is_tensor(v) for v in state.values()):
        return None
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def blocked_global(exc: BaseException) -> str | None:
    """The Python object a weights-only load refused to import (``torchvision.models.resnet.ResNet``)."""
    m = re.search(r"GLOBAL ([\w.]+)", str(exc)) or re.search(r"[Uu]nsupported global:? ([\w.]+)", str(exc))
    return m.group(1) if m else None


def _whole_model(path: Path, exc: BaseException) -> str | None:
    """The class of the whole pickled model (``torch.save(model)``) a weights-only load refused, else None."""
    blocked = blocked_global(exc)
    return blocked if blocked and _pickles_modules(path) else None


def _convert(path: Path) -> str:
    return f"torch.save(torch.load('{path}', weights_only=False).state_dict(), 'state.pth')"


def _unreadable(path: Path, exc: BaseException) -> str:
    """The one line for a file ``torch.load(weights_only=True)`` refused."""
    whole, blocked = _whole_model(path, exc), blocked_global(exc)
    if whole:
        return (
            f"{path}: holds a whole pickled model ({whole}), not a state dict; camx reads state dicts only "
            f"(torch.load(weights_only=True): no code in the file runs); where you trust the file, convert it: "
            f"{_convert(path)}"
        )
    if blocked:
        return (
            f"{path}: refused: it holds {blocked}, which could run code when unpickled (nothing was run); "
            "save the weights with torch.save(model.state_dict(), PATH)"
        )
    text = _ANSI.sub("", str(exc)).strip()
    first = re.split(r"(?<=[.;])\s", text.splitlines()[0] if text else type(exc).__name__)[0][:160]
    return (
        f"{path}: cannot read the state dict ({first}); is it a file of torch.save(model.state_dict(), PATH), "
        "complete and not corrupt?"
    )


def _pickles_modules(path: Path) -> bool:
    """Whether the pickle in ``path`` refers to ``torch.nn`` layers (a whole model); read, never unpickled."""
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                pkl = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                data = zf.read(pkl) if pkl else b""
        else:
            with path.open("rb") as fh:
                data = fh.read(1 << 22)
    except (OSError, zipfile.BadZipFile):
        return False
    return b"torch.nn.modules" in data


def read_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in the file ``path`` (read with ``weights_only=True``); a CheckpointError says why not."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(weights_message(path))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the weights-only unpickler raises almost anything on garbage
        raise CheckpointError(_unreadable(path, exc)) from None
    state = _unwrap(loaded)
    if state is None:
        raise CheckpointError(
            f"{path}: holds a {type(loaded).__name__}, not a state dict of tensors; "
            "save one with torch.save(model.state_dict(), PATH)"
        )
    return state


def not_camx_checkpoint(path: str | Path, data: Any = None, exc: BaseException | None = None) -> str | None:
    """The one line for a ``--checkpoint`` that is a plain PyTorch file, not a camx checkpoint: a state dict
    (``data``: the loaded file, else read here) or a whole pickled model (``exc``: what refused it).
    None when it is neither."""
    path = Path(path)
    use = "model.arch=torchvision/NAME or timm/NAME model.weights=PATH without --checkpoint"
    if data is None and exc is None:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001
            exc = error
    whole = _whole_model(path, exc) if exc is not None else None
    if whole:
        return (
            f"{path}: a whole pickled model ({whole}), not a camx checkpoint (`camx train` writes those); camx "
            f"never unpickles code; where you trust the file, save its state dict ({_convert(path)}) and use {use}"
        )
    state = _unwrap(data) if exc is None else None
    if state is None:
        return None
    return (
        f"{path}: a PyTorch state dict ({len(state)} tensors), not a camx checkpoint (`camx train` writes those); "
        f"to explain the classifier it belongs to, use {use.replace('PATH', str(path))}"
    )


def _aligned(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state``'s tensors under ``own``'s names: by name when any name is shared, else by position when
    the counts match (the same architecture under other module names), else nothing."""
    if set(state) & set(own):
        return {k: state[k] for k in own if k in state}
    return dict(zip(own, state.values())) if len(state) == len(own) else {}


def state_classes(
    own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], default: int
) -> int | None:
    """The class count of ``state`` when it differs from ``own`` (a model built for ``default`` classes)
    only in the rows of the tensors with ``default`` rows (its classifier): a fine-tuned N-class model.
    None when every shape matches or anything else differs."""
    fitted = _aligned(own, state)
    if not len(fitted) == len(own) == len(state):
        return None
    differ = [k for k, v in fitted.items() if tuple(v.shape) != tuple(own[k].shape)]
    rows = {
        int(fitted[k].shape[0])
        for k in differ
        if own[k].dim() >= 1
        and own[k].shape[0] == default
        and fitted[k].dim() == own[k].dim()
        and fitted[k].shape[1:] == own[k].shape[1:]
    }
    heads = [k for k in own if own[k].dim() >= 1 and own[k].shape[0] == default]
    if not differ or len(rows) != 1 or set(differ) != set(heads) or min(rows) < 1:
        return None
    return rows.pop()


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(getattr(value, "shape", ()))


def state_mismatch(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str:
    """How ``state`` differs from ``own``: the first tensor of another shape, missing and unexpected names."""
    fitted = _aligned(own, state)
    shapes = [k for k, v in fitted.items() if _shape(v) != _shape(own[k])]
    missing = [k for k in own if k not in fitted]
    unexpected = [k for k in state if k not in own] if set(state) & set(own) else []
    parts = []
    if shapes:
        k = shapes[0]
        parts.append(
            f"{k} is {_shape(fitted[k])} in the file but {_shape(own[k])} in the model"
            + (f" ({len(shapes)} tensors of another shape)" if len(shapes) > 1 else "")
        )
    if missing and fitted:
        parts.append(f"{len(missing)} missing, e.g. {missing[0]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
    if not fitted:
        parts.append(
            f"none of its {len(state)} names is one of the model's {len(own)} and their counts differ"
        )
    return "; ".join(parts) or "tensors of another kind"


def fit_state(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path, arch: str = "") -> str:
    """Load ``state`` into ``model`` by name, or by position when no name matches (see :func:`_aligned`);
    returns how ("names" or "order"). Anything else is a CheckpointError naming the first mismatch and,
    when one fits, the architecture of the same family the file is for."""
    own = model.state_dict()
    fitted = _aligned(own, state)
    exact = len(fitted) == len(own) == len(state) and all(
        tuple(v.shape) == tuple(own[k].shape) for k, v in fitted.items()
    )
    if not exact:
        what = arch or type(model).__name__
        classes = state_classes(own, state, 1000) if arch else None
        guess = None if classes or not arch else _guess_arch(state, arch)
        if classes:
            fix = f"it is a {classes}-class {what}: use model.arch={what}, which takes the class count from the file"
        elif guess:
            fix = f"it looks like {guess}: set model.arch={guess}"
        else:
            fix = f"pass the state dict of a {what} (torch.save(model.state_dict(), PATH))"
        raise CheckpointError(f"{path}: does not fit {what}: {state_mismatch(own, state)}; {fix}")
    model.load_state_dict(fitted)
    return "names" if set(state) & set(own) else "order"


def load_state_file(model: nn.Module, path: str | Path, arch: str = "") -> str:
    """Read the state-dict file ``path`` and load it into ``model`` (:func:`fit_state`)."""
    return fit_state(model, read_state_file(path), path, arch)


def _guess_arch(state: Mapping[str, torch.Tensor], arch: str, limit: int = 40) -> str | None:
    """The first other model of ``arch``'s family (same library, same leading letters: ``resnet``) that
    ``state`` fits by name and shape (a classifier of another class count included); built on the meta
    device, so no weights are made. None when none does or the family is larger than ``limit``."""
    from camx.options.model import split_arch

    source, name = split_arch(arch)
    family = re.match(r"[a-z]+", name)
    if source == "camx" or family is None:
        return None
    if source == "timm":
        import timm

        names = timm.list_models(f"{family.group()}*")
    else:
        from torchvision import models as tvm

        names = [n for n in tvm.list_models(module=tvm) if n.startswith(family.group())]
    names = [n for n in names if n != name]
    if len(names) > limit:
        return None
    for other in names:
        try:
            with torch.device("meta"):
                if source == "timm":
                    candidate = timm.create_model(other, pretrained=False)
                else:
                    candidate = tvm.get_model(other, weights=None)
        except Exception:  # noqa: BLE001 - a model that cannot be built on the meta device is no guess
            continue
        own = candidate.state_dict()
        if set(own) == set(state) and (
            all(own[k].shape == state[k].shape for k in own) or state_classes(own, state, 1000)
        ):
            return f"{source}/{other}"
    return None
