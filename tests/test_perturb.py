"""Perturbations against their definitions (camx.perturb)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from camx import perturb
from camx.errors import ConfigError
from camx.options.perturb import PERTURBATIONS, validate


def _square_scene(
    size: int = 32, top: int = 6, left: int = 10, side: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """A grey image with a red square, and the square's bool mask (1, 1, H, W)."""
    img = torch.full((1, 3, size, size), 0.5)
    img[0, :, top : top + side, left : left + side] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    mask = torch.zeros((1, 1, size, size), dtype=torch.bool)
    mask[0, 0, top : top + side, left : left + side] = True
    return img, mask


# ---------------------------------------------------------------- noise


def test_noise_sample_variance_matches_level():
    x = torch.full((4, 3, 64, 64), 0.5)
    var = 1e-3  # std 0.032: clipping at 0 and 1 is 15 std away
    y, _ = perturb.apply("noise", x, var, seed=3)
    eps = y - x
    assert abs(eps.mean().item()) < 1e-3
    assert eps.var().item() == pytest.approx(var, rel=0.03)


def test_noise_clips_to_unit_range():
    x = torch.full((2, 3, 16, 16), 0.5)
    y, _ = perturb.apply("noise", x, 2.0)
    assert y.min() == 0.0 and y.max() == 1.0
    assert ((y == 0) | (y == 1)).float().mean() > 0.3  # std 1.41: most values clip


