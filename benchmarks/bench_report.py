"""Turn a benchmark result (the JSON ``benchmarks/run.py`` writes) into targets, rich tables and Markdown.

:func:`render_markdown` is the only writer of ``docs/PERFORMANCE.md``: every number there comes from a
results file, so the page is regenerated, never edited.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

LIBRARIES = ("camx", "pytorch-grad-cam", "torchcam")
GRADIENT_FAMILY = ("gradcam", "gradcampp", "xgradcam", "layercam", "hirescam")
GRADIENT_LIMIT = 1.10  # camx gradient-family time / bare forward
SCORECAM_SPEEDUP = 2.0  # faster peer's exact Score-CAM time / camx's
SCORECAM_TOLERANCE = 1e-4  # max |camx map − peer map| (feature resolution, min–max normalised)
GRADPP_SECONDS = 2.0  # gradpp_scorecam default, seconds per 224 px image
GRADPP_PEARSON = 0.95  # against exact Score-CAM
TRAIN_RATIO = 0.95  # camx trainer images/s / bare loop images/s


# ----------------------------------------------------------------------------------------- helpers


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def cell(result: dict[str, Any] | None) -> str:
    """A timing cell: the median, or why there is none."""
    if not result:
        return ""
    if result.get("status") == "ok":
        return seconds(result.get("seconds"))
    return f"{result.get('status')}"


def _secs(result: dict[str, Any] | None) -> float | None:
    return result.get("seconds") if result and result.get("status") == "ok" else None


def _verdict(ok: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "not measured"}[ok]


# ----------------------------------------------------------------------------------------- targets


def forwards_note(stats: dict[str, Any] | None) -> str:
    """Why exact Score-CAM is as fast as it is: masked images camx forwarded (the peers forward one per
    channel) and milliseconds per masked image for camx's inference copy and for the model as given;
    their product is the speed-up to expect over a peer running the model as given."""
    if not stats or not stats.get("camx_forwards") or not stats.get("per_image_ms"):
        return ""
    costs = stats["per_image_ms"]
    ours = next((v for k, v in costs.items() if k.startswith("camx")), None)
    given = min((v for k, v in costs.items() if not k.startswith("camx")), default=None)
    if not ours or not given:
        return ""
    fewer = stats["channels"] / stats["camx_forwards"]
    return (
        f"; camx forwarded {stats['camx_forwards']:,} of {stats['channels']:,} masked images "
        f"({fewer:.2f}× fewer) at {ours:.0f} vs {given:.0f} ms each ({given / ours:.2f}×): "
        f"{fewer * given / ours:.2f}× to expect"
    )


def _scorecam_target(
    name: str, results: dict[str, Any], agreement: list[dict[str, Any]], stats: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The exact Score-CAM target row: speed-up over the faster peer and the largest map difference."""
    ours = _secs(results.get("camx"))
    peers = {lib: _secs(results.get(lib)) for lib in LIBRARIES[1:]}
    peers = {k: v for k, v in peers.items() if v is not None}
    if not peers or ours is None:
        return {"target": name, "measured": "peers not run", "pass": None}
    fastest = min(peers, key=peers.__getitem__)
    speedup = peers[fastest] / ours
    # "the same map": against the paper's definition computed plainly when the run has it (the peers
    # build their masks differently, see "How it is measured"), else against the peers
    reference = [a for a in agreement if a["library"] == "reference"]
    diff = max((a["max_abs_diff"] for a in reference or agreement), default=None)
    against = "vs the plain reference" if reference else "vs the peers"
    return {
        "target": name,
        "measured": f"{speedup:.2f}× vs {fastest}; max |Δmap| "
        f"{f'{diff:.1e}' if diff is not None and diff < 1e-5 else number(diff, 5)} {against}"
        f"{forwards_note(stats)}",
        "pass": speedup >= SCORECAM_SPEEDUP and diff is not None and diff <= SCORECAM_TOLERANCE,
    }


