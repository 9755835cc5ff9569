"""Turn a benchmark result (the JSON ``benchmarks/run.py`` writes) into rich tables and Markdown.

:func:`tables` is the one table model (title, columns, rows, note) of a result: :func:`print_tables`
prints it with rich, :func:`render_markdown` writes it through camx's markdown writer
(:func:`camx.report.markdown.table`) as ``docs/PERFORMANCE.md`` — the only writer of that page, so every
number there comes from a results file and the page is regenerated, never edited. The targets are
judged in :mod:`bench_targets`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_targets import LIBRARIES, cell, evaluate_targets, number, ratio, seconds, secs, verdict
from performance_text import INTRO, METHOD

from camx.report import markdown as md

Table = tuple[str, list[str], list[list[str]], str]  #: (title, columns, rows, note)


def targets_table(data: dict[str, Any]) -> list[Table]:
    # from the measurements, so a re-render applies the current criteria
    rows = [[t["target"], t["measured"], verdict(t["pass"])] for t in evaluate_targets(data)]
    return [("Targets", ["target", "measured", "result"], rows, "")]


def cam_tables(data: dict[str, Any]) -> list[Table]:
    """Per (device, batch): every method's median time in each library and the ratios."""
    out = []
    for block in data.get("cam", []):
        bare = secs(block.get("bare_forward"))
        rows = [["bare forward (inference_mode)", seconds(bare), "", "", "", "", "1.00×"]]
        for row in block["methods"]:
            r = row["results"]
            ours = secs(r.get("camx"))
            paired = (r.get("camx") or {}).get("bare_ratio")
            rows.append(
                [
                    row["method"],
                    cell(r.get("camx")),
                    cell(r.get("pytorch-grad-cam")),
                    cell(r.get("torchcam")),
                    ratio(ours, secs(r.get("pytorch-grad-cam"))),
                    ratio(ours, secs(r.get("torchcam"))),
                    # paired runs: the median of the per-pair ratios (as the target), else over the block's bare
                    f"{paired:.2f}×" if paired else ratio(ours, bare),
                ]
            )
        notes = sorted(
            {
                f"{row['method']} / {lib}: {res['note']}"
                for row in block["methods"]
                for lib, res in row["results"].items()
                if res.get("note")
            }
        )
        title = (
            f"CAM methods — {block['device']}, ResNet50, {block['image_size']} px, batch {block['batch']} "
            "(median time per call)"
        )
        cols = ["method", "camx", "pytorch-grad-cam", "TorchCAM", "camx/pgc", "camx/TorchCAM", "camx/bare"]
        out.append((title, cols, rows, "; ".join(notes)))
    return out


def agreement_table(data: dict[str, Any]) -> list[Table]:
    agreement = data.get("scorecam_agreement") or []
    if not agreement:
        return []
    rows = [
        [a["library"], a["device"], str(a["batch"]), number(a["max_abs_diff"], 5), number(a["pearson"], 4)]
        for a in agreement
    ]
    note = (
        "feature-resolution maps, ReLU + min–max; peers run on LogSoftmax(model) so that their "
        "channel softmax equals the paper's class probability up to a per-image factor"
    )
    cols = ["library", "device", "batch", "max |Δ|", "Pearson"]
    return [("Exact Score-CAM: peer maps against camx's", cols, rows, note)]


def trained_scorecam_table(data: dict[str, Any]) -> list[Table]:
    st = data.get("scorecam_trained") or {}
    if not st:
        return []
    res = st.get("results", {})
    ours = secs(res.get("camx"))
    agree = {a["library"]: a for a in st.get("agreement", [])}

    def diffs(lib: str) -> list[str]:
        a = agree.get(lib)
        return [number(a["max_abs_diff"], 5), number(a["pearson"], 4)] if a else ["", ""]

    rows = [
        [lib, cell(res.get(lib)), "" if lib == "camx" else ratio(secs(res.get(lib)), ours), *diffs(lib)]
        for lib in LIBRARIES
        if lib in res
    ]
    if "reference" in agree:
        rows.append(["reference (paper definition, plain)", "untimed", "", *diffs("reference")])
    note = (
        f"model: {st.get('model')}; one run each (minutes per image); the reference forwards every "
        "masked image through the model as given (BatchNorm not folded, no deduplication)"
    )
    title = f"Exact Score-CAM on a trained ResNet50 — cpu, {st.get('image_size')} px, batch 1"
    cols = ["library", "seconds", "camx speed-up", "max |Δ| vs camx", "Pearson vs camx"]
    return [(title, cols, rows, note)]


