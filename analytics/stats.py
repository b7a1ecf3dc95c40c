"""Pure statistics: the satisfaction index, its respondent-level interval, suppression of small counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
MIN_GROUP = 5


@dataclass(frozen=True, slots=True)
class Sums:
    """Per-respondent sums of one group: y = satisfied answers, m = scored answers of each respondent."""

    n: int = 0
    y: int = 0
    m: int = 0
    yy: int = 0
    ym: int = 0
    mm: int = 0

    @property
    def index(self) -> float | None:
        """Satisfied answers over scored answers."""
        return self.y / self.m if self.m else None

    @property
    def variance(self) -> float | None:
        """Variance of the index as a ratio estimator, respondents as clusters (Taylor linearisation)."""
        p = self.index
        if p is None or self.n < 2:
            return None
        residual = max(self.yy - 2 * p * self.ym + p * p * self.mm, 0.0)
        return self.n / (self.n - 1) * residual / (self.m * self.m)


def wilson(p: float, n: float) -> tuple[float, float]:
    """Wilson score interval for a share p observed on n independent units; it always contains p."""
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# The clustered variance gives an effective sample size n_eff = p(1-p)/var: answers from one person are
# correlated, so n_eff lies between the respondents and the answers. A Wilson interval on n_eff stays inside
# [0, 1] and stays honest when every answer is the same. Where the variance says nothing (one respondent,
# or p at 0 or 1) each respondent counts as one observation.
def interval(index: float | None, variance: float | None, respondents: int, answers: int) -> tuple[float, float] | None:
    """95% interval of an index with respondents, not answers, as the unit."""
    if index is None or respondents < 1 or answers < 1:
        return None
    n_eff = float(respondents)
    if variance and 0 < index < 1:
        n_eff = index * (1 - index) / variance
    return wilson(index, min(max(n_eff, 1.0), float(answers)))


def weighted(parts: list[tuple[float, Sums]]) -> float | None:
    """The weighted index of groups alone (no interval); groups without answers give their weight away."""
    present = [(w, s) for w, s in parts if s.m and w > 0]
    total = sum(w for w, _ in present)
    return sum(w * (s.y / s.m) for w, s in present) / total if total else None


def combine(parts: list[tuple[float, Sums]]) -> tuple[float | None, tuple[float, float] | None]:
    """Weighted index of independent groups and its interval; groups without answers give their weight away."""
    present = [(w, s) for w, s in parts if s.index is not None and w > 0]
    total = sum(w for w, _ in present)
    if not total:
        return None, None
    index = weighted(present)
    variances = [s.variance for _, s in present]
    variance = None
    if all(v is not None for v in variances):
        variance = sum((w / total) ** 2 * v for (w, _), v in zip(present, variances, strict=True))  # type: ignore[operator]
    return index, interval(index, variance, sum(s.n for _, s in present), sum(s.m for _, s in present))


def shown(count: int, respondents: int) -> int | str:
    """A count fit to publish: '<5' when the respondents behind it are fewer than five."""
    return count if respondents >= MIN_GROUP else f"<{MIN_GROUP}"
