"""How a channel reports a failed send: retry later, or give up because the person blocked us or the message is bad."""

from __future__ import annotations

from typing import Literal

Kind = Literal["retry", "blocked", "invalid"]
KINDS: tuple[Kind, ...] = ("retry", "blocked", "invalid")


class SendFailure(Exception):
    """A send the platform refused: `retry` (429, 5xx, timeouts), `blocked` (403) or `invalid` (400)."""

    def __init__(self, kind: Kind, reason: str, retry_after: float | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown send failure kind {kind!r}")
        super().__init__(f"{kind}: {reason}")
        self.kind: Kind = kind
        self.reason = reason
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type, tuple[Kind, str, float | None]]:
        return (SendFailure, (self.kind, self.reason, self.retry_after))