def gradpp_tables(data: dict[str, Any]) -> list[Table]:
    """Grad++ScoreCAM's top_k trade-off (random or trained model) and, when run, at 224 px."""
    out = []
    gp = data.get("gradpp") or {}
    trade = gp.get("tradeoff") or {}
    if trade.get("rows"):
        head = gp.get("headline") or {}
        note = (
            f"model: {trade.get('model')}; {trade.get('images')} image(s) at {trade.get('image_size')} px, "
            f"batch 1; exact scorecam {seconds(trade.get('exact_seconds_per_image'))}/image; default "
            f"top_k={gp.get('default_top_k')}; 'all' keeps every channel with a positive Grad-CAM++ weight"
        )
        if head:
            note += (
                f". At {head.get('image_size')} px on the random ResNet50: "
                f"{seconds(head.get('seconds_per_image'))}/image, Pearson {number(head.get('pearson_vs_scorecam'))}"
            )
        rows = [
            [
                str(r["top_k"]),
                seconds(r["seconds_per_image"]),
                number(r["pearson_mean"]),
                number(r["pearson_min"]),
            ]
            for r in trade["rows"]
        ]
        cols = ["top_k", "seconds / image", "Pearson (mean)", "Pearson (min)"]
        out.append(("Grad++ScoreCAM: top_k → time → agreement with exact Score-CAM", cols, rows, note))
    at_224 = (data.get("scorecam_trained") or {}).get("gradpp") or {}
    if at_224.get("rows"):
        rows = [
            [str(r["top_k"]), seconds(r["seconds_per_image"]), number(r["pearson_mean"])]
            for r in at_224["rows"]
        ]
        note = (
            f"model: {(data.get('scorecam_trained') or {}).get('model')}; {at_224.get('images')} image(s), "
            "batch 1, against camx's exact map from the table above"
        )
        title = f"Grad++ScoreCAM on the trained ResNet50 at {at_224.get('image_size')} px: top_k → time → agreement"
        out.append((title, ["top_k", "seconds / image", "Pearson vs exact Score-CAM"], rows, note))
    return out


def training_table(data: dict[str, Any]) -> list[Table]:
    tr = data.get("training") or {}
    if not tr.get("rows"):
        return []
    base = next(
        (
            r
            for r in tr["rows"]
            if r["runner"] == "bare" and not r["channels_last"] and r.get("status") == "ok"
        ),
        None,
    )
    rows = []
    for r in tr["rows"]:
        ips = r.get("images_per_second") if r.get("status") == "ok" else None
        first = r.get("torch_compile") and r.get("first_step_seconds")
        rows.append(
            [
                r["name"],
                number(ips, 1) if ips else r.get("status", ""),
                ratio(ips, base.get("images_per_second")) if base and ips else "—",
                r.get("note", "") or (f"first step {seconds(r['first_step_seconds'])}" if first else ""),
            ]
        )
    d = tr.get("camx_defaults", {})
    note = (
        f"{tr.get('model')}, {tr.get('image_size')} px, batch {tr.get('batch_size')}, {tr.get('optimizer')}, "
        f"{tr.get('workers')} loader worker(s), {tr.get('timed_steps')} timed steps after "
        f"{tr.get('warmup_steps')} warm-up, {tr.get('device')}; camx enables by default: "
        + ", ".join(k for k, v in d.items() if v)
        + "; not by default: "
        + ", ".join(k for k, v in d.items() if not v)
    )
    return [
        (
            f"Training throughput ({tr.get('config')})",
            ["loop", "images/s", "vs bare loop", "note"],
            rows,
            note,
        )
    ]


def eval_table(data: dict[str, Any]) -> list[Table]:
    ev = data.get("eval") or {}
    if not ev.get("rows"):
        return []
    rows = [
        [
            r["name"],
            number(r.get("throughput"), 1) if r.get("status") == "ok" else r.get("status", ""),
            str(r.get("conditions", "")),
            seconds(r.get("seconds")),
        ]
        for r in ev["rows"]
    ]
    note = (
        f"{ev.get('images')} images, batch size {next((r.get('batch_size') for r in ev['rows']), '')}, "
        f"{ev.get('device')}, the library job (camx.jobs.evaluate.evaluate) with figures off"
    )
    cols = ["what", "images × conditions / s", "conditions", "seconds"]
    return [(f"Evaluation throughput ({ev.get('config')})", cols, rows, note)]


def eval_peers_table(data: dict[str, Any]) -> list[Table]:
    """camx eval against pytorch-grad-cam + TorchCAM in a plain loop (``benchmarks/bench_eval.py``)."""
    res = data.get("eval_peers") or {}
    if not res:
        return []
    from bench_eval import throughput_rows

    title, cols, rows, note = throughput_rows(res)
    return [(title, cols, rows, note)]


