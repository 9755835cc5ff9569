"""How jobs report progress without printing: the CLI passes a Reporter that draws rich bars."""

from __future__ import annotations

from typing import Any


class Reporter:
    """No-op base. ``begin`` a task of ``total`` steps, ``advance`` it (with live fields), ``end`` it;
    ``note`` a one-line message. Jobs call these; the CLI decides how they look."""

    def begin(self, description: str, total: int | None) -> None:  # noqa: B027 - intentionally empty
        pass

    def advance(self, steps: int = 1, **fields: Any) -> None:  # noqa: B027
        pass

    def end(self) -> None:  # noqa: B027
        pass

    def note(self, message: str) -> None:  # noqa: B027
        pass


SILENT = Reporter()
