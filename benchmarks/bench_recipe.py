"""camx's training recipe against a bare PyTorch loop, from scratch, on small real image datasets.

Two datasets that PyPI packages ship, written as image folders (``root/{train,val,test}/<class>/*.png``,
a stratified 70/15/15 split with seed 0): scikit-learn's ``load_digits`` (handwritten digits, 8×8 px,
10 classes; the first 40 of each class, 400 images) and scikit-image's ``lfw_subset`` (200 faces and non-faces, 25×25 px, 2 classes).

For each architecture, camx trains with its defaults and only ``trainer.epochs`` set — the config
``camx train model=<arch> dataset=imagefolder dataset.root=<folder> trainer.epochs=<n>`` composes,
recipe included — and is scored on the test split with its ``best.pt`` (what ``camx eval`` uses).
The bare loop is the textbook one on torchvision's ``ImageFolder``: the same network
(:func:`camx.models.build_model`, plain head), the same input size (the one camx chose), Adam at a
constant ``--bare-lr`` (1e-4), batch 16, the same epochs, and the test accuracy of the epoch with the
best validation accuracy. Both run with one torch thread. Prints a markdown table (docs/TRAINING.md
quotes it with the command that printed it):

    .venv/bin/python benchmarks/bench_recipe.py --datasets lfw,digits --archs alexnet,resnet50,vgg16_bn,vgg16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info, steps  # noqa: E402

from camx.report import markdown as md  # noqa: E402

#: epochs per architecture and dataset (the same for camx and the bare loop): 10 everywhere; at 32 px a
#: VGG16 epoch on the digits' 280 training images takes ~35 s on one thread, so VGG needs no fewer.
EPOCHS: dict[str, dict[str, int]] = {
    "digits": {"resnet50": 10, "vgg16_bn": 10, "vgg16": 10, "alexnet": 10},
    "lfw": {"resnet50": 10, "vgg16_bn": 10, "vgg16": 10, "alexnet": 10},
}
#: digits per class (of ~180): 400 images, as many as a 2-core machine trains four architectures on in minutes
DIGITS_PER_CLASS = 40
ARCHS = ("resnet50", "vgg16_bn", "vgg16", "alexnet")


def _split(labels: np.ndarray, seed: int = 0) -> dict[str, list[int]]:
    """A stratified 70/15/15 train/val/test split of the sample indices."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        a, b = int(round(0.7 * len(idx))), int(round(0.85 * len(idx)))
        out["train"] += idx[:a].tolist()
        out["val"] += idx[a:b].tolist()
        out["test"] += idx[b:].tolist()
    return out


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray, names: list[str]) -> Path:
    """``images`` (N, H, W) uint8 as ``root/{train,val,test}/<class name>/<index>.png``."""
    for split, idx in _split(labels).items():
        for i in idx:
            folder = root / split / names[int(labels[i])]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(folder / f"{i:05d}.png")
    return root


def digits(root: Path, per_class: int = DIGITS_PER_CLASS) -> Path:
    """scikit-learn's handwritten digits (values 0–16) as an image folder: the first ``per_class`` of each class."""
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.concatenate([np.flatnonzero(d.target == c)[:per_class] for c in range(10)])
    pixels = np.clip(d.images[keep] * 16, 0, 255).astype(np.uint8)
    return write_folder(root, pixels, d.target[keep], [str(n) for n in d.target_names])


def lfw(root: Path) -> Path:
    """scikit-image's ``lfw_subset``: the first 100 images are faces, the last 100 are not."""
    from skimage.data import lfw_subset

    pixels = (lfw_subset() * 255).round().astype(np.uint8)
    labels = np.array([0] * 100 + [1] * 100)
    return write_folder(root, pixels, labels, ["face", "nonface"])


DATASETS = {"digits": digits, "lfw": lfw}


