"""The statistics of a study, and the verdict word computed from them (never typed).

For each comparison (an arm minus another, paired by seed, P1 or P2 in mm):

* the mean of the per-seed differences ``d``, its standard error ``sd(d) / sqrt(n)`` and the
  two-sided p-value of Student's t with n - 1 degrees of freedom (exact quantiles: the
  regularised incomplete beta function, no table);
* Holm's step-down correction over the comparisons of one study table (the family), and the
  *adjusted* interval: the Student-t interval at the level at which the raw p-value meets its
  Holm threshold, so it excludes 0 exactly when Holm rejects;
* the minimum detectable effect: the true difference a paired t-test of these n seeds finds with
  80 % power at the 5 % level, ``(t_{0.975} + t_{0.80}) sd(d) / sqrt(n)``;
* the verdict, from the adjusted interval alone: **holds** when it excludes 0; **equivalent
  within ±1 mm** when it lies inside (-1, +1) mm (a two one-sided tests equivalence at the
  adjusted level, conservative); otherwise **inconclusive**.

Nothing is rounded here; tables round once, when they print.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mmdiff.errors import DataError

ALPHA = 0.05
POWER = 0.80
#: the equivalence margin of the verdict, mm
MARGIN = 1.0
VERDICTS = ("holds", "equivalent within ±1 mm", "inconclusive")


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise DataError(f"t_cdf: degrees of freedom must be > 0, found {df}")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on :func:`t_cdf`; |error| < 1e-9)."""
    if not 0.0 < q < 1.0:
        raise DataError(f"t_quantile: q must be in (0, 1), found {q}")
    lo, hi = -1e6, 1e6
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_cdf(mid, df) < q else (lo, mid)
        if hi - lo < 1e-12:
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Comparison:
    """One paired comparison: n seeds, mean and sd of the differences (mm), raw p-value; the
    Holm-adjusted p-value and the level of the adjusted interval are set per family."""
    name: str
    n: int
    mean: float
    sd: float
    p: float
    p_holm: float = float("nan")

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n)

    def interval(self, level_alpha: float) -> tuple[float, float]:
        """The two-sided (1 - ``level_alpha``) Student-t interval of the mean difference."""
        half = t_quantile(1.0 - level_alpha / 2.0, self.n - 1) * self.se
        return self.mean - half, self.mean + half

    @property
    def ci95(self) -> tuple[float, float]:
        return self.interval(ALPHA)

    @property
    def adjusted_alpha(self) -> float:
        """The level whose interval excludes 0 exactly when Holm rejects: alpha p / p_holm."""
        if not self.p_holm > 0:
            return ALPHA
        return ALPHA * self.p / self.p_holm

    @property
    def adjusted(self) -> tuple[float, float]:
        return self.interval(self.adjusted_alpha)

    @property
    def mde(self) -> float:
        """Minimum detectable effect (mm) at 80 % power, 5 % two-sided."""
        df = self.n - 1
        return (t_quantile(1 - ALPHA / 2, df) + t_quantile(POWER, df)) * self.se

    @property
    def verdict(self) -> str:
        return verdict(*self.adjusted)


def compare(name: str, values, base) -> Comparison:
    """The comparison ``values - base`` (per-seed lists, same order)."""
    d = np.asarray(values, dtype=float) - np.asarray(base, dtype=float)
    n = len(d)
    if n < 2:
        raise DataError(f"{name}: a paired comparison needs at least 2 seeds, found {n}")
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        p = 0.0 if mean != 0.0 else 1.0
    else:
        p = 2.0 * (1.0 - t_cdf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return Comparison(name, n, mean, sd, p)


def holm(comparisons: list[Comparison]) -> list[Comparison]:
    """The same comparisons with Holm-adjusted p-values (step-down, monotone), in input order."""
    m = len(comparisons)
    order = sorted(range(m), key=lambda i: comparisons[i].p)
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * comparisons[i].p))
        adjusted[i] = running
    return [Comparison(c.name, c.n, c.mean, c.sd, c.p, adjusted[i])
            for i, c in enumerate(comparisons)]


def verdict(low: float, high: float, margin: float = MARGIN) -> str:
    """The verdict word of an adjusted interval (see the module docstring)."""
    if low > 0 or high < 0:
        return VERDICTS[0]
    if -margin < low and high < margin:
        return VERDICTS[1]
    return VERDICTS[2]


def cell(c: Comparison) -> str:
    """"-1.05 [-2.90, +0.79] inconclusive": mean, Holm-adjusted interval, verdict (mm, rounded
    here, once)."""
    low, high = c.adjusted
    return f"{c.mean:+.2f} [{low:+.2f}, {high:+.2f}] {c.verdict}"
