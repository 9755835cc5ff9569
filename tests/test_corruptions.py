"""ImageNet-C corruptions through the imagecorruptions package (camx.corruptions), on real photos at 32 px."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import camx

from camx import perturb as P
from camx.config import perturbation_grid
from camx.errors import ConfigError
from camx.options.perturb import CORRUPTIONS, validate

if importlib.util.find_spec("imagecorruptions") is None:  # importing it needs camx's shim first
    pytest.skip("perturb=corruptions needs imagecorruptions (dev extra)", allow_module_level=True)
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")

from camx.corruptions import corrupt, load_package  # noqa: E402


def _photos(size: int = 32) -> torch.Tensor:
    out = []
    for name in ("chelsea", "coffee", "astronaut"):
        p = torch.from_numpy(np.asarray(getattr(skimage_data, name)())).permute(2, 0, 1)[None].float() / 255
        out.append(torch.nn.functional.interpolate(p, size=(size, size), mode="area")[0])
    return torch.stack(out)


def test_every_corruption_changes_a_photo_and_stays_in_range() -> None:
    x = _photos()[:1]
    for name in CORRUPTIONS:
        y = corrupt(x, name, 3, seed=0)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert float(y.min()) >= 0 and float(y.max()) <= 1
        assert float((y - x).abs().mean()) > 0.005, name


def test_same_pixels_alone_or_in_a_batch_and_the_global_generator_untouched() -> None:
    x = _photos()
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for name in ("gaussian_noise", "frost", "snow"):
        both = corrupt(x, name, 2, seed=7, keys=[10, 11, 12])
        alone = corrupt(x[2:], name, 2, seed=7, keys=[12])
        assert torch.equal(both[2:], alone), name
        assert torch.equal(corrupt(x, name, 2, seed=7, keys=[10, 11, 12]), both)  # same seed, same pixels
    assert not torch.equal(corrupt(x, "shot_noise", 2, seed=7), corrupt(x, "shot_noise", 2, seed=8))
    assert np.array_equal(np.random.get_state()[1], before)


def test_severity_makes_a_noise_corruption_stronger() -> None:
    x = _photos()
    change = [float((corrupt(x, "gaussian_noise", s) - x).abs().mean()) for s in (1, 3, 5)]
    assert change[0] < change[1] < change[2]


def test_perturb_apply_dispatches_and_leaves_masks_in_place() -> None:
    x = _photos()[:2]
    masks = torch.zeros(2, 32, 32)
    masks[:, 8:20, 10:24] = 1
    y, m = P.apply("fog", x, 4, masks=masks, seed=3, keys=[5, 6])
    assert torch.equal(y, corrupt(x, "fog", 4, seed=3, keys=[5, 6])) and torch.equal(m, masks)
    y2, _ = P.apply_chain([("contrast_c", 2), ("noise", 0.1)], x, seed=1)
    assert y2.shape == x.shape
    with pytest.raises(ConfigError, match="severity"):
        validate("fog", 6)
    with pytest.raises(ConfigError, match="integer"):
        validate("pixelate", 2.5)
    with pytest.raises(ConfigError, match="at least 32 px"):
        corrupt(torch.rand(1, 3, 16, 16), "fog", 1)


def test_names_and_severities_expand_to_one_perturbation_per_corruption() -> None:
    grid = perturbation_grid({"names": ["gaussian_noise", "contrast"], "severities": [1, 3, 5]})
    assert grid == [("gaussian_noise", {"severity": [1, 3, 5]}), ("contrast_c", {"severity": [1, 3, 5]})]
    assert [k for k, _ in perturbation_grid({"names": None, "severities": [2]})] == list(CORRUPTIONS)
    both = perturbation_grid({"noise": {"variance": [0.1]}, "names": ["fog"], "severities": None})
    assert both == [("noise", {"variance": [0.1]}), ("fog", {"severity": [1, 2, 3, 4, 5]})]
    with pytest.raises(ConfigError, match="fogg"):
        perturbation_grid({"names": ["fogg"], "severities": [1]})
    with pytest.raises(ConfigError, match="severities is empty"):
        perturbation_grid({"names": ["fog"], "severities": []})


def test_pkg_resources_shim_finds_the_frost_textures() -> None:
    load_package()
    resource_filename = sys.modules["pkg_resources"].resource_filename
    assert Path(resource_filename("imagecorruptions.corruptions", "./frost/frost1.png")).is_file()


NEW_MAP_METRICS = (
    "sparseness",
    "complexity",
    "road_morf",
    "road_lerf",
    "road_combined",
    "random_logit",
    "max_sensitivity",
    "avg_sensitivity",
)


def test_eval_under_corruptions_with_every_map_metric_records_gates_and_draws(trained: Path) -> None:
    """One smoke eval: two corruptions at two severities, the new map metrics switched on, a gate on fog."""
    res = camx(
        "eval",
        "experiment=smoke",
        "perturb=corruptions",
        "perturb.names=[gaussian_noise,fog]",
        "perturb.severities=[1,5]",
        "max_images=4",
        "heads=[plain]",
        "baselines=[]",
        "road=true",
        "random_logit=true",
        "sensitivity_samples=2",
        "--fail-under",
        "fog.accuracy=1.01",  # can never hold
        "--fail-under",
        "complexity=0.0",  # lower is better: an upper bound no map meets (its entropy is > 0)
        cwd=trained,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "fog" in out and "complexity" in out
    run_dir = Path(res.stdout.split("run dir:")[1].split()[0])
    records = json.loads((run_dir / "metrics.json").read_text())["records"]
    conds = {(r["perturbation"], r["level"]) for r in records}
    assert conds == {
        ("none", 0.0),
        ("gaussian_noise", 1.0),
        ("gaussian_noise", 5.0),
        ("fog", 1.0),
        ("fog", 5.0),
    }
    assert any(r["metric"] == "stability_pearson" and r["perturbation"] == "fog" for r in records)
    got = {(r["perturbation"], r["level"], r["metric"]): r for r in records if r["metric"] in NEW_MAP_METRICS}
    for metric in NEW_MAP_METRICS:
        r = got[("none", 0.0, metric)]
        # an all-zero map (the smoke model is barely trained) has no complexity or sensitivity: left out
        assert r["method"] == "gradcam" and 1 <= r["n"] <= 4
        assert r["ci_low"] <= r["value"] <= r["ci_high"]
        assert ("fog", 5.0, metric) in got
    assert 0 <= got[("none", 0.0, "sparseness")]["value"] <= 1
    assert (
        got[("none", 0.0, "max_sensitivity")]["value"] >= got[("none", 0.0, "avg_sensitivity")]["value"] >= 0
    )
    assert (run_dir / "corruptions_accuracy.png").is_file() and (
        run_dir / "corruptions_stability.png"
    ).is_file()


def test_corruption_curves_start_at_the_clean_value_and_skip_other_perturbations() -> None:
    from camx.report.figures import corruption_curves

    def rec(run, pert, level, value):
        return {
            "run": run,
            "head": run,
            "metric": "accuracy",
            "method": None,
            "perturbation": pert,
            "level": level,
            "value": value,
            "ci_low": value / 2,
            "ci_high": 1.0,
        }

    records = [
        rec("a", "none", 0.0, 0.9),
        rec("a", "fog", 1.0, 0.8),
        rec("a", "fog", 5.0, 0.4),
        rec("a", "noise", 0.6, 0.5),
        rec("a", "contrast_c", 3.0, 0.6),
    ]
    series = corruption_curves(records, "accuracy", None)
    assert series == {  # the clean value at severity 0
        "fog": {"a": [(0.0, 0.9, 0.45, 1.0), (1.0, 0.8, 0.4, 1.0), (5.0, 0.4, 0.2, 1.0)]},
        "contrast_c": {"a": [(0.0, 0.9, 0.45, 1.0), (3.0, 0.6, 0.3, 1.0)]},
    }
    assert list(series) == ["fog", "contrast_c"]  # ImageNet-C's order
    two = corruption_curves(
        [*records, rec("b", "none", 0.0, 0.7), rec("b", "fog", 1.0, 0.6)], "accuracy", None
    )
    assert {c: list(s) for c, s in two.items()} == {"fog": ["a", "b"], "contrast_c": ["a"]}


def test_stability_curves_start_at_one_without_a_clean_record() -> None:
    from camx.report.figures import corruption_curves

    rec = {"run": "a", "head": "a", "metric": "stability_pearson", "method": "gradcam", "perturbation": "fog"}
    records = [{**rec, "level": 2.0, "value": 0.7, "ci_low": 0.6, "ci_high": 0.8}]
    assert corruption_curves(records, "stability_pearson", "gradcam") == {
        "fog": {"a": [(2.0, 0.7, 0.6, 0.8)]}
    }
    assert corruption_curves(records, "stability_pearson", "gradcam", 1.0) == {
        "fog": {"a": [(0.0, 1.0, 1.0, 1.0), (2.0, 0.7, 0.6, 0.8)]}
    }