def test_noise_is_deterministic_and_seeded():
    x = torch.rand(3, 3, 8, 8)
    a, _ = perturb.apply("noise", x, 0.1, seed=7)
    b, _ = perturb.apply("noise", x, 0.1, seed=7)
    c, _ = perturb.apply("noise", x, 0.1, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(perturb.apply("noise", x, 0.0)[0], x)


def test_noise_per_image_keys_independent_of_batching():
    x = torch.rand(3, 3, 8, 8)
    batch, _ = perturb.apply("noise", x, 0.2, seed=1, keys=[10, 11, 12])
    alone, _ = perturb.apply("noise", x[1:2], 0.2, seed=1, keys=[11])
    assert torch.equal(batch[1:2], alone)
    # default keys are batch positions; the same image under another key gets other noise
    default, _ = perturb.apply("noise", x, 0.2, seed=1)
    assert torch.equal(default[0:1], perturb.apply("noise", x[0:1], 0.2, seed=1, keys=[0])[0])
    assert not torch.equal(default[1], batch[1])


@pytest.mark.parametrize("space", ["pixel", "normalized", "minmax"])
def test_noise_every_space_seeded_per_image_whatever_the_batch(space):
    x = torch.rand(3, 3, 8, 8)
    batch, _ = perturb.apply("noise", x, 0.5, seed=4, keys=[5, 6, 7], noise_space=space)
    alone, _ = perturb.apply("noise", x[2:3], 0.5, seed=4, keys=[7], noise_space=space)
    assert torch.equal(batch[2:3], alone)
    assert torch.equal(batch, perturb.apply("noise", x, 0.5, seed=4, keys=[5, 6, 7], noise_space=space)[0])
    assert batch.min() >= 0 and batch.max() <= 1
    assert torch.equal(perturb.apply("noise", x, 0.0, noise_space=space)[0], x)


def test_noise_normalized_space_scales_each_channel_by_the_model_std():
    x = torch.full((2, 3, 64, 64), 0.5)
    var, std = 1e-3, (0.2, 0.5, 1.0)  # pixel stds 0.006, 0.016, 0.032: no clipping
    y, _ = perturb.apply("noise", x, var, seed=2, noise_space="normalized", std=std)
    for c, s in enumerate(std):
        assert (y - x)[:, c].std().item() == pytest.approx(s * math.sqrt(var), rel=0.05)
    # the same standard-normal draw as the pixel reading (common random numbers), scaled by σ_c
    px, _ = perturb.apply("noise", x, var, seed=2)
    assert torch.allclose((y - x)[:, 1], 0.5 * (px - x)[:, 1], atol=1e-6)
    # default σ_c: ImageNet's
    d, _ = perturb.apply("noise", x, var, seed=2, noise_space="normalized")
    assert (d - x)[:, 0].std().item() == pytest.approx(0.229 * math.sqrt(var), rel=0.05)


def test_noise_minmax_space_rescales_the_unclipped_noisy_image_to_unit_range():
    x = 0.3 + 0.4 * torch.rand(2, 3, 16, 16)
    var = 2.0  # std 1.41: pixel noise would clip most values; minmax keeps them all distinct
    y, _ = perturb.apply("noise", x, var, seed=1, noise_space="minmax")
    noisy = x + (
        perturb.apply("noise", x, 1e-4, seed=1, noise_space="normalized", std=(1, 1, 1))[0] - x
    ) * math.sqrt(var / 1e-4)
    for i in range(2):
        assert y[i].min() == 0 and y[i].max() == 1
        ref = (noisy[i] - noisy[i].min()) / (noisy[i].max() - noisy[i].min())
        assert torch.allclose(y[i], ref, atol=1e-5)
    assert ((y == 0) | (y == 1)).float().mean() < 0.01


def test_noise_space_is_checked():
    with pytest.raises(ConfigError, match="noise space"):
        perturb.apply("noise", torch.rand(1, 3, 4, 4), 0.1, noise_space="uint8")


# ---------------------------------------------------------------- geometric


def test_rotation_90_equals_rot90():
    x = torch.rand(2, 3, 9, 9)
    y, _ = perturb.apply("rotation", x, 90)
    torch.testing.assert_close(y, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    y, _ = perturb.apply("rotation", x, -90)
    torch.testing.assert_close(y, torch.rot90(x, -1, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_rotation_mask_follows_square():
    img, mask = _square_scene()
    y, m = perturb.apply("rotation", img, 30, masks=mask)
    assert m.dtype == torch.bool and m.shape == mask.shape
    red = y[0, 0][m[0, 0]]
    assert red.numel() == pytest.approx(100, rel=0.15)  # area kept
    assert red.mean() > 0.9  # the mask covers the square's (red) pixels
    strongly_red = (y[0, 0] > 0.95) & (y[0, 1] < 0.05)
    assert m[0, 0][strongly_red].all()
    # outside the original frame the fill is the image's mean colour
    corner = y[0, :, 0, 0]
    torch.testing.assert_close(corner, img.mean(dim=(2, 3))[0], atol=1e-5, rtol=0)


def test_rotation_moves_3d_float_masks_and_soft_maps():
    img, mask = _square_scene()
    fm = mask[:, 0].float()
    _, m = perturb.apply("rotation", img, 45, masks=fm)
    assert m.shape == fm.shape and m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    soft = torch.rand(1, 32, 32) * 0.9 + 0.05
    _, ms = perturb.apply("rotation", img, 45, masks=soft)
    assert ((ms > 0) & (ms < 1)).any()
    torch.testing.assert_close(ms, perturb.warp_like("rotation", 45, soft))


def test_stretch_mask_follows_square_horizontally_and_vertically():
    img, mask = _square_scene(size=40, top=10, left=22, side=8)
    y, m = perturb.apply("stretch", img, 1.5, masks=mask)
    rows = m[0, 0].any(dim=1).nonzero().flatten()
    cols = m[0, 0].any(dim=0).nonzero().flatten()
    assert len(rows) == 8 and len(cols) == 12  # width × 1.5, height unchanged
    assert y[0, 0][m[0, 0]].mean() > 0.9
    assert cols.min() > 22  # to the right of centre, it moves further right
    _, mv = perturb.apply("stretch", img, 1.5, masks=mask, axis="vertical")
    assert mv[0, 0].any(dim=1).sum() == 12 and mv[0, 0].any(dim=0).sum() == 8
    _, mb = perturb.apply("stretch", img, 0.5, masks=mask, axis="both")
    assert mb.sum() == 16


def test_stretch_identity_and_padding():
    x = torch.rand(2, 3, 12, 12)
    assert torch.equal(perturb.apply("stretch", x, 1.0)[0], x)
    y, _ = perturb.apply("stretch", x, 0.5)
    torch.testing.assert_close(y[:, :, :, 0], x.mean(dim=(2, 3))[:, :, None].expand(2, 3, 12))


def test_small_shrinks_mask_area_by_factor_squared_at_centre():
    img, mask = _square_scene(size=32, top=8, left=8, side=16)
    y, m = perturb.apply("small", img, 0.5, masks=mask)
    assert m.sum() == 16 * 16 * 0.25
    assert m[0, 0, 12:20, 12:20].all()
    torch.testing.assert_close(y[0, :, 0, 0], img.mean(dim=(2, 3))[0])
    torch.testing.assert_close(y[0, :, 14, 14], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(perturb.apply("small", img, 1.0)[0], img)


def test_warp_like_is_identity_for_non_geometric():
    maps = torch.rand(2, 8, 8)
    for kind, level in [("noise", 1.0), ("blur", 2.0), ("contrast", 0.3), ("jpeg", 10), ("none", 0)]:
        assert torch.equal(perturb.warp_like(kind, level, maps), maps)
    w = perturb.warp_like("small", 0.5, torch.ones(1, 8, 8))
    assert w.sum() == 16 and w[0, 0, 0] == 0


# ---------------------------------------------------------------- photometric


def test_contrast_formula_exact():
    x = torch.rand(2, 3, 8, 8)
    y, _ = perturb.apply("contrast", x, 0.3)
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(y, m + 0.3 * (x - m))
    assert torch.equal(perturb.apply("contrast", x, 1.0)[0], x)


def test_blur():
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(perturb.apply("blur", x, 0.0)[0], x)
    y, _ = perturb.apply("blur", x, 1.5)
    assert y.shape == x.shape and y.var() < x.var() / 3
    torch.testing.assert_close(y.mean(), x.mean(), atol=0.02, rtol=0)
    const = torch.full((1, 3, 8, 8), 0.3)
    torch.testing.assert_close(perturb.apply("blur", const, 3.0)[0], const)


def test_jpeg_changes_pixels_keeps_shape():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    x = torch.stack([xx, yy, (xx + yy) / 2])[None].repeat(2, 1, 1, 1)
    x[1, :, 8:16, 8:16] = 1.0
    y, _ = perturb.apply("jpeg", x, 10)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.equal(y, x)
    assert (y - x).abs().mean() < 0.1
    assert (y - x).abs().mean() > (perturb.apply("jpeg", x, 95)[0] - x).abs().mean()


def test_non_geometric_masks_unchanged_and_none_identity():
    img, mask = _square_scene()
    for kind, level in [("noise", 0.5), ("contrast", 0.5), ("blur", 1.0), ("jpeg", 50), ("none", 0)]:
        _, m = perturb.apply(kind, img, level, masks=mask)
        assert torch.equal(m, mask)
    assert torch.equal(perturb.apply("none", img, 0)[0], img)


def test_chain_composes_in_order():
    x = torch.rand(2, 3, 16, 16)
    chain, _ = perturb.apply_chain([("noise", 0.1)], x, seed=4)
    assert torch.equal(chain, perturb.apply("noise", x, 0.1, seed=4)[0])
    img, mask = _square_scene()
    y, m = perturb.apply_chain([("small", 0.5), ("contrast", 0.5)], img, masks=mask)
    y1, m1 = perturb.apply("small", img, 0.5, masks=mask)
    y2, _ = perturb.apply("contrast", y1, 0.5)
    assert torch.equal(y, y2) and torch.equal(m, m1)
    with pytest.raises(ConfigError):
        perturb.apply_chain([("small", 0.5), ("contrast", 2.0)], img)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        ("noise", -0.1),
        ("noise", math.nan),
        ("rotation", math.inf),
        ("rotation", math.nan),
        ("stretch", 0.0),
        ("stretch", -1.0),
        ("stretch", 11.0),
        ("contrast", 0.0),
        ("contrast", 1.5),
        ("small", 0.0),
        ("small", 1.01),
        ("blur", -1.0),
        ("jpeg", 0),
        ("jpeg", 101),
        ("jpeg", 50.5),
        ("haze", 1.0),  # not a kind (ImageNet-C's fog is one: tests/test_corruptions.py)
        ("noise", "loud"),
    ],
)
def test_validate_rejects(kind, level):
    with pytest.raises(ConfigError) as err:
        validate(kind, level)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError):
        perturb.apply(kind, torch.rand(1, 3, 4, 4), level)


def test_validate_accepts_and_names_range():
    assert validate("noise", 2) == 2.0
    assert validate("rotation", -720) == -720.0
    assert validate("jpeg", 75.0) == 75.0
    with pytest.raises(ConfigError, match=r"contrast\.factor.*\(0, 1\]"):
        validate("contrast", 0)
    with pytest.raises(ConfigError):
        perturb.apply("stretch", torch.rand(1, 3, 4, 4), 2.0, axis="diagonal")


@settings(max_examples=30, deadline=None)
@given(
    kind=st.sampled_from(PERTURBATIONS),
    u=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
)
def test_apply_in_range_never_nan(kind, u, seed):
    lo, hi = {
        "none": (0, 1),
        "noise": (0, 3),
        "rotation": (-360, 360),
        "stretch": (0.05, 3),
        "contrast": (0.01, 1),
        "small": (0.05, 1),
        "blur": (0, 4),
        "jpeg": (1, 100),
    }[kind]
    level = lo + u * (hi - lo)
    if kind == "jpeg":
        level = round(level)
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed % 1000))
    mask = torch.rand(2, 1, 8, 8) > 0.5
    y, m = perturb.apply(kind, x, level, masks=mask, seed=seed)
    assert y.shape == x.shape and m.shape == mask.shape
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_eval_conditions_carry_the_noise_space_to_the_perturbation():
    from camx.jobs.eval_conditions import conditions, perturb_all

    conds = conditions({"compose": False, "perturb": {"noise": {"variance": [0.5], "space": "normalized"}}})
    assert [c.noise_space for c in conds] == ["normalized", "normalized"]  # clean, then noise
    x = torch.rand(2, 3, 8, 8)
    (_, clean, _), (_, noisy, _) = perturb_all(conds, x, None, 3, [0, 1], std=(0.5, 0.5, 0.5))
    assert torch.equal(clean, x)
    ref, _ = perturb.apply("noise", x, 0.5, seed=3, noise_space="normalized", std=(0.5, 0.5, 0.5))
    assert torch.equal(noisy, ref)
    # a hand-made block with no space reads as the presets do (camx.options.perturb.DEFAULT_NOISE_SPACE)
    assert (
        conditions({"compose": False, "perturb": {"noise": {"variance": [0.5]}}})[1].noise_space
        == "normalized"
    )
    pixel = conditions({"compose": False, "perturb": {"noise": {"variance": [0.5], "space": "pixel"}}})
    assert pixel[1].noise_space == "pixel"
