"""Metrics on hand-made cases with known answers (camx.metrics)."""

from __future__ import annotations

import math

import pytest
import torch

from camx.errors import ConfigError
from camx.metrics import (
    average_drop_increase,
    deletion_insertion_auc,
    energy_pointing_game,
    has_object,
    iou,
    mean_ci,
    metric_ci,
    pearson,
    pointing_game,
    ssim,
    t_quantile,
    wilson_ci,
)
from camx.options.metrics import HIGHER_IS_BETTER, METRICS, PROPORTIONS, RANGES


def _mask(b: int = 2, size: int = 8) -> torch.Tensor:
    m = torch.zeros(b, size, size)
    m[:, 2:5, 3:6] = 1
    return m


# ---------------------------------------------------------------- localisation


def test_map_equal_to_mask_scores_one():
    m = _mask()
    for masks in (m, m[:, None], m.bool()):
        assert torch.equal(pointing_game(m, masks), torch.ones(2))
        assert torch.equal(iou(m, masks), torch.ones(2))
        torch.testing.assert_close(energy_pointing_game(m, masks), torch.ones(2))


def test_map_off_mask_scores_zero():
    m = _mask()
    off = 1 - m
    assert torch.equal(pointing_game(off, m), torch.zeros(2))
    assert torch.equal(iou(off, m), torch.zeros(2))
    assert torch.equal(energy_pointing_game(off, m), torch.zeros(2))


def test_localisation_known_fractions_and_edge_cases():
    mask = torch.zeros(1, 4, 4)
    mask[0, 0, :2] = 1  # 2 pixels
    cam = torch.zeros(1, 4, 4)
    cam[0, 0, :4] = torch.tensor([1.0, 0.6, 0.2, 0.2])  # ≥0.5: 2 inside; energy 1.6 / 2.0
    torch.testing.assert_close(energy_pointing_game(cam, mask), torch.tensor([0.8]))
    torch.testing.assert_close(iou(cam, mask), torch.tensor([1.0]))
    torch.testing.assert_close(iou(cam, mask, threshold=0.1), torch.tensor([0.5]))
    # ties go to the first maximum (pixel 0, inside); a zero map has no energy
    assert pointing_game(torch.zeros(1, 4, 4), mask).item() == 1.0
    assert energy_pointing_game(torch.zeros(1, 4, 4), mask).item() == 0.0
    assert iou(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)).item() == 0.0
    assert has_object(torch.stack([mask[0], torch.zeros(4, 4)])).tolist() == [True, False]


def test_map_with_nan_or_inf_is_refused_not_scored():
    """A NaN pixel used to win the pointing game's argmax (a silent hit) and zero the energy."""
    from camx.metrics.complexity import complexity, sparseness
    from camx.metrics.randomisation import random_logit
    from camx.metrics.road import road
    from camx.metrics.sensitivity import sensitivity

    mask = _mask(1)
    images = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    forward = lambda x: torch.softmax(x.mean(dim=(2, 3)), dim=1)  # noqa: E731
    for bad in (float("nan"), float("inf")):
        cam = mask.clone()
        cam[0, 0, 0] = bad
        for score in (pointing_game, energy_pointing_game, iou):
            with pytest.raises(ValueError, match="NaN or infinite"):
                score(cam, mask)
        for score in (sparseness, complexity):
            with pytest.raises(ValueError, match="NaN or infinite"):
                score(cam)
        for score in (average_drop_increase, deletion_insertion_auc, road):
            with pytest.raises(ValueError, match="NaN or infinite"):
                score(forward, images, cam, [0])
        with pytest.raises(ValueError, match="NaN or infinite"):
            sensitivity(lambda x, t: mask, images, cam, [0], samples=1)
        with pytest.raises(ValueError, match="NaN or infinite"):
            random_logit(lambda x, t: mask, images, cam, [0], num_classes=3)


def test_random_map_pointing_game_is_chance():
    g = torch.Generator().manual_seed(0)
    n = 4000
    masks = torch.zeros(n, 16, 16)
    masks[:, :4] = 1  # 25% of the image
    maps = torch.rand(n, 16, 16, generator=g)
    assert pointing_game(maps, masks).mean().item() == pytest.approx(0.25, abs=0.03)


# ---------------------------------------------------------------- faithfulness


