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


def interval(index: float | None, variance: float | None) -> tuple[float, float] | None:
    """A 95% interval around an index, kept inside [0, 1]; None when it cannot be estimated."""
    if index is None or variance is None:
        return None
    half = Z95 * math.sqrt(variance)
    return max(0.0, index - half), min(1.0, index + half)


def combine(parts: list[tuple[float, Sums]]) -> tuple[float | None, tuple[float, float] | None]:
    """Weighted index of independent groups and its interval; groups without answers give their weight away."""
    present = [(w, s) for w, s in parts if s.index is not None and w > 0]
    total = sum(w for w, _ in present)
    if not total:
        return None, None
    index = sum(w * s.index for w, s in present) / total  # type: ignore[operator]
    variances = [s.variance for _, s in present]
    if any(v is None for v in variances):
        return index, None
    variance = sum((w / total) ** 2 * v for (w, _), v in zip(present, variances, strict=True))  # type: ignore[operator]
    return index, interval(index, variance)


def shown(count: int, respondents: int) -> int | str:
    """A count fit to publish: '<5' when the respondents behind it are fewer than five."""
    return count if respondents >= MIN_GROUP else f"<{MIN_GROUP}"
