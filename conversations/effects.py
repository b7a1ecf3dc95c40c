"""What the engine asks the service to store; plain values, applied in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SaveProfile:
    """Record consent and the least profile: group, commune, age band."""

    group: str
    commune: str
    age_band: str
    consent: tuple[str, ...]
    version: str
    purpose: str
    at: datetime
    lang: str


@dataclass(frozen=True, slots=True)
class StartResponse:
    """Open a response for the round; it counts only once submitted."""

    response_id: str
    round_id: str
    group: str
    commune: str
    age_band: str
    version: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SaveAnswer:
    """Store or replace one answer; no option and no text clears it."""

    response_id: str
    question_id: str
    option_id: str | None
    satisfied: bool | None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Submit:
    """Lock a response and mark the person as having answered the round."""

    response_id: str
    round_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Forget:
    """Erase the person's profile, contact and session; keep answers unlinked."""


@dataclass(frozen=True, slots=True)
class RecordConsent:
    """Record consent for a purpose other than the survey."""

    purpose: str
    given_by: str
    version: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CreateProposal:
    """File a proposal to the children's forum; the service gives it its reference."""

    token: str
    commune: str
    topic: str
    text: str
    publish: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class PollConsent:
    """Whether the person agrees to receive leaders' polls (asked once, apart from the survey's consent)."""

    agree: bool


Effect = SaveProfile | StartResponse | SaveAnswer | Submit | Forget | RecordConsent | CreateProposal | PollConsent