def memory_table(data: dict[str, Any]) -> list[Table]:
    mem = data.get("memory") or {}
    if not mem.get("rows"):
        return []
    rows = [
        [
            r.get("method", ""),
            str(r.get("chunk_size") or "—"),
            str(r.get("top_k") or "—"),
            f"{r['peak_mb']:.0f} MB" if r.get("status") == "ok" else r.get("status", ""),
            f"{r['delta_mb']:.0f} MB" if r.get("status") == "ok" else "",
            seconds(r.get("seconds")),
        ]
        for r in mem["rows"]
    ]
    note = (
        f"ResNet50 at {mem.get('image_size')} px, one image; baseline = peak RSS after building the "
        "model and one plain forward"
    )
    cols = ["method", "chunk_size", "top_k", "peak RSS", "above baseline", "seconds"]
    return [("Peak memory of the score family (fresh process per row)", cols, rows, note)]


SECTIONS: list[Callable[[dict[str, Any]], list[Table]]] = [
    targets_table,
    cam_tables,
    agreement_table,
    trained_scorecam_table,
    gradpp_tables,
    training_table,
    eval_table,
    eval_peers_table,
    memory_table,
]


def tables(data: dict[str, Any]) -> list[Table]:
    """(title, columns, rows, note) of every table, shared by the rich printout and the Markdown page."""
    return [t for section in SECTIONS for t in section(data)]


def print_tables(data: dict[str, Any], console: Any) -> None:
    from rich.table import Table as RichTable

    for title, columns, rows, note in tables(data):
        table = RichTable(title=title, title_justify="left", caption=note or None, caption_justify="left")
        for i, col in enumerate(columns):
            table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
        for row in rows:
            styled = [f"[red]{c}[/]" if c == "FAIL" else f"[green]{c}[/]" if c == "pass" else c for c in row]
            table.add_row(*styled)
        console.print(table)


def _md_table(columns: list[str], rows: list[list[str]], right: bool = True) -> str:
    return "\n".join(md.table(columns, rows, right=right))


def render_markdown(data: dict[str, Any] | None, source: str | None = None) -> str:
    """``docs/PERFORMANCE.md`` for a benchmark result (the JSON ``benchmarks/run.py`` writes); with
    ``data=None`` the page explains how to produce one."""
    parts = [INTRO]
    if not data:
        parts.append(
            "## Results\n\n_No results yet: run `make bench` on an idle machine; it writes "
            "`benchmarks/results/<date>.json` and regenerates this page._\n"
        )
        parts.append(METHOD)
        return "\n".join(parts)
    m = data.get("machine", {})
    gpus = ", ".join(m.get("gpus") or []) or "none"
    git = m.get("git") or {}
    parts.append("## Machine and command\n")
    parts.append(
        _md_table(
            ["", ""],
            [
                ["date", str(data.get("created", ""))],
                ["command", f"`{data.get('command', '')}` ({data.get('mode', '')} mode)"],
                ["results file", f"`{source}`" if source else ""],
                ["CPU", f"{m.get('cpu')} — {m.get('usable_cores')} usable of {m.get('cores')} cores"],
                [
                    "torch threads",
                    f"{m.get('torch_threads')} intra-op, {m.get('torch_interop_threads')} inter-op "
                    f"(OMP_NUM_THREADS={m.get('omp_num_threads') or 'unset'})",
                ],
                ["GPU", gpus],
                [
                    "software",
                    f"Python {m.get('python')}, torch {m.get('torch')}, torchvision {m.get('torchvision')}, "
                    f"camx {m.get('camx')} ({git.get('commit')}{', uncommitted changes' if git.get('dirty') else ''}), "
                    f"pytorch-grad-cam {m.get('pytorch-grad-cam')}, TorchCAM {m.get('torchcam')}",
                ],
                ["platform", str(m.get("platform", ""))],
            ],
            right=False,
        )
        + "\n"
    )
    for title, columns, rows, note in tables(data):
        parts.append(f"## {title}\n")
        parts.append(_md_table(columns, rows) + "\n")
        if note:
            parts.append(f"_{note}_\n")
    for title, paths in INCLUDED:  # tables the real-model and ViT benchmarks write on their own
        found = [path for path in paths if path.is_file()]
        if found:
            parts.append(f"## {title}\n")
            parts.extend(f"_From `{p.relative_to(p.parents[2])}`._\n\n{p.read_text()}" for p in found)
    parts.append(METHOD)
    return "\n".join(parts)


_RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
#: (section title, markdown files) appended to the page, the files that exist
INCLUDED: list[tuple[str, list[Path]]] = [
    (
        "Grad++ScoreCAM on a real ImageNet-pretrained CNN: options → time → agreement with exact Score-CAM",
        [_RESULTS / "gradpp_real.md"],
    ),
    ("Vision Transformer: the gradient family against a bare ViT-B/16 forward", [_RESULTS / "vit.md"]),
    (
        "Methods added from the peers' catalogues: seconds per image beside the peer's (EfficientNet-Lite0)",
        [
            _RESULTS / f"new_methods{suffix}.md"
            for suffix in ("", "_finercam", "_fullgrad", "_iscam", "_segeigencam")
        ],
    ),
]
