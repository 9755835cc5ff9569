"""Property-based: any wrong value for any key of the composed train/explain/eval configs is one line, exit 2.

Every leaf key of the composed configs must be described by :data:`camx.options.schema.SCHEMA` (or be
a group interpreted elsewhere); for each, hypothesis draws values the key cannot take — wrong types,
out-of-range, non-finite, huge, empty, unicode — and the CLI, called in-process (the checks run before
Hydra creates anything), must answer with one ``error:`` line naming the key, exit code 2, no
traceback, and no run dir.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
from camx.cli import hydra_bridge as hb
from camx.cli.main import app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from camx.options.schema import Key, keys_for

#: composed keys checked where they are interpreted, not by the schema
ELSEWHERE = ("perturb.", "cam.options", "fail_under", "inputs")
TASK_ARGS = {"train": [], "explain": ["good.png"], "eval": []}
#: the smoke preset sets eval's keys for every command; train and explain do not read them
UNREAD = {"train": {"max_images", "batch_size", "faithfulness_steps"}, "eval": set()}
UNREAD["explain"] = UNREAD["train"]


def _leaves(node: Any, prefix: str = "") -> list[str]:
    if hasattr(node, "items"):
        out = []
        for k, v in node.items():
            out += _leaves(v, f"{prefix}{k}.") if hasattr(v, "items") and len(v) else [f"{prefix}{k}"]
        return out
    return [prefix.rstrip(".")]


def _composed_keys(task: str) -> list[str]:
    cfg = hb.compose(task, ["experiment=smoke"])
    return sorted(k for k in _leaves(cfg) if not k.startswith(ELSEWHERE) and k not in UNREAD[task])


@pytest.mark.parametrize("task", ["train", "explain", "eval"])
def test_every_composed_key_has_a_schema_entry(task: str) -> None:
    described = keys_for(task, "shapes")
    assert [k for k in _composed_keys(task) if k not in described] == []


def _render(value: Any) -> str:
    """``value`` as a Hydra override value that composes to it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"k{i}:{_render(v)}" for i, v in enumerate(value.values())) + "}"
    return hb.quote(str(value))


HUGE = st.sampled_from([2**63, 2**64 + 1, -(2**70), 10**30])
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
# text that is no number, no choice, no device: unicode, blanks, escapes
WORDS = st.one_of(
    st.just(""),
    st.just(" "),
    st.text(alphabet="xyzäöü漢字ß€-_ ", min_size=1, max_size=12).map(lambda s: "zz" + s),
)
CONTAINERS = st.one_of(st.just([]), st.lists(st.integers(-3, 3), min_size=1, max_size=3), st.just({"a": 1}))


def _bad_values(key: Key) -> st.SearchStrategy[Any]:
    """Values ``key`` must refuse."""
    if key.kind == "int":
        below = [st.integers(max_value=int(key.low) - 1)] if key.low is not None else []
        above = [st.integers(min_value=int(key.high) + 1)] if key.high is not None else []
        odd = st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != int(v))
        return st.one_of(*below, *above, HUGE, NON_FINITE, odd, WORDS, CONTAINERS, st.booleans())
    if key.kind == "float":
        below = [st.floats(max_value=key.low, exclude_max=key.low_inclusive)] if key.low is not None else []
        above = (
            [st.floats(min_value=key.high, exclude_min=key.high_inclusive)] if key.high is not None else []
        )
        finite = [s.filter(math.isfinite) for s in below + above]
        return st.one_of(*finite, NON_FINITE, WORDS, CONTAINERS, st.booleans())
    if key.kind == "bool":
        return st.one_of(st.integers(), st.floats(allow_nan=True), WORDS, CONTAINERS)
    if key.kind in ("text", "device", "path"):
        blank = [st.just("")] if not key.optional else []
        choices = [WORDS] if key.kind == "device" else []
        roots = [st.sampled_from(["/", "//", "/..", " "])] if key.kind == "path" else []
        return st.one_of(*blank, *choices, *roots, CONTAINERS, st.integers(), st.booleans())
    if key.kind in ("texts", "methods"):
        return st.one_of(st.integers(), st.lists(st.integers(), min_size=1, max_size=2), st.just({"a": 1}))
    if key.kind in ("target", "resume", "sizes", "ratios"):
        return st.one_of(
            CONTAINERS.filter(lambda v: key.kind != "sizes" or v == [] or v == {"a": 1}), st.floats()
        )
    if key.kind == "range":  # [low, high] with 0 ≤ low ≤ high
        return st.one_of(
            st.sampled_from([[1.0, 0.5], [0.1], [-1, 1], [0, 1, 2], {"a": 1}]), WORDS, st.floats()
        )
    return st.one_of(st.just({"a": 1}), st.lists(st.integers(), min_size=1, max_size=2))  # "any": a scalar


def _cases(task: str) -> st.SearchStrategy[tuple[str, Any]]:
    described = keys_for(task, "shapes")
    keys = st.sampled_from(_composed_keys(task))
    return keys.flatmap(lambda k: st.tuples(st.just(k), _bad_values(described[k])))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    work = tmp_path_factory.mktemp("schema")
    Image.new("RGB", (32, 32), (200, 30, 30)).save(work / "good.png")
    return work


def _check(task: str, key: str, value: Any, workdir: Path) -> None:
    args = [task, *TASK_ARGS[task], "experiment=smoke", f"{key}={_render(value)}"]
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        res = CliRunner().invoke(app, args)
    finally:
        os.chdir(cwd)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    context = f"{args}: exit {res.exit_code}, {lines}, {res.exception!r}"
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), context
    assert len(lines) == 1 and lines[0].startswith("error: "), context
    assert "Traceback" not in res.output and key.split(".")[-1] in lines[0], context
    assert not (workdir / "outputs").exists(), context  # nothing was launched: no run dir


SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("task", ["train", "explain", "eval"])
def test_a_wrong_value_for_any_key_is_one_line_exit_2_no_run_dir(task: str, workdir: Path) -> None:
    @SETTINGS
    @given(case=_cases(task))
    def run(case: tuple[str, Any]) -> None:
        _check(task, *case, workdir)

    run()


@pytest.mark.parametrize(
    ("task", "override", "needle"),
    [
        ("train", "~trainer", "trainer."),
        ("explain", "~cam", "the cam group is required"),
        ("eval", "~model", "model.arch is missing but camx eval needs it"),
        ("train", "dataset=imagefolder", "dataset.root is required"),
        ("train", "model.arch=${nosuch}", "model.arch: its value cannot be resolved"),
        ("explain", "task=train", "task='train' cannot be changed"),
    ],
)
def test_removed_groups_and_unresolvable_values_are_one_line(
    task: str, override: str, needle: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = override.lstrip("~").partition("=")[0]
    monkeypatch.chdir(workdir)
    res = CliRunner().invoke(app, [task, *TASK_ARGS[task], "experiment=smoke", override])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and needle in lines[0], (key, lines, res.exception)
    assert not (workdir / "outputs").exists()


def test_a_refused_sweep_value_is_one_line_exit_2_and_leaves_no_sweep_dir(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every job's config is composed and checked before the first job runs; the refusal names the job."""
    monkeypatch.chdir(workdir)
    res = CliRunner().invoke(app, ["train", "-m", "experiment=smoke", "model.head=bogus,plain"])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1, (lines, res.exception)
    assert lines[0].startswith("error: sweep job 0 (head=bogus): model.head='bogus' is not a valid choice")
    assert "run dir:" not in res.stdout and not (workdir / "outputs").exists()
