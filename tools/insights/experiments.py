"""Treated against control: the interval statistics of a measured campaign, and its power.

`newcombe_difference` (the save rate: a difference of two proportions, Newcombe's hybrid score
interval, method 10, on `wilson_interval`s), `welch_difference` (revenue per customer: Welch's
t interval) and `customers_needed` (how many customers a campaign needs to tell an uplift from
none: two proportions, 5% two-sided, 80% power).
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054
Z80 = 0.8416212335729143


def wilson_interval(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927) score interval for a proportion x/n."""
    if n == 0:
        return (0.0, 1.0)
    p = x / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(
    x1: int, n1: int, x2: int, n2: int, z: float = Z95
) -> tuple[float, float, float]:
    """(p1 − p2, lower, upper): Newcombe's hybrid score interval (method 10)."""
    if n1 == 0 or n2 == 0:
        return (float("nan"), float("nan"), float("nan"))
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    return (
        d,
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def welch_difference(
    a: np.ndarray, b: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean(a) − mean(b), lower, upper): Welch's t interval."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        return (float("nan"), float("nan"), float("nan"))
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    d = a.mean() - b.mean()
    se = math.sqrt(va + vb)
    if se == 0:
        return (d, d, d)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    from scipy import stats  # here, not at the top: the brief imports this module (scipy: ~1 s)

    t = stats.t.ppf(0.5 + level / 2, df)
    return (d, d - t * se, d + t * se)


def customers_needed(
    control_rate: float,
    uplift: float,
    *,
    ratio: float = 1.0,
    z_alpha: float = Z95,
    z_beta: float = Z80,
) -> tuple[int, int] | None:
    """(treated, control) group sizes to detect `uplift` over `control_rate` (two proportions,
    two-sided 5%, 80% power; `ratio` = treated / control; Fleiss, Levin & Paik eq. 4.14)."""
    p2 = min(max(control_rate, 0.0), 1.0)
    p1 = min(max(p2 + uplift, 0.0), 1.0)
    d = abs(p1 - p2)
    if d < 1e-9 or ratio <= 0:
        return None
    k = ratio
    pbar = (k * p1 + p2) / (k + 1)
    n_c = (
        z_alpha * math.sqrt(pbar * (1 - pbar) * (1 + 1 / k))
        + z_beta * math.sqrt(p1 * (1 - p1) / k + p2 * (1 - p2))
    ) ** 2 / d**2
    return int(math.ceil(k * n_c)), int(math.ceil(n_c))
