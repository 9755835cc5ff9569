"""Severity matching: the noise level v* at which a head's curve crosses a reference value.

The Sensors 2023 claim is relative (§3.1, Fig. 3): at the variance where the plain ResNet50's mean
true-class confidence is 0.481 (its variance 0.6), DropKey keeps 0.878 and Dropout 0.766. Comparing
heads at the v* where *this* plain head reaches 0.481 asks the same question of any model, whatever
its noise reading and architecture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PAPER_PLAIN_CONFIDENCE = 0.481  #: Sensors 2023 Fig. 3: plain ResNet50's confidence at variance 0.6


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
