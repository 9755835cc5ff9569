"""``camx sanity``: the model-parameter randomisation test (Adebayo et al., NeurIPS 2018) of every
method on a few images.

The test itself is :mod:`camx.metrics.sanity`; this module runs it for a job's model and images,
reporting progress (one step per method × randomisation step) through a
:class:`~camx.jobs.progress.Reporter`, and hands the results to :mod:`camx.report.sanity`, which writes
sanity.md, sanity.json, the paper's figures and report.html.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camx.jobs.progress import SILENT, Reporter
from camx.metrics.sanity import SanityResult, count, passes, sanity_check


@dataclass
class SanityReport:
    results: dict[str, SanityResult] = field(default_factory=dict)  #: mode → result
    verdicts: dict[str, bool] = field(default_factory=dict)  #: method → passes the cascading test
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0  #: wall time of the test (not of the writing)


def run_sanity(
    model: nn.Module,
    images: torch.Tensor,
    methods: Sequence[str],
    modes: Sequence[str],
    *,
    out_dir: Path | None = None,
    original: torch.Tensor | None = None,
    title: str = "",
    config: Mapping[str, Any] | None = None,
    reporter: Reporter = SILENT,
    **kw: Any,
) -> SanityReport:
    """:func:`camx.metrics.sanity.sanity_check` of ``methods`` in every mode of ``modes``, the bar of
    ``reporter`` advanced per method × step; with ``out_dir``, the report is written there
    (:func:`camx.report.sanity.write`; ``original``: the first image in [0, 1], for the map overlays;
    ``config``: the composed config, shown in report.html). ``kw`` go to
    :func:`~camx.metrics.sanity.sanity_check`."""
    report, start = SanityReport(), time.perf_counter()
    total = len(modes) * len(methods) * (1 + count(model, kw.get("blocks")))
    reporter.begin("sanity", total)
    for mode in modes:

        def tick(n: int, label: str, mode: str = mode) -> None:
            reporter.advance(n, mode=mode, step=label)

        report.results[mode] = sanity_check(model, images, methods, mode=mode, progress=tick, **kw)
    reporter.end()
    report.seconds = time.perf_counter() - start
    if "cascading" in report.results:
        report.verdicts = {m: passes(report.results["cascading"], m) for m in methods}
    if out_dir is not None:
        from camx.report.sanity import write

        report.written = write(report.results, Path(out_dir), original, title, config)
    return report


#: An input ``dataset:N`` stands for the first N images of the job's dataset split (``dataset.split``).
DATASET = "dataset:"


def _dataset_count(spec: str) -> int:
    from camx.errors import DataError

    if not spec.startswith(DATASET):
        return 0
    n = spec[len(DATASET) :]
    if not n.isdigit() or int(n) < 1:
        raise DataError(
            f"input {spec!r}: write dataset:N with N a positive number of test images, e.g. dataset:4"
        )
    return int(n)


def dataset_images(dataset: Mapping[str, Any], size: int, n: int) -> torch.Tensor:
    """The first ``n`` images (in [0, 1], ``size`` px) of ``dataset``'s split, e.g. the study's shapes."""
    from camx.data.datasets import build_dataset

    data = build_dataset({**dict(dataset), "image_size": size})
    return torch.stack([data[i]["image"].float() for i in range(min(n, len(data)))])


def sanity_images(cfg: Mapping[str, Any], run_dir: str | Path, reporter: Reporter = SILENT) -> SanityReport:
    """The job of ``camx sanity``: the test of ``methods`` + ``baselines`` on the readable ``inputs``
    (``dataset:N``: the dataset split's first N images) with the job's model (the first checkpoint, or the pretrained classifier), written into ``run_dir``."""
    from camx.config import methods_of
    from camx.data.images import load_images
    from camx.data.inputs import require_images
    from camx.data.transforms import normalize
    from camx.errors import DataError
    from camx.jobs.explain import resize_mode, resolve_target
    from camx.jobs.models import load_for_job
    from camx.models.target_layer import check_target_layer
    from camx.options.cam import explain_settings, method_options
    from camx.runs import resolve_checkpoints
    from camx.runtime import select_device

    inputs = [str(i) for i in cfg.get("inputs") or []]
    n_data = sum(_dataset_count(i) for i in inputs)
    files = (
        require_images([i for i in inputs if not i.startswith(DATASET)])[0] if n_data < len(inputs) else []
    )
    device = select_device(cfg["trainer"]["device"])
    path = next(iter(resolve_checkpoints(cfg, all_heads=False).values()))
    model, meta = load_for_job(path, device)
    layer = check_target_layer(
        model, cfg["model"].get("target_layer"), f"{path} ({meta['arch']}/{meta['head']})"
    )
    classes = list(meta.get("class_names") or [str(i) for i in range(int(meta["num_classes"]))])
    target = resolve_target(cfg.get("target"), classes, "target")
    size = int(cfg.get("image_size") or meta.get("image_size") or cfg["dataset"]["image_size"])
    resize = resize_mode(cfg)
    images = load_images(files, size, max_pixels=int(cfg["max_pixels"]), resize=resize)[1] if files else None
    if n_data:
        drawn = dataset_images(cfg["dataset"], size, n_data)
        images = drawn if images is None else torch.cat([images, drawn])
    if images is None:
        raise DataError("no readable image among the inputs")
    methods = list(dict.fromkeys([*methods_of(cfg), *(cfg.get("baselines") or [])]))
    x = normalize(images.to(device), model)
    return run_sanity(
        model,
        x,
        methods,
        list(cfg["modes"]),
        out_dir=Path(run_dir),
        original=images[0].cpu(),
        title=f"{meta['arch']}",
        config=cfg,
        reporter=reporter,
        blocks=list(cfg["blocks"]) if cfg.get("blocks") else None,
        targets=None if target is None else torch.full((len(x),), target, dtype=torch.long),
        seed=int(cfg["seed"]),
        target_layer=layer,
        options={m: method_options(cfg, m) for m in methods},
        **explain_settings(cfg),
    )