def _object_forward(obj: torch.Tensor):
    """p(class 0) = mean red level over the object pixels; class 1 takes the rest."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        p = (x[:, 0] * obj).sum(dim=(1, 2)) / obj.sum()
        return torch.stack([p, 1 - p], dim=1)

    return forward


def test_deletion_ranks_object_first_map_better():
    obj = _mask(1, 12)[0]
    img = torch.full((3, 3, 12, 12), 0.4)
    img[:, 0][:, obj.bool()] = 1.0
    forward = _object_forward(obj)
    good = obj.expand(3, 12, 12) + 0.01 * torch.rand(3, 12, 12)
    bad = (1 - obj).expand(3, 12, 12) + 0.01 * torch.rand(3, 12, 12)
    t = [0, 0, 0]
    del_good, ins_good = deletion_insertion_auc(forward, img, good, t, steps=12)
    del_bad, ins_bad = deletion_insertion_auc(forward, img, bad, t, steps=12)
    assert (del_good < del_bad - 0.5).all()
    assert (ins_good > ins_bad).all()
    assert del_good.shape == (3,)


def test_deletion_insertion_exact_values_and_chunking():
    def forward(x):  # p = mean red over the whole image
        p = x[:, 0].mean(dim=(1, 2))
        return torch.stack([p, 1 - p], dim=1)

    img = torch.ones(2, 3, 4, 4)
    maps = torch.rand(2, 4, 4)
    # every step removes 1/4 of the pixels: the curves are linear from 1 to 0 and 0 to 1
    d, i = deletion_insertion_auc(forward, img, maps, [0, 0], steps=4, substrate="black")
    torch.testing.assert_close(d, torch.full((2,), 0.5))
    torch.testing.assert_close(i, torch.full((2,), 0.5))
    img = torch.rand(3, 3, 8, 8)
    maps = torch.rand(3, 4, 4)  # resized to the images
    a = deletion_insertion_auc(forward, img, maps, [0, 1, 0], steps=5, chunk_size=64)
    b = deletion_insertion_auc(forward, img, maps, [0, 1, 0], steps=5, chunk_size=4)
    torch.testing.assert_close(a, b)
    with pytest.raises(ConfigError):
        deletion_insertion_auc(forward, img, maps, [0, 1, 0], substrate="fog")


def test_average_drop_and_increase_known_values():
    def forward(x):
        p = x[:, 0].mean(dim=(1, 2))
        return torch.stack([p, 1 - p], dim=1)

    img = torch.full((3, 3, 4, 4), 0.8)
    maps = torch.stack([torch.full((4, 4), 0.5), torch.ones(4, 4), torch.full((4, 4), 0.5)])
    targets = torch.tensor([0, 0, 1])
    drop, inc = average_drop_increase(forward, img, maps, targets, fill=0.0)
    # image 0: Y = 0.8, O = 0.4 → drop 50 %; image 1: O = Y → 0, no increase;
    # image 2 (class 1): Y = 0.2, O = 0.6 → no drop, an increase
    torch.testing.assert_close(drop, torch.tensor([50.0, 0.0, 0.0]))
    torch.testing.assert_close(inc, torch.tensor([0.0, 0.0, 100.0]))
    probs = forward(img)
    for base in (probs, probs.gather(1, targets[:, None]).squeeze(1)):
        d2, i2 = average_drop_increase(forward, img, maps, targets, base_probs=base, fill=0.0)
        torch.testing.assert_close(d2, drop)
        torch.testing.assert_close(i2, inc)
    # a grey fill: image 0 becomes 0.2 + (0.8 − 0.2) · 0.5 = 0.5 → drop (0.8 − 0.5) / 0.8 = 37.5 %
    drop, inc = average_drop_increase(forward, img, maps, targets, fill=0.2)
    torch.testing.assert_close(drop, torch.tensor([37.5, 0.0, 0.0]))
    torch.testing.assert_close(inc, torch.tensor([0.0, 0.0, 100.0]))


# ---------------------------------------------------------------- stability


def test_pearson():
    a = torch.rand(3, 8, 8)
    torch.testing.assert_close(pearson(a, a), torch.ones(3))
    torch.testing.assert_close(pearson(a, 2 * a + 1), torch.ones(3))
    torch.testing.assert_close(pearson(a, -a), -torch.ones(3))
    assert torch.equal(pearson(a, torch.full((3, 8, 8), 0.7)), torch.zeros(3))
    assert pearson(a[:, None], a[:, None]).shape == (3,)


def test_ssim():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 32, 32, generator=g)
    b = torch.rand(4, 32, 32, generator=g)
    torch.testing.assert_close(ssim(a, a), torch.ones(4))
    assert (ssim(a, b).abs() < 0.2).all()
    smooth = torch.linspace(0, 1, 32).expand(1, 32, 32)
    assert 0.2 < ssim(smooth, (smooth + 0.1 * torch.rand(1, 32, 32, generator=g)).clamp(0, 1)).item() < 1
    assert ssim(torch.rand(2, 5, 5), torch.rand(2, 5, 5)).shape == (2,)  # window shrinks to fit


def test_ssim_is_the_2d_gaussian_window_formula():
    """The separable filtering equals Wang et al.'s statistics under the 7×7 Gaussian window (σ = 1.5)."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 20, 17, generator=g), torch.rand(3, 20, 17, generator=g)
    t = torch.arange(7, dtype=torch.float64) - 3
    w = torch.exp(-0.5 * (t / 1.5) ** 2)
    w = (torch.outer(w, w) / w.sum() ** 2)[None, None]
    x, y = a.double()[:, None], b.double()[:, None]

    def filt(z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(z, w)

    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    field = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    want = field.mean(dim=(1, 2, 3))
    torch.testing.assert_close(ssim(a, b), want.float(), rtol=0, atol=1e-7)


# ---------------------------------------------------------------- stats


def test_t_quantile_known_values():
    assert t_quantile(0.975, 9) == pytest.approx(2.262157, abs=1e-5)
    assert t_quantile(0.975, 1) == pytest.approx(12.706205, abs=1e-5)
    assert t_quantile(0.995, 30) == pytest.approx(2.749996, abs=1e-5)
    assert t_quantile(0.975, 10**7) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0.025, 9) == pytest.approx(-2.262157, abs=1e-5)


