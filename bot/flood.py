"""Flood control: a person who sends far faster than anyone types is slowed, and everyone else is untouched."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(slots=True)
class Bucket:
    """A person's allowance of updates: `burst` at once, refilled at `rate` per second."""

    tokens: float
    at: float
    told: bool = False


class Flood:
    """Slows a person who sends far faster than anyone types; everyone else is untouched."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self._buckets: dict[str, Bucket] = {}

    def allow(self, person: str, now: float) -> tuple[bool, bool]:
        """Whether to process this update, and whether to tell the person they are going too fast."""
        bucket = self._buckets.get(person) or Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[person] = bucket
        if len(self._buckets) > 50_000:
            self._buckets = {k: b for k, b in self._buckets.items() if b.tokens < self.burst}
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            if bucket.tokens >= self.burst / 2:
                bucket.told = False
            return True, False
        tell, bucket.told = not bucket.told, True
        return False, tell
