"""The peers' side of ``benchmarks/bench_eval.py``: the grid as a pytorch-grad-cam + TorchCAM user writes it.

Maps: pytorch-grad-cam's CAM classes. Average Drop / Increase in Confidence: pytorch-grad-cam's
``CamMultImageConfidenceChange`` (the map multiplies the normalised input), divided by Y by the user.
Deletion / insertion: TorchCAM 0.5.0's ``DeletionInsertionMetric``, handed the maps through
:class:`GivenMaps`. Metric forwards run under ``torch.no_grad()``, as a careful user would.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch


def camx_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The module camx explains by default (its probe's last feature map; ``bn2`` for Lite0)."""
    from camx.cam import explain

    name = explain(model, torch.zeros(1, 3, 64, 64), "gradcam").target_layer
    return model.get_submodule(name)


class GivenMaps:
    """A TorchCAM extractor that hands TorchCAM's metrics precomputed maps (pytorch-grad-cam's)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.maps: torch.Tensor | None = None

    def __call__(
        self, class_idx: Any = None, scores: Any = None, normalized: bool = True, **_: Any
    ) -> list[Any]:
        return [self.maps]

    def fuse_cams(self, cams: list[torch.Tensor]) -> torch.Tensor:
        return cams[0]

    def _hooks_off(self) -> Any:
        return contextlib.nullcontext()


PGC = {
    "gradcam": "GradCAM",
    "gradcampp": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "hirescam": "HiResCAM",
    "eigencam": "EigenCAM",
}


def peer_maps(
    model: torch.nn.Module,
    layer: torch.nn.Module,
    method: str,
    x: torch.Tensor,
    labels: torch.Tensor,
    batch: int,
) -> torch.Tensor:
    """pytorch-grad-cam's maps of ``method`` for normalised images ``x``, explaining ``labels``."""
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    out = []
    with getattr(pgc, PGC[method])(model=model, target_layers=[layer]) as cam:
        for s in range(0, len(x), batch):
            targets = [ClassifierOutputTarget(int(c)) for c in labels[s : s + batch]]
            out.append(torch.from_numpy(cam(input_tensor=x[s : s + batch], targets=targets)))
    return torch.cat(out)


def peer_ad(
    model: torch.nn.Module, x: torch.Tensor, maps: torch.Tensor, labels: torch.Tensor, batch: int
) -> tuple[float, float]:
    """Average Drop and Increase in Confidence (fractions) with pytorch-grad-cam's map-times-input metric:
    O = p_c(x ⊙ map) from ``CamMultImageConfidenceChange``, Y = p_c(x); drop = max(0, Y − O) / Y (the
    division by Y is the user's: pytorch-grad-cam reports max(0, Y − O))."""
    from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    metric, drops, ups = CamMultImageConfidenceChange(), [], []
    for s in range(0, len(x), batch):
        xb, cams = x[s : s + batch], maps[s : s + batch].numpy()
        targets = [ClassifierOutputSoftmaxTarget(int(c)) for c in labels[s : s + batch]]
        o = torch.from_numpy(metric(xb, cams, targets, model, return_diff=False))
        with torch.no_grad():
            y = model(xb).softmax(-1).gather(1, labels[s : s + batch, None])[:, 0]
        drops.append((y - o).clamp_min(0) / y)
        ups.append((o > y).float())
    return float(torch.cat(drops).mean()), float(torch.cat(ups).mean())


def peer_di(
    model: torch.nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    labels: torch.Tensor,
    batch: int,
    steps: int,
    black: torch.Tensor,
) -> tuple[float, float]:
    """TorchCAM's DeletionInsertionMetric means on given maps, black (in normalised units) as its baseline."""
    from functools import partial

    from torchcam.metrics import DeletionInsertionMetric

    given = GivenMaps(model)
    di = DeletionInsertionMetric(given, partial(torch.softmax, dim=-1), steps=steps, baseline=black)
    with torch.no_grad():
        for s in range(0, len(x), batch):
            given.maps = maps[s : s + batch]
            di.update(x[s : s + batch], class_idx=labels[s : s + batch].tolist())
    d = di.summary()
    return d["deletion_auc"], d["insertion_auc"]


def peer_metrics(
    model: torch.nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    labels: torch.Tensor,
    batch: int,
    steps: int,
    black: torch.Tensor,
) -> dict[str, float]:
    """The four means of one (condition, method) cell, the peers' way."""
    drop, inc = peer_ad(model, x, maps, labels, batch)
    dele, ins = peer_di(model, x, maps, labels, batch, steps, black)
    return {"average_drop": drop, "increase_in_confidence": inc, "deletion_auc": dele, "insertion_auc": ins}


def peer_grid(
    model: torch.nn.Module,
    conds: list[tuple[float, torch.Tensor]],
    labels: torch.Tensor,
    methods: list[str],
    steps: int,
    batch: int,
) -> tuple[dict[tuple[str, float, str], float], float]:
    """The peer user's plain loop over conditions × methods; its means and wall time."""
    from camx.data.transforms import normalize

    layer = camx_layer(model)
    black = normalize(torch.zeros(3, 1, 1), model)  # black in the model's normalised input
    values = {}
    start = time.perf_counter()
    for level, images in conds:
        x = normalize(images, model)  # the user's preprocessing: Normalize(mean, std)
        for method in methods:
            maps = peer_maps(model, layer, method, x, labels, batch)
            for metric, v in peer_metrics(model, x, maps, labels, batch, steps, black).items():
                values[(method, level, metric)] = v
    return values, time.perf_counter() - start