def evaluate_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with what was measured and pass / FAIL / not measured."""
    out: list[dict[str, Any]] = []
    for block in data.get("cam", []):
        bare = _secs(block.get("bare_forward"))
        worst, worst_method = None, None
        for row in block.get("methods", []):
            if row["method"] in GRADIENT_FAMILY:
                camx = row["results"].get("camx") or {}
                t = _secs(camx)
                ref = camx.get("bare_adjacent") or bare
                # paired runs (camx and bare alternating): the median of the per-pair ratios
                ratio = camx.get("bare_ratio") or (t / ref if t is not None and ref else None)
                if ratio is not None and (worst is None or ratio > worst):
                    worst, worst_method = ratio, row["method"]
        out.append(
            {
                "target": f"gradient family ≤ {GRADIENT_LIMIT:.2f}× bare forward ({block['device']}, batch {block['batch']})",
                "measured": "—" if worst is None else f"{worst:.2f}× (slowest: {worst_method})",
                "pass": None if worst is None else worst <= GRADIENT_LIMIT,
            }
        )

    for block in data.get("cam", []):
        row = next((r for r in block.get("methods", []) if r["method"] == "scorecam"), None)
        if row is None or _secs(row["results"].get("camx")) is None:
            continue
        agreement = [
            a
            for a in data.get("scorecam_agreement", [])
            if a.get("device") == block["device"] and a.get("batch") == block["batch"]
        ]
        out.append(
            _scorecam_target(
                f"exact scorecam ≥ {SCORECAM_SPEEDUP:g}× faster than the faster peer, maps within "
                f"{SCORECAM_TOLERANCE:g} ({block['device']}, batch {block['batch']})",
                row["results"],
                agreement,
                block.get("scorecam_forwards"),
            )
        )
    st = data.get("scorecam_trained") or {}
    if st:
        out.append(
            _scorecam_target(
                f"exact scorecam on a trained ResNet50 ≥ {SCORECAM_SPEEDUP:g}× faster than the faster peer, "
                f"maps within {SCORECAM_TOLERANCE:g} (cpu, batch 1, {st.get('image_size')} px)",
                st.get("results", {}),
                st.get("agreement", []),
                st.get("forwards"),
            )
        )

    gp = data.get("gradpp") or {}
    head = gp.get("headline") or {}
    trade = gp.get("tradeoff") or {}
    default_k = gp.get("default_top_k")
    trade_row = next((r for r in trade.get("rows", []) if r.get("top_k") == default_k), None)
    pearson = trade_row["pearson_mean"] if trade_row else head.get("pearson_vs_scorecam")
    which = (
        f"{'trained' if trade.get('trained') else 'random'} model, {trade.get('image_size')} px"
        if trade_row
        else f"random model, {head.get('image_size')} px"
    )
    agreement = f"Pearson {number(pearson)} ({which})"
    at_224 = (data.get("scorecam_trained") or {}).get("gradpp") or {}
    row_224 = next((r for r in at_224.get("rows", []) if r.get("top_k") == default_k), None)
    if row_224:  # the target's own setting, a trained model at 224 px, is the one judged
        pearson = row_224["pearson_mean"]
        agreement += (
            f"; {number(pearson)} on the trained model at {at_224.get('image_size')} px "
            f"({at_224.get('images')} image(s))"
        )
    secs = head.get("seconds_per_image")
    cores = (data.get("machine") or {}).get("usable_cores")
    out.append(
        {
            "target": f"gradpp_scorecam default ≤ {GRADPP_SECONDS:g} s/image at 224 px with Pearson ≥ {GRADPP_PEARSON} "
            f"vs exact scorecam ({cores} cores)",
            "measured": f"{seconds(secs)}/image at {head.get('image_size')} px; {agreement}",
            "pass": None
            if secs is None or pearson is None
            else (secs <= GRADPP_SECONDS and pearson >= GRADPP_PEARSON),
        }
    )

    tr = data.get("training") or {}
    rows = {r["name"]: r for r in tr.get("rows", [])}
    camx = next((r for r in rows.values() if r["runner"] == "camx" and r["channels_last"]), None)
    bare = next(
        (
            r
            for r in rows.values()
            if r["runner"] == "bare"
            and r["channels_last"]
            and not r["bf16_autocast"]
            and not r["torch_compile"]
        ),
        None,
    )
    ok = camx and bare and camx.get("status") == "ok" and bare.get("status") == "ok"
    value = camx["images_per_second"] / bare["images_per_second"] if ok else None
    out.append(
        {
            "target": f"training ≥ {TRAIN_RATIO}× the bare loop's images/s (same model, batch, optimizer, "
            "memory format)",
            "measured": "—"
            if value is None
            else f"{value:.3f}× ({camx['images_per_second']:.1f} vs {bare['images_per_second']:.1f} img/s)",
            "pass": None if value is None else value >= TRAIN_RATIO,
        }
    )
    return out


# ------------------------------------------------------------------------------------ table model


def tables(data: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, columns, rows, note) of every table, shared by the rich printout and the Markdown page."""
    out: list[tuple[str, list[str], list[list[str]], str]] = []
    targets = evaluate_targets(data)  # from the measurements, so a re-render applies the current criteria
    out.append(
        (
            "Targets",
            ["target", "measured", "result"],
            [[t["target"], t["measured"], _verdict(t["pass"])] for t in targets],
            "",
        )
    )
    for block in data.get("cam", []):
        bare = _secs(block.get("bare_forward"))
        rows = [["bare forward (inference_mode)", seconds(bare), "", "", "", "", "1.00×"]]
        for row in block["methods"]:
            r = row["results"]
            ours = _secs(r.get("camx"))
            rows.append(
                [
                    row["method"],
                    cell(r.get("camx")),
                    cell(r.get("pytorch-grad-cam")),
                    cell(r.get("torchcam")),
                    ratio(ours, _secs(r.get("pytorch-grad-cam"))),
                    ratio(ours, _secs(r.get("torchcam"))),
                    # paired runs: the median of the per-pair ratios (as the target), else over the block's bare
                    f"{r['camx']['bare_ratio']:.2f}×"
                    if (r.get("camx") or {}).get("bare_ratio")
                    else ratio(ours, bare),
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
        out.append(
            (
                f"CAM methods — {block['device']}, ResNet50, {block['image_size']} px, batch {block['batch']} "
                "(median time per call)",
                ["method", "camx", "pytorch-grad-cam", "TorchCAM", "camx/pgc", "camx/TorchCAM", "camx/bare"],
                rows,
                "; ".join(notes),
            )
        )
    agreement = data.get("scorecam_agreement") or []
    if agreement:
        out.append(
            (
                "Exact Score-CAM: peer maps against camx's",
                ["library", "device", "batch", "max |Δ|", "Pearson"],
                [
                    [
                        a["library"],
                        a["device"],
                        str(a["batch"]),
                        number(a["max_abs_diff"], 5),
                        number(a["pearson"], 4),
                    ]
                    for a in agreement
                ],
                "feature-resolution maps, ReLU + min–max; peers run on LogSoftmax(model) so that their "
                "channel softmax equals the paper's class probability up to a per-image factor",
            )
        )
    st = data.get("scorecam_trained") or {}
    if st:
        res = st.get("results", {})
        ours = _secs(res.get("camx"))
        agree = {a["library"]: a for a in st.get("agreement", [])}
        out.append(
            (
                f"Exact Score-CAM on a trained ResNet50 — cpu, {st.get('image_size')} px, batch 1",
                ["library", "seconds", "camx speed-up", "max |Δ| vs camx", "Pearson vs camx"],
                [
                    [
                        lib,
                        cell(res.get(lib)),
                        "" if lib == "camx" else ratio(_secs(res.get(lib)), ours),
                        number(agree[lib]["max_abs_diff"], 5) if lib in agree else "",
                        number(agree[lib]["pearson"], 4) if lib in agree else "",
                    ]
                    for lib in LIBRARIES
                    if lib in res
                ]
                + (
                    [
                        [
                            "reference (paper definition, plain)",
                            "untimed",
                            "",
                            number(agree["reference"]["max_abs_diff"], 5),
                            number(agree["reference"]["pearson"], 4),
                        ]
                    ]
                    if "reference" in agree
                    else []
                ),
                f"model: {st.get('model')}; one run each (minutes per image); the reference forwards every "
                "masked image through the model as given (BatchNorm not folded, no deduplication)",
            )
        )
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
        out.append(
            (
                "Grad++ScoreCAM: top_k → time → agreement with exact Score-CAM",
                ["top_k", "seconds / image", "Pearson (mean)", "Pearson (min)"],
                [
                    [
                        str(r["top_k"]),
                        seconds(r["seconds_per_image"]),
                        number(r["pearson_mean"]),
                        number(r["pearson_min"]),
                    ]
                    for r in trade["rows"]
                ],
                note,
            )
        )
    at_224 = (data.get("scorecam_trained") or {}).get("gradpp") or {}
    if at_224.get("rows"):
        out.append(
            (
                f"Grad++ScoreCAM on the trained ResNet50 at {at_224.get('image_size')} px: top_k → time → agreement",
                ["top_k", "seconds / image", "Pearson vs exact Score-CAM"],
                [
                    [str(r["top_k"]), seconds(r["seconds_per_image"]), number(r["pearson_mean"])]
                    for r in at_224["rows"]
                ],
                f"model: {(data.get('scorecam_trained') or {}).get('model')}; {at_224.get('images')} image(s), "
                "batch 1, against camx's exact map from the table above",
            )
        )
    tr = data.get("training") or {}
    if tr.get("rows"):
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
            rows.append(
                [
                    r["name"],
                    number(ips, 1) if ips else r.get("status", ""),
                    ratio(ips, base.get("images_per_second")) if base and ips else "—",
                    r.get("note", "")
                    or (
                        f"first step {seconds(r['first_step_seconds'])}"
                        if r.get("torch_compile") and r.get("first_step_seconds")
                        else ""
                    ),
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
        out.append(
            (
                f"Training throughput ({tr.get('config')})",
                ["loop", "images/s", "vs bare loop", "note"],
                rows,
                note,
            )
        )
    ev = data.get("eval") or {}
    if ev.get("rows"):
        out.append(
            (
                f"Evaluation throughput ({ev.get('config')})",
                ["what", "images × conditions / s", "conditions", "seconds"],
                [
                    [
                        r["name"],
                        number(r.get("throughput"), 1) if r.get("status") == "ok" else r.get("status", ""),
                        str(r.get("conditions", "")),
                        seconds(r.get("seconds")),
                    ]
                    for r in ev["rows"]
                ],
                f"{ev.get('images')} images, batch size {next((r.get('batch_size') for r in ev['rows']), '')}, "
                f"{ev.get('device')}, the library job (camx.jobs.evaluate.evaluate) with figures off",
            )
        )
    mem = data.get("memory") or {}
    if mem.get("rows"):
        out.append(
            (
                "Peak memory of the score family (fresh process per row)",
                ["method", "chunk_size", "top_k", "peak RSS", "above baseline", "seconds"],
                [
                    [
                        r.get("method", ""),
                        str(r.get("chunk_size") or "—"),
                        str(r.get("top_k") or "—"),
                        f"{r['peak_mb']:.0f} MB" if r.get("status") == "ok" else r.get("status", ""),
                        f"{r['delta_mb']:.0f} MB" if r.get("status") == "ok" else "",
                        seconds(r.get("seconds")),
                    ]
                    for r in mem["rows"]
                ],
                f"ResNet50 at {mem.get('image_size')} px, one image; baseline = peak RSS after building the "
                "model and one plain forward",
            )
        )
    return out


# ------------------------------------------------------------------------------------------ output


def print_tables(data: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    for title, columns, rows, note in tables(data):
        table = Table(title=title, title_justify="left", caption=note or None, caption_justify="left")
        for i, col in enumerate(columns):
            table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
        for row in rows:
            styled = [f"[red]{c}[/]" if c == "FAIL" else f"[green]{c}[/]" if c == "pass" else c for c in row]
            table.add_row(*styled)
        console.print(table)


def _md_table(columns: list[str], rows: Iterable[list[str]], numeric: bool = True) -> str:
    def esc(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(esc(c) for c in columns) + " |",
        "|" + "|".join("---:" if i and numeric else "---" for i in range(len(columns))) + "|",
    ]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


INTRO = """\
# Performance

How fast camx explains, trains and evaluates, side by side with
[pytorch-grad-cam](https://github.com/jacobgil/pytorch-grad-cam) and
[TorchCAM](https://github.com/frgfm/torch-cam) on the same model and input.

**This page is generated** by `benchmarks/run.py` from a results file under `benchmarks/results/`:
do not edit it by hand. To regenerate it, on a machine that is otherwise idle:

```bash
make bench                                   # = .venv/bin/python benchmarks/run.py (CPU, and GPU when present)
.venv/bin/python benchmarks/run.py --full    # also batch-16 exact Score-CAM, more repeats and images
.venv/bin/python benchmarks/run.py --quick   # a smoke run: batch 1, few repeats, no peer Score-CAM (does not touch this page)
.venv/bin/python benchmarks/run.py --render benchmarks/results/<file>.json   # re-render this page only
```
"""

METHOD = """\
## How it is measured

- **Model and input.** camx's ResNet50 (torchvision layers, plain head, output stride 32, 1000
  classes) with seeded random weights (no pretrained weights offline), explained at `layer4`; inputs
  are images of camx's embedded `shapes` test split at 224 px, normalised. The same module object and
  tensor go to every library, each explaining the predicted class (each library's default).
- **CAM timings** are the median wall time of one call (after one warm-up call) that returns maps
  at the input size: camx `explain(...)`; pytorch-grad-cam `CAM(input_tensor=x)` with the extractor
  built beforehand; TorchCAM `model(x)` + `extractor(class_idx, scores)` + bilinear upsampling.
  *camx/pgc* and *camx/TorchCAM* below 1 mean camx is faster; *camx/bare* is camx's time over a
  plain `model(x)` under `torch.inference_mode()` on the same batch. The gradient-family target
  times camx and a bare forward alternately, call by call (15 pairs by default), and takes the
  median of the per-pair ratios (`bare_ratio` in the JSON; `bare_adjacent` is the bare median), so a
  burst of load on a shared machine hits both sides of a ratio. Results files from before
  2026-11-23 hold a bare forward timed after all of camx's calls instead. camx's gradient pass runs the layers
  before the target layer under `torch.inference_mode()` and records autograd history only from the
  target layer on (`camx/cam/hooks.py`, `Probe.run`), so its cost over the bare forward is the head's
  backward and the map. Exact Score-CAM runs once per library (it takes minutes on a CPU). Peers run
  with their default batch sizes.
- **Score-CAM agreement.** The peers define Score-CAM's weights as a softmax over *channels* of the
  raw target logit; the paper (and camx) use the class probability of each masked input. On
  `LogSoftmax(model)` the two coincide up to a per-image factor that cancels in ReLU + min–max, so
  the peers run on that wrapper; their channel weights are captured during the timed call and their
  feature-resolution map compared with camx's. The libraries also build the masks differently
  (pytorch-grad-cam upsamples with `align_corners=True`, TorchCAM normalises before upsampling,
  camx after), so tiny differences remain at ResNet50's 7 → 224 upsampling; they grow on a trained
  model whose masked inputs saturate the softmax (the peers' softmax of log-probabilities loses
  float32 precision there). camx's masked forward passes use a BatchNorm-folded channels-last copy
  of the model (`camx/cam/inference.py`), chunks sized to the input and one forward per distinct
  mask; at batch 1 the run also computes the paper's definition plainly (every channel
  forwarded through the model as given, `reference_scorecam` in `benchmarks/bench_cam.py`), and the
  "same map" half of the exact Score-CAM target is camx's largest difference from that reference —
  the peers' differences above are differences of definition.
- **The trained ResNet50** is the newest checkpoint under `outputs/` trained at 224 px
  (`make bench-model`: the demo's plain ResNet50 fine-tuned one epoch at 224 px), else the demo's
  (trained at 48 px). The target row also says how many masked images camx forwarded (the peers forward
  one per channel; camx one per distinct mask) and the measured milliseconds per masked image of camx's
  inference copy and of the model as given at the peers' batch sizes (`masked_forward_costs` in
  `benchmarks/bench_cam.py`): their product is the speed-up any exact implementation running the same
  network can expect. A trained network's target-layer channels are nearly all distinct, so the
  forwards are the same and the per-image cost decides.
- **Grad++ScoreCAM trade-off.** For each `top_k`, seconds per image (batch 1) and the Pearson
  correlation of its input-resolution map with exact Score-CAM's, on the newest trained camx
  ResNet50 checkpoint under `outputs/` (e.g. from `make demo`) at its own image size when there is
  one, else on the random ResNet50 at 224 px — the table says which.
- **Training** runs camx's real trainer (`camx.jobs.train.train`) and a bare PyTorch loop with the
  same model, data (same DataLoader workers), batch size and optimizer, timed over the same number
  of steps after warm-up, data loading included. The bare loop is also run with
  `channels_last`, bf16 autocast and `torch.compile`; the note under the table says which of these
  camx enables by default.
- **Evaluation** runs the library job behind `camx eval` (`perturb=noise_sweep`, figures off) on a
  random-weight checkpoint of the `experiment=quick` model: images × perturbation conditions per second.
- **Peak memory** is the peak RSS of a fresh process explaining one 224 px image with a score method
  at several `chunk_size` values (masked images per forward; `auto`, the default, is 2^18 pixels per
  forward: 5 images at 224 px): memory is bounded by the chunk, not by the number of channels, and
  the seconds column shows why `auto` is small at 224 px (large chunks spill the CPU caches).
"""


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
            numeric=False,
        )
        + "\n"
    )
    for title, columns, rows, note in tables(data):
        parts.append(f"## {title}\n")
        parts.append(_md_table(columns, rows) + "\n")
        if note:
            parts.append(f"_{note}_\n")
    for title, path in INCLUDED:  # tables the real-model and ViT benchmarks write on their own
        if path.is_file():
            parts.append(f"## {title}\n\n_From `{path.relative_to(path.parents[2])}`._\n\n{path.read_text()}")
    parts.append(METHOD)
    return "\n".join(parts)


_RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
#: (section title, markdown file) appended to the page when the file exists
INCLUDED = [
    (
        "Grad++ScoreCAM on a real ImageNet-pretrained CNN: options → time → agreement with exact Score-CAM",
        _RESULTS / "gradpp_real.md",
    ),
    ("Vision Transformer: the gradient family against a bare ViT-B/16 forward", _RESULTS / "vit.md"),
]
