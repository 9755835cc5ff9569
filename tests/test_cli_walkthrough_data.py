"""Frictions a new user met: class names as API targets, dir(camx), swapped perturb arguments, the folder
hint, sanity's --method and target naming, ambiguous case, run dir names and ImageNet-C severities."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_cli_messages import _invoke, _lite0, _one_error, _photos

import camx
from camx.cam.targets import class_index
from camx.errors import ConfigError


def test_dir_lists_the_lazy_public_names() -> None:
    assert {"explain", "explain_many", "load_pretrained", "load_checkpoint", "build_model"} <= set(dir(camx))


def test_targets_by_class_name_on_the_real_lite0() -> None:
    from _cam_helpers import load_lite0

    model = load_lite0()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    by_name = camx.explain(model, x, targets=["tabby", "Espresso"])
    by_index = camx.explain(
        model, x, targets=[model.class_names.index("tabby"), model.class_names.index("espresso")]
    )
    assert torch.equal(by_name.maps, by_index.maps)
    with pytest.raises(
        ConfigError, match=r"targets='tabbby' is not a class of this model; did you mean tabby\?"
    ):
        camx.explain(model, x, targets="tabbby")


def test_exact_case_wins_and_an_ambiguous_case_is_refused() -> None:
    classes = ["Cardigan", "cardigan", "tabby"]
    assert class_index("cardigan", classes) == 1 and class_index("Cardigan", classes) == 0
    assert class_index("TABBY", classes) == 2
    with pytest.raises(
        ConfigError, match=r"'CARDIGAN' matches 'Cardigan' \(0\) and 'cardigan' \(1\) ignoring case"
    ):
        class_index("CARDIGAN", classes)


def test_swapped_perturb_arguments_name_the_types() -> None:
    from camx import perturb

    with pytest.raises(ConfigError) as err:
        perturb.apply(torch.rand(1, 3, 8, 8), "rotation", 15)  # type: ignore[arg-type]
    assert str(err.value).startswith("apply(kind, images, level) got a Tensor and a str") and "0." not in str(
        err.value
    )


def test_a_folder_of_other_classes_suggests_model_class_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = _photos(tmp_path / "inet")
    (photos / "tabby").rename(photos / "kat")
    folder = ["dataset=imagefolder", f"dataset.root={photos}", "dataset.ratios=[0,0,1]"]
    res = _invoke(tmp_path, monkeypatch, "eval", *_lite0(), *folder)
    _one_error(res, 2, "pass 'model.class_names=[espresso,kat]', else name the class folders")


def test_sanity_method_keeps_the_baselines_and_target_is_named_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = _invoke(tmp_path, monkeypatch, "sanity", "x.jpg", "--method", "gradcam,segeigencam", "--cfg", "job")
    assert "baselines:\n- random\n- center\n- sobel\n" in res.stdout
    photo = _photos(tmp_path / "inet") / "tabby" / "0.jpg"
    res = _invoke(tmp_path, monkeypatch, "sanity", str(photo), *_lite0(), "--method", "gradcam", "target=kat")
    _one_error(res, 2, "target='kat' is not a class of this model")


def test_pretrained_run_dirs_say_pretrained_and_severities_are_1_to_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from camx.cli import hydra_bridge as hb

    assert hb._run_head(_root_=hb.compose("explain", [*_lite0(), "inputs=[x.jpg]"])) == "pretrained"
    assert (
        hb._run_head(_root_=hb.compose("explain", ["inputs=[x.jpg]"])) == "plain"
    )  # a camx-trained resnet50
    res = _invoke(
        tmp_path, monkeypatch, "eval", "experiment=smoke", "perturb=corruptions", "perturb.severities=[6]"
    )
    _one_error(res, 2, "perturb.severities=[6] has 6; ImageNet-C severities are the integers 1 to 5")