def test_mean_ci_known_values():
    vals = [float(v) for v in range(1, 11)]  # mean 5.5, s = sqrt(55/6)
    s = mean_ci(vals)
    half = 2.262157 * math.sqrt(55 / 6) / math.sqrt(10)
    assert s.n == 10 and s.mean == pytest.approx(5.5)
    assert s.ci_low == pytest.approx(5.5 - half, abs=1e-4)
    assert s.ci_high == pytest.approx(5.5 + half, abs=1e-4)
    t = mean_ci(torch.tensor(vals + [math.nan, math.inf]))
    assert t.n == 10 and t.ci_high == pytest.approx(s.ci_high)
    one = mean_ci([3.0])
    assert (one.mean, one.ci_low, one.ci_high, one.n) == (3.0, 3.0, 3.0, 1)
    empty = mean_ci([math.nan])
    assert empty.n == 0 and math.isnan(empty.mean)
    assert mean_ci(vals, confidence=0.99).half_width > s.half_width
    with pytest.raises(ConfigError):
        mean_ci(vals, confidence=1.0)


def test_wilson_ci_formula_and_scipy():
    """Wilson score interval: centre = (p̂ + z²/2n)/(1 + z²/n), half = z/(1 + z²/n)·√(p̂(1−p̂)/n + z²/4n²)."""
    from scipy.stats import binomtest

    z = 1.959964
    for k, n in [(0, 4), (3, 4), (4, 4), (1, 1), (37, 50)]:
        s = wilson_ci([1.0] * k + [0.0] * (n - k))
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert s.mean == pytest.approx(p) and s.n == n
        assert (s.ci_low, s.ci_high) == pytest.approx(
            (max(0, centre - half), min(1, centre + half)), abs=1e-6
        )
        assert (s.ci_low, s.ci_high) == pytest.approx((ref.low, ref.high), abs=1e-6)
        assert 0 <= s.ci_low <= s.mean <= s.ci_high <= 1
    scaled = wilson_ci([100.0, 0.0, 100.0, 100.0], scale=100.0)  # Increase in Confidence, in %
    assert (scaled.mean, scaled.ci_low, scaled.ci_high) == pytest.approx((75.0, 30.0642, 95.4413), abs=1e-3)
    with pytest.raises(ValueError):
        wilson_ci([0.5, 1.0])


def test_metric_ci_stays_in_each_metrics_range():
    """Accuracy of 0/4 and 4/4, confidences near 0 and 1, one big Average Drop: the t-interval would
    leave the range (mean ± t·s/√n); metric_ci keeps it inside and keeps the mean."""
    assert set(RANGES) == set(METRICS) and set(PROPORTIONS) <= set(METRICS)
    cases = {
        "accuracy": [0.0, 0.0, 1.0, 0.0],
        "pointing_game": [1.0, 1.0, 1.0, 0.0],
        "confidence": [0.9, 0.99, 0.1, 0.999],
        "average_drop": [0.0, 0.0, 0.0, 90.0],
        "increase_in_confidence": [0.0, 0.0, 100.0, 0.0],
        "stability_pearson": [0.99, 0.98, -0.9, 1.0],
        "road_combined": [0.45, -0.4, 0.49, 0.5],
        "complexity": [0.1, 0.1, 9.0, 0.1],
    }
    for metric, vals in cases.items():
        s, t = metric_ci(metric, vals), mean_ci(vals)
        low, high = RANGES[metric]
        assert s.mean == pytest.approx(t.mean) and s.n == 4
        assert (low is None or low <= s.ci_low) and (high is None or s.ci_high <= high), metric
        assert (low is not None and t.ci_low < low) or (high is not None and t.ci_high > high), metric
        assert s.ci_low <= s.mean <= s.ci_high
    clipped = metric_ci("confidence", [0.9, 0.99, 0.1, 0.999])
    assert clipped.ci_low == pytest.approx(mean_ci([0.9, 0.99, 0.1, 0.999]).ci_low) and clipped.ci_high == 1.0
    assert metric_ci("accuracy", [0.0, 0.0, 1.0, 0.0]) == wilson_ci([0.0, 0.0, 1.0, 0.0])
    assert metric_ci("unknown", [1.0, 2.0]) == mean_ci([1.0, 2.0])  # no declared range: unclipped


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    from camx.metrics import spearman

    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (12,), generator=g).tolist()  # ties: 12 values from 5
    b = [x + float(torch.rand(1, generator=g)) for x in a[::-1]]
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))  # a constant side has no ranking
    with pytest.raises(ValueError):
        spearman([1, 2], [1])


