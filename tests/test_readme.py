"""The README is the front door: short, its method table generated from the registry, its links live."""

from __future__ import annotations

import re
from pathlib import Path

from camx.cam.registry import REGISTRY, method_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_is_at_most_200_lines_and_keeps_the_two_commands() -> None:
    assert len(README.splitlines()) <= 200
    assert "make demo" in README and "make test" in README


def test_method_table_is_the_registry_s() -> None:
    block = re.search(r"<!-- methods:begin -->\n(.*?)<!-- methods:end -->", README, re.S)
    assert block, "README lacks the <!-- methods:begin/end --> block"
    assert block.group(1) == method_table(), "regenerate: python -m camx.cam.registry > the block"
    for name, cls in REGISTRY.items():
        assert cls.summary and cls.cost and cls.paper, f"{name}: summary, cost and paper are required"


def test_every_relative_link_and_picture_exists() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert "docs/figures/readme.png" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing
    assert (ROOT / "docs/figures/readme.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
