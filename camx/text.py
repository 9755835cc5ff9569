"""Words of messages and reports that depend on a number."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless ``count`` is 1.

    ``plural(1, "epoch")`` is ``"1 epoch"``, ``plural(6, "epoch")`` is ``"6 epochs"``; ``nouns`` gives a
    plural that is not ``noun + "s"``: ``plural(2, "entry", "entries")`` is ``"2 entries"``.
    """
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