def test_metric_ids():
    assert METRICS[:3] == ("accuracy", "confidence", "confidence_pred") and len(METRICS) == 20
    assert set(HIGHER_IS_BETTER) == set(METRICS)
    assert [m for m in METRICS if not HIGHER_IS_BETTER[m]] == [
        "average_drop",
        "deletion_auc",
        "complexity",
        "road_morf",
        "random_logit",
        "max_sensitivity",
        "avg_sensitivity",
    ]


# ---------------------------------------------------------------- severity matching (Sensors 2023 Fig. 3)


def test_bootstrap_summary_percentiles():
    from camx.metrics.stats import bootstrap_summary

    s = bootstrap_summary(5.0, list(range(1001)) + [float("nan")], confidence=0.9)
    assert (s.mean, s.n) == (5.0, 1001)
    assert (s.ci_low, s.ci_high) == pytest.approx((50.0, 950.0))
    assert math.isnan(bootstrap_summary(1.0, [float("nan")]).ci_low)


def test_match_severity_finds_vstar_and_reads_every_head_there():
    from camx.metrics.severity import PAPER_RATIOS, match_severity, value_at

    levels = [0.0] + [0.05 * 2 ** (k / 2) for k in range(12)]  # a log grid around the knee
    g = torch.Generator().manual_seed(0)

    def curve(scale: float) -> torch.Tensor:  # (3 seeds, 6 images, L): exp(−v/scale) plus per-image noise
        base = torch.tensor([math.exp(-v / scale) for v in levels])
        return (base + 0.01 * torch.randn(3, 6, len(levels), generator=g)).clamp(0, 1)

    curves = {"plain": curve(0.8), "dropkey": curve(2.0)}
    m = match_severity(levels, curves, n_boot=300)
    true_vstar = -0.8 * math.log(0.481)  # 0.585: where exp(−v/0.8) = 0.481
    assert m.vstar.mean == pytest.approx(true_vstar, rel=0.03)
    assert m.vstar.ci_low <= m.vstar.mean <= m.vstar.ci_high and m.crossed == 1.0
    plain, dk = m.heads["plain"], m.heads["dropkey"]
    assert plain.confidence.mean == pytest.approx(0.481) and plain.ratio.mean == pytest.approx(1.0)
    mean_dk = list(zip(levels, curves["dropkey"].mean(dim=(0, 1)).tolist()))
    assert dk.confidence.mean == pytest.approx(value_at(mean_dk, m.vstar.mean))
    assert dk.ratio.mean == pytest.approx(dk.confidence.mean / 0.481)
    assert dk.ratio.mean == pytest.approx(math.exp(-true_vstar / 2.0) / 0.481, rel=0.03)
    assert dk.ratio.ci_low < dk.ratio.mean < dk.ratio.ci_high
    assert dk.paper_ratio == pytest.approx(1.83, abs=0.005) and PAPER_RATIOS["dropout"] == pytest.approx(
        1.59, abs=0.005
    )


def test_match_severity_never_crossing_and_bad_shapes():
    from camx.metrics.severity import match_severity

    flat = torch.full((2, 3, 4), 0.9)
    m = match_severity([0.0, 0.1, 0.5, 1.0], {"plain": flat}, n_boot=20)
    assert math.isnan(m.vstar.mean) and m.crossed == 0.0
    with pytest.raises(ValueError, match="plain"):
        match_severity([0.0, 0.1, 0.5, 1.0], {"dropkey": flat})
    with pytest.raises(ValueError, match="same seeds and images"):
        match_severity([0.0, 0.1, 0.5, 1.0], {"plain": flat, "dropkey": flat[:1]})
