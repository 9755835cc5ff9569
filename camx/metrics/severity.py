"""Severity matching: the noise level v* at which a head's curve crosses a reference value.

The Sensors 2023 claim is relative (§3.1, Fig. 3): at the variance where the plain ResNet50's mean
true-class confidence is 0.481 (its variance 0.6), DropKey keeps 0.878 and Dropout 0.766. Comparing
heads at the v* where *this* plain head reaches 0.481 asks the same question of any model, whatever
its noise reading and architecture: :func:`match_severity` finds v* on a (dense, log-spaced) variance
grid, reads every head's confidence there, and gives each a bootstrap interval over seeds and images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from camx.metrics.stats import Summary, bootstrap_summary

PAPER_PLAIN_CONFIDENCE = 0.481  #: Sensors 2023 Fig. 3: plain ResNet50's confidence at variance 0.6
#: Sensors 2023 §3.1: true-class confidence of the three ResNet50s at noise variance 0.6.
PAPER_AT_VSTAR: dict[str, float] = {"plain": 0.481, "dropout": 0.766, "dropkey": 0.878}
#: The paper's head / plain confidence ratios at variance 0.6 (dropkey 1.83, dropout 1.59).
PAPER_RATIOS: dict[str, float] = {h: v / PAPER_AT_VSTAR["plain"] for h, v in PAPER_AT_VSTAR.items()}


def crossing(points: Sequence[tuple[float, float]], value: float) -> float | None:
    """The first level at which the curve through ``points`` = [(level, y), …] falls to ``value``.

    Between two measured levels ``a < b`` with ``y(a) ≥ value > y(b)`` the crossing is interpolated
    linearly in log-level, ``v* = exp(log a + t·(log b − log a))``, ``t = (y(a) − value)/(y(a) − y(b))``
    (linearly in the level when ``a`` is the clean point, level 0). ``None`` when the curve never falls
    to ``value`` (or starts below it).
    """
    pts = sorted((float(x), float(y)) for x, y in points)
    if not pts or pts[0][1] < value:
        return None
    for (a, ya), (b, yb) in zip(pts, pts[1:]):
        if ya >= value > yb or (ya > value >= yb):
            t = (ya - value) / (ya - yb)
            if a <= 0:
                return a + t * (b - a)
            return math.exp(math.log(a) + t * (math.log(b) - math.log(a)))
    return None


def value_at(points: Sequence[tuple[float, float]], level: float) -> float:
    """The curve through ``points`` read at ``level``, interpolated as :func:`crossing` does.

    Linear in log-level between two measured levels (linear in the level on a segment starting at
    0); NaN outside the measured range.
    """
    pts = sorted((float(x), float(y)) for x, y in points)
    for (a, ya), (b, yb) in zip(pts, pts[1:]):
        if a <= level <= b:
            if b == a:
                return ya
            t = (level - a) / (b - a) if a <= 0 else math.log(level / a) / math.log(b / a)
            return ya + t * (yb - ya)
    if pts and level == pts[0][0]:
        return pts[0][1]
    return float("nan")


@dataclass(frozen=True)
class HeadAtSeverity:
    """One head at the matched severity v*: confidence and its ratio to the reference value."""

    head: str
    confidence: Summary  #: mean true-class confidence at v*, bootstrap CI
    ratio: Summary  #: confidence / reference value (0.481), bootstrap CI
    paper_ratio: float | None  #: the paper's ratio for this head (dropkey 1.83, dropout 1.59)


@dataclass(frozen=True)
class SeverityMatch:
    """v* (point estimate and bootstrap CI) and every head read there."""

    vstar: Summary  #: NaN mean when the reference head's mean curve never crosses the value
    heads: dict[str, HeadAtSeverity]
    crossed: float  #: fraction of bootstrap replicates whose reference curve crossed the value
    value: float  #: the reference value matched (the paper's plain 0.481 by default)


def _check_curves(levels: Sequence[float], curves: Mapping[str, Tensor], reference: str) -> dict[str, Tensor]:
    if reference not in curves:
        raise ValueError(f"curves has no {reference!r} head (got {', '.join(curves)}); it defines v*")
    out = {h: torch.as_tensor(c, dtype=torch.float64) for h, c in curves.items()}
    out = {h: c.view(1, 1, -1) if c.ndim == 1 else c for h, c in out.items()}
    shape = out[reference].shape
    for h, c in out.items():
        if c.ndim != 3 or c.shape != shape or c.shape[-1] != len(levels):
            raise ValueError(
                f"curves[{h!r}] has shape {tuple(c.shape)}; every head needs (seeds, images, "
                f"{len(levels)} levels), the same seeds and images as {reference!r} {tuple(shape)}"
            )
    return out


def _read(
    levels: Sequence[float], means: Mapping[str, Tensor], reference: str, value: float
) -> dict[str, float]:
    """v* of the reference mean curve and every head's mean at v* (NaN when it does not cross)."""
    vstar = crossing(list(zip(levels, means[reference].tolist())), value)
    out = {"": float("nan") if vstar is None else vstar}
    for h, m in means.items():
        out[h] = float("nan") if vstar is None else value_at(list(zip(levels, m.tolist())), vstar)
    return out


def match_severity(
    levels: Sequence[float],
    curves: Mapping[str, Tensor],
    *,
    reference: str = "plain",
    value: float = PAPER_PLAIN_CONFIDENCE,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> SeverityMatch:
    """Match severity to the paper: v* where ``reference``'s mean confidence crosses ``value``.

    ``curves[head]`` is the true-class confidence per (seed, image, level), shape (S, N, L), on the
    variance grid ``levels`` (clean = 0 allowed; a log-spaced grid around the knee resolves v*); every
    head is measured on the same S seeds (training or noise seeds) and N images, so the bootstrap is
    paired. v* is :func:`crossing` of the mean curve (log-variance interpolation), each head's
    confidence there :func:`value_at`, and its ratio to ``value`` is comparable to the paper's
    :data:`PAPER_RATIOS` (the paper's plain is 0.481 at its v* = 0.6). Intervals: percentile bootstrap
    (``n_boot`` replicates, :func:`camx.metrics.stats.bootstrap_summary`) resampling seeds and images
    independently with replacement; replicates whose reference curve never crosses are dropped
    (``crossed`` says how many crossed).
    """
    lv = [float(v) for v in levels]
    cs = _check_curves(lv, curves, reference)
    s, n, _ = cs[reference].shape
    point = _read(lv, {h: c.mean(dim=(0, 1)) for h, c in cs.items()}, reference, value)
    g = torch.Generator().manual_seed(int(seed))
    reps: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(int(n_boot)):
        si = torch.randint(0, s, (s,), generator=g)
        ni = torch.randint(0, n, (n,), generator=g)
        got = _read(lv, {h: c[si][:, ni].mean(dim=(0, 1)) for h, c in cs.items()}, reference, value)
        for k, v in got.items():
            reps[k].append(v)
    crossed = sum(math.isfinite(v) for v in reps[""]) / max(1, int(n_boot))
    heads = {}
    for h in cs:
        conf = bootstrap_summary(point[h], reps[h], confidence)
        ratio = bootstrap_summary(point[h] / value, [v / value for v in reps[h]], confidence)
        heads[h] = HeadAtSeverity(h, conf, ratio, PAPER_RATIOS.get(h))
    return SeverityMatch(bootstrap_summary(point[""], reps[""], confidence), heads, crossed, value)
