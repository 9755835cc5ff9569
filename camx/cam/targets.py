"""Class names as targets: ``"tabby"`` → its index among a model's ``class_names``.

Matching: an index (``"3"``) is taken as is; a name equal to a class wins; else a name equal to
exactly one class ignoring case (``Tabby`` → ``tabby``); a name that matches several classes only
ignoring case (ImageNet's ``cardigan`` the sweater, ``Cardigan`` the dog: ``CARDIGAN``) is refused
listing them, and an unknown name is refused naming the close classes.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import torch
from torch import Tensor

from camx.errors import ConfigError, plural


def _shown(key: str, value: object) -> str:
    """How the user wrote it: ``--target 'kat'`` (a CLI option) or ``target='kat'`` (a key)."""
    return f"{key} {value!r}" if key.startswith("--") else f"{key}={value!r}"


def class_index(text: str, classes: Sequence[str], key: str = "--target") -> int:
    """The index of class ``text`` (a name or an index) among ``classes``; else a one-line ConfigError."""
    classes = list(classes)
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(classes):
            raise ConfigError(
                f"{_shown(key, index)} is out of range; the model has classes 0..{len(classes) - 1}"
            )
        return index
    if text in classes:
        return classes.index(text)
    folded = [i for i, c in enumerate(classes) if c.casefold() == text.casefold()]
    if len(folded) == 1:  # `Tabby` for tabby
        return folded[0]
    if folded:
        both = " and ".join(repr(classes[i]) + f" ({i})" for i in folded)
        raise ConfigError(
            f"{_shown(key, text)} matches {both} ignoring case; give the exact name or the class index"
        )
    raise ConfigError(_not_a_class(_shown(key, text), text, classes))


def _not_a_class(shown: str, text: str, classes: Sequence[str]) -> str:
    """One line for a name the model lacks: every class when there are few, else the close names
    (case-insensitive) and the index range."""
    head = f"{shown} is not a class of this model"
    if len(classes) <= 20:
        return f"{head}; choose one of: {', '.join(classes)}"
    folded = {c.casefold(): c for c in reversed(classes)}
    close = [folded[c] for c in difflib.get_close_matches(text.casefold(), list(folded), n=3, cutoff=0.75)]
    if close:
        return f"{head}; did you mean {', '.join(close)}? (or give a class index 0..{len(classes) - 1})"
    return (
        f"{head} and no class name is close; give one of its {len(classes)} class names "
        f"(e.g. {', '.join(classes[:3])}) or a class index 0..{len(classes) - 1}"
    )


def names_to_indices(targets: object, classes: Sequence[str] | None) -> object:
    """``targets`` with class names (a str, or strs in a list/tuple) replaced by indices among
    ``classes`` (a model's ``class_names``); anything else is returned unchanged."""
    names = [targets] if isinstance(targets, str) else targets
    if not isinstance(names, (list, tuple)) or not any(isinstance(t, str) for t in names):
        return targets
    if not classes:
        raise ConfigError(
            f"targets={targets!r} names classes, but the model has no class_names; give class indices "
            "or load it with camx.load_pretrained / camx.load_checkpoint"
        )
    out = [class_index(t, classes, "targets") if isinstance(t, str) else t for t in names]
    return out[0] if isinstance(targets, str) else out


def resolve_targets(targets: object, probs: Tensor) -> Tensor:
    """The (B,) long class indices the maps explain: ``targets`` checked against the (B, K) probabilities —
    None → each image's argmax; an int for all; B ints. Anything else is a one-line ConfigError."""
    b, k = probs.shape
    if targets is None:
        return probs.argmax(dim=1)
    if isinstance(targets, bool) or (isinstance(targets, Tensor) and targets.dtype == torch.bool):
        raise ConfigError(f"targets={targets!r} must be class indices, not booleans")
    try:
        t = torch.as_tensor(targets)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(
            f"targets={targets!r} must be None, an int or a sequence of {plural(b, 'int')}"
        ) from None
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ConfigError(f"targets={targets!r} must be integer class indices")
    if t.ndim == 0:
        t = t.expand(b)
    if t.ndim != 1 or t.shape[0] != b:
        raise ConfigError(
            f"targets has {plural(t.numel(), 'entry', 'entries')} for a batch of {plural(b, 'image')}; "
            "give one per image or a single int"
        )
    if bool(((t < 0) | (t >= k)).any()):
        raise ConfigError(
            f"targets={t.tolist()} out of range; the model has {plural(k, 'class', 'classes')} (0..{k - 1})"
        )
    return t.to(device=probs.device, dtype=torch.long)
