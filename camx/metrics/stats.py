"""Summaries of metric values: the mean with a confidence interval inside the metric's range, and rank
correlation.

:func:`metric_ci` picks the interval of a metric id (docs/METRICS.md, "Confidence intervals"): a Wilson
score interval (:func:`wilson_ci`) for proportions of 0/1 outcomes (accuracy, pointing game, Increase in
Confidence), else the Student-t interval (:func:`mean_ci`) clipped to the metric's possible range
(:data:`camx.options.metrics.RANGES`). No SciPy: the t quantile is found by bisection on the exact t CDF, written with the regularised
incomplete beta function (continued fraction, Numerical Recipes §6.4), accurate to ~1e-10.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import torch
from torch import Tensor

from camx.errors import check_range
from camx.options.metrics import PROPORTIONS, RANGES

Bounds = tuple[float | None, float | None]


@dataclass(frozen=True)
class Summary:
    """Mean of n finite values with a two-sided confidence interval [ci_low, ci_high].

    With n = 0 every field but n is NaN: callers skip such summaries (nothing was measured).
    """

    mean: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval's width, (ci_high − ci_low) / 2."""
        return (self.ci_high - self.ci_low) / 2


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for 0 ≤ x ≤ 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student t CDF: F(t) = 1 − ½·I_{ν/(ν+t²)}(ν/2, ½) for t ≥ 0, and 1 − F(−t) for t < 0."""
    upper = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - upper if t >= 0 else upper


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` > 0 degrees of freedom (bisection on :func:`t_cdf`)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


def _finite(values: Tensor | Sequence[float]) -> Tensor:
    v = torch.as_tensor(values, dtype=torch.float64).detach().cpu().reshape(-1)
    return v[torch.isfinite(v)]


def _clip(x: float, bounds: Bounds | None) -> float:
    low, high = bounds or (None, None)
    x = x if low is None else max(low, x)
    return x if high is None else min(high, x)


def mean_ci(
    values: Tensor | Sequence[float], confidence: float = 0.95, bounds: Bounds | None = None
) -> Summary:
    """Mean and Student-t confidence interval of the finite values (NaN and ±inf are dropped).

    mean ± t_{(1+confidence)/2, n−1} · s / √n, s the sample standard deviation (n − 1 denominator),
    then clipped to ``bounds`` = (low, high), the values' possible range (None: open on that side), so
    a skewed metric near its edge never reports an impossible limit. n = 1 gives the interval
    [mean, mean]; n = 0 gives NaN fields (see :class:`Summary`).
    """
    check_range("confidence", confidence, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    v = _finite(values)
    n = int(v.numel())
    if n == 0:
        nan = float("nan")
        return Summary(nan, nan, nan, 0)
    mean = float(v.mean())
    if n == 1:
        return Summary(mean, mean, mean, 1)
    s = float(v.std(correction=1))
    half = t_quantile((1.0 + confidence) / 2.0, n - 1) * s / math.sqrt(n)
    return Summary(mean, _clip(mean - half, bounds), _clip(mean + half, bounds), n)


def wilson_ci(values: Tensor | Sequence[float], confidence: float = 0.95, scale: float = 1.0) -> Summary:
    """Mean of 0/``scale`` outcomes with the Wilson score interval (Wilson, JASA 1927), times ``scale``.

    With p̂ = k/n the share of successes and z = Φ⁻¹((1+confidence)/2):
    centre = (p̂ + z²/2n) / (1 + z²/n), half = z/(1 + z²/n) · √(p̂(1 − p̂)/n + z²/4n²),
    interval [centre − half, centre + half] ⊂ [0, 1], which always holds p̂ (also for k = 0 or n, where
    the t-interval collapses to a point or leaves [0, 1]). n = 0 gives NaN fields.
    """
    check_range("confidence", confidence, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    v = _finite(values) / scale
    n = int(v.numel())
    if n == 0:
        nan = float("nan")
        return Summary(nan, nan, nan, 0)
    if bool(((v != 0) & (v != 1)).any()):
        raise ValueError(f"wilson_ci needs 0/{scale:g} outcomes, got other values")
    p = float(v.mean())
    z = NormalDist().inv_cdf((1.0 + confidence) / 2.0)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))
    return Summary(p * scale, low * scale, high * scale, n)


def metric_ci(metric: str, values: Tensor | Sequence[float], confidence: float = 0.95) -> Summary:
    """The summary of ``metric``'s per-image values: :func:`wilson_ci` for the proportions of
    :data:`~camx.options.metrics.PROPORTIONS` (when every value is 0 or the scale), else :func:`mean_ci`
    clipped to the metric's :data:`~camx.options.metrics.RANGES` (unknown ids: unclipped)."""
    scale = PROPORTIONS.get(metric)
    if scale is not None:
        v = _finite(values)
        if bool(((v == 0) | (v == scale)).all()):
            return wilson_ci(v, confidence, scale)
    return mean_ci(values, confidence, RANGES.get(metric))


def ranks(values: Sequence[float]) -> list[float]:
    """0-based ranks of ``values`` in ascending order; tied values share the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation ρ: Pearson's r of the (tie-averaged) ranks of ``a`` and ``b``.

    ρ = Σ(r_a − r̄_a)(r_b − r̄_b) / √(Σ(r_a − r̄_a)² · Σ(r_b − r̄_b)²); NaN when either side is constant.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"spearman needs two equally long non-empty sequences, got {len(a)} and {len(b)}")
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else float("nan")


def bootstrap_summary(
    point: float, replicates: Tensor | Sequence[float], confidence: float = 0.95
) -> Summary:
    """``point`` with the percentile bootstrap interval of its ``replicates`` (NaN replicates dropped).

    [q_{(1−confidence)/2}, q_{(1+confidence)/2}] of the replicates (linear interpolation between order
    statistics); ``n`` is the number of finite replicates. No finite replicate gives a NaN interval.
    """
    check_range("confidence", confidence, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    r = torch.as_tensor(replicates, dtype=torch.float64).detach().cpu().reshape(-1)
    r = r[torch.isfinite(r)]
    if r.numel() == 0:
        return Summary(float(point), float("nan"), float("nan"), 0)
    q = torch.tensor([(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0], dtype=torch.float64)
    low, high = torch.quantile(r, q).tolist()
    return Summary(float(point), low, high, int(r.numel()))