def run_camx(root: Path, arch: str, epochs: int, work: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """camx's recipe: the composed train config with only the epochs (and one thread) set, plus ``extra``
    overrides (e.g. the old SGD default of issue 17, to show what the recipe replaced)."""
    from camx.cli.hydra_bridge import compose

    from camx.checkpoint import load_checkpoint
    from camx.data.datasets import build_dataset
    from camx.jobs.train import evaluate_accuracy, train

    overrides = [
        f"model={arch}",
        "dataset=imagefolder",
        f"dataset.root={root}",
        f"trainer.epochs={epochs}",
        *extra,
    ]
    cfg = compose("train", [*overrides, "trainer.threads=1", "trainer.device=cpu"])
    start = time.perf_counter()
    try:
        result = train(cfg, work / f"camx_{arch}")
        status = "finished"
    except Exception as exc:  # noqa: BLE001 — a diverged or failed run is a result too
        status, result = f"{type(exc).__name__}: {str(exc)[:120]}", None
    seconds = time.perf_counter() - start
    ckpt = work / f"camx_{arch}" / "checkpoints" / "best.pt"
    if not ckpt.is_file():
        return {"status": status, "seconds": seconds, "test_accuracy": None}
    model, meta = load_checkpoint(ckpt)
    test = build_dataset({**cfg.dataset, "image_size": int(meta["image_size"])}, "test")
    acc, _ = evaluate_accuracy(model, test, torch.device("cpu"), 128)
    return {
        "status": status,
        "seconds": seconds,
        "test_accuracy": acc,
        "image_size": int(meta["image_size"]),
        "lr": json.loads((work / f"camx_{arch}" / "run.json").read_text()).get("lr"),  # the peak (or auto's)
        "recipe": {k: cfg.trainer[k] for k in ("optimizer", "lr", "batch_size", "weight_decay", "schedule")},
        "best_val_accuracy": None if result is None else result.best_val_accuracy,
        "val_curve": None if result is None else [round(h["val_accuracy"], 3) for h in result.history],
    }


def run_bare(
    root: Path, arch: str, epochs: int, size: int, lr: float, batch: int = 16, seed: int = 0
) -> dict[str, Any]:
    """The textbook loop: ImageFolder, Adam at a constant lr, best-validation epoch scored on test."""
    from torchvision import datasets, transforms

    from camx.models import build_model

    torch.manual_seed(seed)
    tf = transforms.Compose(
        [
            transforms.Grayscale(3),
            transforms.Resize((size, size)),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    sets = {s: datasets.ImageFolder(str(root / s), tf) for s in ("train", "val", "test")}
    model = build_model(arch, "plain", len(sets["train"].classes))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(sets["train"], batch_size=batch, shuffle=True, generator=g)

    def accuracy(split: str) -> float:
        model.eval()
        with torch.no_grad():
            hits = [
                (model(x).argmax(1) == y).sum().item()
                for x, y in torch.utils.data.DataLoader(sets[split], batch_size=128)
            ]
        model.train()
        return sum(hits) / len(sets[split])

    start = time.perf_counter()
    best_val, test_at_best, curve = -1.0, 0.0, []
    for _ in range(epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = accuracy("val")
        curve.append(round(val, 3))
        if val > best_val:
            best_val, test_at_best = val, accuracy("test")
    return {
        "seconds": time.perf_counter() - start,
        "test_accuracy": test_at_best,
        "best_val_accuracy": best_val,
        "val_curve": curve,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the comparison."""

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    header = ["dataset", "arch", "epochs", "input px", "camx lr", "camx test acc", "bare-loop test acc", "Δ"]
    header += ["camx s", "bare s", "camx status"]
    lines = []
    for r in rows:
        c, b = r["camx"], r["bare"]
        delta = "—" if c["test_accuracy"] is None else f"{c['test_accuracy'] - b['test_accuracy']:+.3f}"
        lines.append(
            [r["dataset"], r["arch"], r["epochs"], r["size"], f"{c.get('lr', float('nan')):.3g}"]
            + [pct(c["test_accuracy"]), pct(b["test_accuracy"]), delta, f"{c['seconds']:.0f}"]
            + [f"{b['seconds']:.0f}", c["status"]]
        )
    return "\n".join(md.table(header, lines, align="llrrrrrrrrl"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="digits,lfw")
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--epochs", type=int, default=None, help="override the per-architecture epochs")
    ap.add_argument("--bare-lr", type=float, default=1e-4)
    ap.add_argument(
        "--camx-overrides",
        default="",
        help="extra camx overrides, space-separated, e.g. the old default "
        "'trainer.optimizer=sgd trainer.lr=0.1 trainer.batch_size=64 trainer.weight_decay=0.0005'",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        grid = [(n, a) for n in args.datasets.split(",") for a in args.archs.split(",")]
        roots: dict[str, Path] = {}
        for name, arch in steps(grid, "recipe vs bare loop"):
            if name not in roots:
                roots[name] = DATASETS[name](Path(tmp) / name)
            root = roots[name]
            epochs = args.epochs or EPOCHS[name][arch]
            c = run_camx(root, arch, epochs, Path(tmp) / f"runs_{name}", tuple(args.camx_overrides.split()))
            size = c.get("image_size") or 64
            b = run_bare(root, arch, epochs, size, args.bare_lr)
            label = f"{arch} ({args.camx_overrides})" if args.camx_overrides else arch
            rows.append(
                {"dataset": name, "arch": label, "epochs": epochs, "size": size, "camx": c, "bare": b}
            )
            print(table(rows[-1:]).splitlines()[-1], "| val", c.get("val_curve"), b["val_curve"], flush=True)
    text = table(rows)
    print(text)
    total = time.perf_counter() - started
    print(f"total {total:.0f} s")
    info = machine_info()
    print(
        f"{info['cpu']}, {info['usable_cores']} cores, torch {info['torch']}, camx {info['git'].get('commit', '?')}"
    )


if __name__ == "__main__":
    main()
