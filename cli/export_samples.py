"""``python -m camx.cli.export_samples DIR COUNT [OVERRIDES...]``: write test images of a shapes preset.

Composes the ``eval`` config with the given Hydra overrides (e.g. ``experiment=quick``) and writes the
first ``COUNT`` images of its test split as PNG files, so ``camx explain DIR`` sees images drawn like
the ones the preset's models were trained on. ``make demo`` uses it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from camx.cli.hydra_bridge import compose

from camx.data.shapes import export_samples
from camx.errors import CamxError
from camx.options.dataset import shapes_spec
from camx.text import plural


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or not args[1].isdigit():
        print("usage: python -m camx.cli.export_samples DIR COUNT [OVERRIDES...]", file=sys.stderr)
        return 2
    try:
        cfg = compose("eval", args[2:])
        if cfg.dataset.name != "shapes":
            print(
                f"error: dataset={cfg.dataset.name} has no generator; export_samples needs dataset=shapes",
                file=sys.stderr,
            )
            return 2
        paths = export_samples(
            args[0], int(args[1]), "test", shapes_spec(cfg.dataset), seed=int(cfg.dataset.seed)
        )
    except CamxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {plural(len(paths), 'test image')} to {args[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
