"""Vision Transformer cost: camx's gradient family on torchvision's ViT-B/16 against a bare forward,
and pytorch-grad-cam's same methods (with its reshape_transform) for scale.

Random weights (the cost does not depend on them), 224 px, batch 1 and 16, CPU. Each camx method is
timed alternately with a bare ``inference_mode`` forward (:func:`bench_common.timeit_paired`), so the
ratio is steady on a shared machine; the goal is ≤ 1.10×. The target layer is the last block's first
LayerNorm; camx runs the model once in inference mode and then recomputes and backpropagates only the
class-token path of the last block (:mod:`camx.cam.token_tail`). ``make bench`` runs it after run.py.

    python benchmarks/bench_vit.py [--repeats 5] [--batches 1,16] [--out docs/results/vit.md]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from bench_cam import bare_forward, camx_runner  # noqa: E402
from bench_common import publish, steps, timeit, timeit_paired  # noqa: E402

from camx.report import markdown as md  # noqa: E402

METHODS = [
    ("gradcam", "GradCAM"),
    ("gradcampp", "GradCAMPlusPlus"),
    ("xgradcam", "XGradCAM"),
    ("layercam", "LayerCAM"),
    ("hirescam", "HiResCAM"),
]
GOAL = 1.10


def _tokens_to_map(t: torch.Tensor) -> torch.Tensor:  # pytorch-grad-cam's documented ViT transform
    return t[:, 1:, :].reshape(t.shape[0], 14, 14, t.shape[2]).permute(0, 3, 1, 2)


def pgc_runner(model: torch.nn.Module, x: torch.Tensor, cls_name: str):
    import pytorch_grad_cam as pgc

    layer = model.get_submodule(model.cam_target_layer)

    def run() -> object:
        with getattr(pgc, cls_name)(
            model=model, target_layers=[layer], reshape_transform=_tokens_to_map
        ) as cam:
            return cam(input_tensor=x, targets=None)

    return run


def table(batches: list[int], repeats: int) -> list[str]:
    """The markdown table's lines: method, batch, camx seconds, × bare forward, verdict, pytorch-grad-cam seconds."""
    from camx.models.pretrained import load_pretrained

    torch.manual_seed(0)
    model = load_pretrained("torchvision/vit_b_16", "none").eval()
    cpu = torch.device("cpu")
    rows: list[list[str]] = []
    for batch in batches:
        x = torch.randn(batch, 3, 224, 224)
        bare = timeit(bare_forward(model, x), cpu, repeats=repeats)["seconds"]
        rows.append(["bare forward", str(batch), f"{bare:.3f} s", "1.00×", "", ""])
        for method, cls_name in steps(METHODS, f"ViT methods, batch {batch}"):
            res = timeit_paired(camx_runner(model, x, method), bare_forward(model, x), cpu, repeats=repeats)
            peer = timeit(pgc_runner(model, x, cls_name), cpu, repeats=max(1, repeats // 2))["seconds"]
            ok = "pass" if res["bare_ratio"] <= GOAL else "FAIL"
            rows.append(
                [
                    method,
                    str(batch),
                    f"{res['seconds']:.3f} s",
                    f"{res['bare_ratio']:.2f}×",
                    ok,
                    f"{peer:.3f} s",
                ]
            )
    header = ["method", "batch", "camx", "× bare forward", "≤ 1.10×", "pytorch-grad-cam"]
    return md.table(header, rows, align="lrrrlr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = table([int(b) for b in args.batches.split(",")], args.repeats)
    note = (
        f"\n_torchvision vit_b_16 (random weights), 224 px, CPU, {torch.get_num_threads()} threads; "
        "target layer encoder.layers.encoder_layer_11.ln_1; camx forwards once in inference mode and "
        "backpropagates only the last block's class-token path (camx.cam.token_tail); "
        "command: `python benchmarks/bench_vit.py`._\n"
    )
    text = "\n".join(rows) + "\n" + note
    publish(text, args.out)


if __name__ == "__main__":
    main()
