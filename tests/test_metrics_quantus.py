"""camx's metrics against Quantus 0.6 (the metrics both define), on the same maps and masks, within 1e-6.

Maps are camx's Grad-CAM (and Grad-CAM++) maps of a small seeded CNN on real photos (scikit-image's
chelsea, coffee, astronaut, rocket at 48 px); masks are thresholded copies of other photos' maps, so
they are irregular. Where camx and Quantus differ in definition (docs/METRICS.md), the test feeds Quantus
camx's choice (the perturbation samples, the similarity) and checks the rest.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camx import explain
from camx.metrics import energy_pointing_game, pointing_game
from camx.metrics.complexity import complexity, sparseness
from camx.metrics.randomisation import random_classes, random_logit
from camx.metrics.sensitivity import sensitivity, sensitivity_noise
from camx.metrics.stability import ssim
from tests._cam_helpers import SmallCNN, seeded, single_thread

quantus = pytest.importorskip("quantus", reason="Quantus is the reference (dev extra)")
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")

SIZE = 48
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def _photos() -> torch.Tensor:
    out = []
    for name in PHOTOS:
        p = torch.from_numpy(np.asarray(getattr(skimage_data, name)())).permute(2, 0, 1)[None].float() / 255
        out.append(torch.nn.functional.interpolate(p, size=(SIZE, SIZE), mode="area")[0])
    return torch.stack(out)


@pytest.fixture(scope="module")
def case():
    model = seeded(SmallCNN(num_classes=5, stride=1), seed=2, fc_gain=8.0)
    x = _photos()
    targets = torch.tensor([0, 1, 2, 3])
    with single_thread():
        maps = explain(model, x, "gradcampp", targets=targets).maps
        other = explain(model, x.flip(0), "gradcam", targets=targets).maps
    masks = (other > 0.5).float()
    masks[3] = 0  # an image without an object
    return model, x, maps, masks, targets


def _q(metric, x, maps, masks=None, model=None, targets=None, **kw):
    return np.asarray(
        metric(
            model=model,
            x_batch=x.numpy(),
            y_batch=(targets if targets is not None else torch.zeros(len(x), dtype=torch.long)).numpy(),
            a_batch=maps[:, None].numpy(),
            s_batch=None if masks is None else masks[:, None].numpy(),
            device="cpu",
            **kw,
        ),
        dtype=np.float64,
    )


def test_sparseness_and_complexity_equal_quantus(case):
    _, x, maps, _, _ = case
    signed = maps - 0.3  # negative values too: both take |a|
    for m in (maps, signed, 5 * maps):
        np.testing.assert_allclose(
            sparseness(m), _q(quantus.Sparseness(disable_warnings=True), x, m), atol=1e-6
        )
        np.testing.assert_allclose(
            complexity(m), _q(quantus.Complexity(disable_warnings=True), x, m), atol=1e-6
        )
    uniform = torch.ones(1, SIZE, SIZE)
    assert float(sparseness(uniform)) == pytest.approx(0.0, abs=1e-6)
    assert float(complexity(uniform)) == pytest.approx(np.log(SIZE * SIZE), abs=1e-6)
    one = torch.zeros(1, SIZE, SIZE)
    one[0, 3, 4] = 1
    assert float(complexity(one)) == pytest.approx(0.0, abs=1e-6)
    assert float(sparseness(one)) > 0.999


def test_pointing_game_and_relevance_mass_equal_quantus(case):
    _, x, maps, masks, _ = case
    present = masks.flatten(1).amax(1) > 0
    pg = _q(quantus.PointingGame(disable_warnings=True), x, maps, masks)
    rm = _q(quantus.RelevanceMassAccuracy(disable_warnings=True), x, maps, masks)
    np.testing.assert_allclose(pointing_game(maps, masks)[present], pg[present.numpy()], atol=1e-6)
    np.testing.assert_allclose(energy_pointing_game(maps, masks)[present], rm[present.numpy()], atol=1e-6)
    # an empty mask: Quantus's relevance mass is NaN, its pointing game 1 (it writes NaN into a bool
    # array, which stores True); camx's callers leave such images out (camx.metrics.has_object)
    assert np.isnan(rm[3]) and pg[3] == 1.0
    assert 0 < float(energy_pointing_game(maps, masks)[:3].mean()) < 1


def test_relevance_mass_of_a_signed_map_is_quantus_on_its_positive_part(case):
    """camx counts positive evidence only (docs/METRICS.md); Quantus 0.6 sums the signed map."""
    _, x, maps, masks, _ = case
    signed = maps - 0.7  # camx's own maps are in [0, 1]; a user's attribution may be signed
    present = (masks.flatten(1).amax(1) > 0).numpy()
    mine = energy_pointing_game(signed, masks).numpy()
    on_positive = _q(quantus.RelevanceMassAccuracy(disable_warnings=True), x, signed.clamp_min(0), masks)
    np.testing.assert_allclose(mine[present], on_positive[present], atol=1e-6)
    signed_sum = _q(quantus.RelevanceMassAccuracy(disable_warnings=True), x, signed, masks)
    assert ((mine >= 0) & (mine <= 1)).all()
    assert (signed_sum[present] < 0).any()  # Quantus's signed ratio leaves [0, 1]
    no_positive = energy_pointing_game(-maps, masks)  # nothing speaks for the class: 0, not 0/0
    assert torch.equal(no_positive, torch.zeros(len(maps)))


def _explainer(model):
    def explain_q(model, inputs, targets, **_):  # Quantus's signature: numpy in, numpy out
        with single_thread():
            m = explain(model, torch.as_tensor(inputs), "gradcam", targets=torch.as_tensor(targets)).maps
        return m[:, None].numpy()

    def explain_c(images, targets):
        return explain(model, images, "gradcam", targets=targets).maps

    return explain_q, explain_c


def test_max_and_avg_sensitivity_equal_quantus_on_the_same_samples(case):
    model, x, _, _, targets = case
    explain_q, explain_c = _explainer(model)
    with single_thread():
        maps = explain_c(x, targets)
        mx, av = sensitivity(
            explain_c, x, maps, targets, samples=3, radius=0.05, seed=4, keys=[10, 11, 12, 13]
        )
    draws = iter(range(6))

    def same_noise(arr, indices, **_):  # Quantus draws from np.random; give it camx's samples in order
        s = next(draws) % 3
        return (
            arr
            + sensitivity_noise(x.shape, 0.05, s, seed=4, keys=[10, 11, 12, 13]).reshape(arr.shape).numpy()
        )

    for metric, mine in ((quantus.MaxSensitivity, mx), (quantus.AvgSensitivity, av)):
        ref = _q(
            metric(nr_samples=3, perturb_func=same_noise, disable_warnings=True),
            x,
            maps,
            model=model,
            targets=targets,
            explain_func=explain_q,
        )
        np.testing.assert_allclose(mine, ref, atol=1e-6)
    assert bool((mx >= av).all()) and bool((av > 0).all())
    mx_big, _ = sensitivity(explain_c, x, maps, targets, samples=3, radius=0.3, seed=4, keys=[10, 11, 12, 13])
    assert float(mx_big.mean()) > float(mx.mean())  # a larger ball moves the maps more


def test_random_logit_equals_quantus_with_two_classes(case):
    """With two classes the other class is determined, so Quantus's draw and camx's agree."""
    x = case[1]
    model = seeded(SmallCNN(num_classes=2, stride=1), seed=5, fc_gain=8.0)
    explain_q, explain_c = _explainer(model)
    targets = torch.tensor([0, 1, 1, 0])
    with single_thread():
        maps = explain_c(x, targets)
        mine = random_logit(explain_c, x, maps, targets, num_classes=2, seed=3)

    def camx_ssim(a, b, batched=True, **_):
        return ssim(
            torch.as_tensor(a).reshape(-1, SIZE, SIZE), torch.as_tensor(b).reshape(-1, SIZE, SIZE)
        ).numpy()

    ref = _q(
        quantus.RandomLogit(num_classes=2, similarity_func=camx_ssim, disable_warnings=True),
        x,
        maps,
        model=model,
        targets=targets,
        explain_func=explain_q,
    )
    np.testing.assert_allclose(mine, ref, atol=1e-6)
    assert float(mine.max()) < 0.99  # the other class's map does differ


def test_random_classes_never_the_target_and_seeded_per_image():
    t = torch.tensor([3, 0, 9, 3])
    c = random_classes(t, 10, seed=1, keys=[5, 6, 7, 8])
    assert not bool((c == t).any()) and bool(((c >= 0) & (c < 10)).all())
    assert torch.equal(random_classes(t[2:], 10, seed=1, keys=[7, 8]), c[2:])
    draws = random_classes(torch.zeros(400, dtype=torch.long), 5, seed=0, keys=range(400))
    assert set(draws.tolist()) == {1, 2, 3, 4}
