"""docs/PERFORMANCE.md is what ``benchmarks/run.py --render`` makes of the newest results file, and it
carries every table the stand-alone benchmarks wrote under docs/results/ (bench_report.INCLUDED)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_report  # noqa: E402


def _rendered() -> str:
    files = sorted(
        p for p in (ROOT / "benchmarks" / "results").glob("*.json") if not p.stem.endswith("_quick")
    )
    newest = files[-1]
    return bench_report.render_markdown(json.loads(newest.read_text()), str(newest.relative_to(ROOT)))


def test_performance_page_is_the_rendered_results() -> None:
    assert (ROOT / "docs" / "PERFORMANCE.md").read_text() == _rendered()


def test_included_tables_appear_once_each_under_their_section() -> None:
    page = _rendered()
    for title, paths in bench_report.INCLUDED:
        found = [p for p in paths if p.is_file()]
        assert (f"## {title}\n" in page) == bool(found)
        for path in found:
            assert page.count(f"_From `{path.relative_to(ROOT)}`._\n\n{path.read_text()}") == 1
            assert page.index(f"## {title}\n") < page.index(f"_From `{path.relative_to(ROOT)}`._")
    assert "new_methods_iscam.md" in page
