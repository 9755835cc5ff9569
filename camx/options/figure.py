"""The ``figure`` block (``configs/_common.yaml``): how every figure camx writes is saved.

:mod:`camx.figures` writes them; :mod:`camx.options.schema` checks the block's values.
"""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("png", "pdf", "svg")  #: ``figure.format``: matplotlib's writers of these
DPI_RANGE: tuple[int, int] = (10, 1200)  #: ``figure.dpi``: pixels per inch, a screen's 72 to print's 1200
