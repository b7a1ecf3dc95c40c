"""SQLAlchemy models: the only place the schema is written (migrations follow it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names."""

    metadata = MetaData(naming_convention=NAMING)


class Commune(Base):
    """An administrative unit assessed for child-friendliness."""

    __tablename__ = "communes"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(20), default="standard")
    valid_from: Mapped[str | None] = mapped_column(String(10))
    valid_to: Mapped[str | None] = mapped_column(String(10))
    merged_into: Mapped[str | None] = mapped_column(String(40))
    province: Mapped[str | None] = mapped_column(String(120))
    former_district: Mapped[str | None] = mapped_column(String(120))
    children_count: Mapped[int | None] = mapped_column(Integer)


class Round(Base):
    """An assessment round; at most one is open."""

    __tablename__ = "rounds"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    target_children: Mapped[int] = mapped_column(Integer, default=30)
    target_residents: Mapped[int] = mapped_column(Integer, default=30)
    rubric: Mapped[str | None] = mapped_column(String(120))
    opens: Mapped[str | None] = mapped_column(String(10))
    closes: Mapped[str | None] = mapped_column(String(10))
    __table_args__ = (
        Index("uq_rounds_one_open", "status", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    )


class Milestone(Base):
    """A dated step of a round's season (plans, survey window, forum, dossiers...), copied from the calendar file."""

    __tablename__ = "milestones"
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    due: Mapped[str] = mapped_column(String(10))
    audience: Mapped[str] = mapped_column(String(40))
    remind_days: Mapped[list] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(10), default="task")
    done_on: Mapped[str | None] = mapped_column(String(10))


class Target(Base):
    """Respondents wanted in a commune for a group (and optionally an age band; '' for the whole group)."""

    __tablename__ = "targets"
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True)
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"), primary_key=True)
    group: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_band: Mapped[str] = mapped_column(String(10), primary_key=True, default="")
    target: Mapped[int] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("target > 0", name="positive"),)


class Respondent(Base):
    """A person's consent record and least profile, keyed by their pseudonym."""

    __tablename__ = "respondents"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    group: Mapped[str] = mapped_column(String(10))
    age_band: Mapped[str] = mapped_column(String(10))
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"))
    consent: Mapped[str] = mapped_column(String(40))
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_purpose: Mapped[str] = mapped_column(String(60))
    consent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lang: Mapped[str] = mapped_column(String(5), default="vi")


class Contact(Base):
    """How to reach a person: the only table that holds platform ids."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    polls: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # said yes to leaders' polls
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_choices: Mapped[list | None] = mapped_column(JSON)
    lang: Mapped[str | None] = mapped_column(String(5))
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)


class Session(Base):
    """Conversation state of one person, as the engine's dict, with what reminders need to find it."""

    __tablename__ = "sessions"
    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    commune: Mapped[str | None] = mapped_column(String(40))
    open_round: Mapped[str | None] = mapped_column(String(20))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_sessions_open_round", "open_round", "commune"),)


class Response(Base):
    """One survey response; no person key, so answers stay unlinkable; totals are fixed on submit."""

    __tablename__ = "responses"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"))
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"))
    group: Mapped[str] = mapped_column(String(10))
    age_band: Mapped[str] = mapped_column(String(10))
    version: Mapped[str] = mapped_column(String(20))
    submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    started_on: Mapped[str] = mapped_column(String(10))
    submitted_on: Mapped[str | None] = mapped_column(String(10))
    answers_scored: Mapped[int | None] = mapped_column(Integer)
    answers_satisfied: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(10), default="chat", server_default="chat")
    form_code: Mapped[str | None] = mapped_column(String(12), unique=True)
    __table_args__ = (Index("ix_responses_score", "round_id", "submitted", "commune", "group",
                            "answers_scored", "answers_satisfied"),
                      Index("ix_responses_paper", "round_id", "source", "submitted", "commune"))


class Participation(Base):
    """That a person (by a per-round token) submitted a round: one response per person per round."""

    __tablename__ = "participations"
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)


class Answer(Base):
    """One answer; `satisfied` is 1, 0, or NULL for unscored answers and comments."""

    __tablename__ = "answers"
    response_id: Mapped[str] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    question: Mapped[str] = mapped_column(String(40), primary_key=True)
    option: Mapped[str | None] = mapped_column(String(40))
    satisfied: Mapped[int | None] = mapped_column(SmallInteger)
    text: Mapped[str | None] = mapped_column(Text)


class CriterionPoints(Base):
    """Points the office entered for criteria 1-12 of a commune in a round (13 comes from the survey)."""

    __tablename__ = "criteria_points"
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"), primary_key=True)
    criterion: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    points: Mapped[float | None] = mapped_column(Float)


class RoleGrant(Base):
    """A role a person holds: official (all communes), or leader, officer or `agency:<id>` of one commune."""

    __tablename__ = "roles"
    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    commune: Mapped[str] = mapped_column(String(40), primary_key=True, default="")
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Invite(Base):
    """A one-time, expiring invite to a role; the code carries its id and a signature."""

    __tablename__ = "invites"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    role: Mapped[str] = mapped_column(String(40))
    commune: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProcessedUpdate(Base):
    """Update keys already handled, so a redelivered update is processed once."""

    __tablename__ = "processed_updates"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Consent(Base):
    """Consent for a purpose other than the survey (e.g. the children's forum), recorded before use."""

    __tablename__ = "consents"
    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40), primary_key=True)
    given_by: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Proposal(Base):
    """A child's proposal to the children's forum; leaders never see `author`."""

    __tablename__ = "proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(20), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    round_id: Mapped[str | None] = mapped_column(String(20))
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"))
    topic: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    publish: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str | None] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="received")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # never published
    merged_into: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_answer_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(10), default="chat", server_default="chat")
    forum_id: Mapped[int | None] = mapped_column(ForeignKey("forums.id"))
    overdue_step: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")  # 1 leader, 2 officials
    __table_args__ = (UniqueConstraint("year", "seq"), Index("ix_proposals_commune_status", "commune", "status"))


class ProposalEvent(Base):
    """One step in a proposal's life, with time and the actor's role (never the actor's identity)."""

    __tablename__ = "proposal_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(12))
    detail: Mapped[str | None] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(String(30))  # the agency that acted (actor "agency")


class Alert(Base):
    """Free text that signals abuse or danger, flagged to the commune's leader and the officials."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(12))
    commune: Mapped[str | None] = mapped_column(ForeignKey("communes.code"))  # None: the person has no commune yet
    categories: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_by: Mapped[str | None] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12), default="open", server_default="open")  # open, acknowledged,
    acted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # false_alarm, handed_on
    escalated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AlertEvent(Base):
    """One action on an alert, with time and the actor's role (never the actor's identity)."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(12))
    detail: Mapped[str | None] = mapped_column(Text)


class Outbox(Base):
    """A proactive message waiting to be sent; the key makes enqueueing idempotent."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str | None] = mapped_column(String(20))  # an answer goes to the chat it came from, contact or not
    chat_id: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(12))
    payload: Mapped[dict] = mapped_column(JSON)
    batch: Mapped[str | None] = mapped_column(String(60), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_outbox_due", "status", "kind", "id"), Index("ix_outbox_sent_at", "sent_at"))


class Inbox(Base):
    """An update as received, stored before the platform is told it arrived, and processed from here in order."""

    __tablename__ = "inbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    person: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default="queued")  # queued, done, bad, failed, dropped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (  # what waits is indexed, not what is done (most rows are stored done: see migration 0015)
        Index("ix_inbox_queued", "id", sqlite_where=text("status = 'queued'"),
              postgresql_where=text("status = 'queued'")),
        Index("ix_inbox_person_queued", "person", "id", sqlite_where=text("status = 'queued'"),
              postgresql_where=text("status = 'queued'")),
        Index("ix_inbox_done_at", "done_at"))


class Lease(Base):
    """A named lease one process holds for a while: the one SQLite worker."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    owner: Mapped[str] = mapped_column(String(60))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Poll(Base):
    """A quick question a leader or official asks the children, residents or everyone of a commune."""

    __tablename__ = "polls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    commune: Mapped[str | None] = mapped_column(String(40))
    audience: Mapped[str] = mapped_column(String(10))
    question: Mapped[str] = mapped_column(String(300))
    options: Mapped[list] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Vote(Base):
    """One person's vote in a poll; the primary key allows one, which may change until the poll closes."""

    __tablename__ = "votes"
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    option: Mapped[int] = mapped_column(SmallInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_votes_poll_option", "poll_id", "option"),)


class OATokens(Base):
    """The Zalo OA access/refresh token pair, its expiry, the refresh lease and whether it needs re-authorising."""

    __tablename__ = "oa_tokens"
    app_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="ok")
    error: Mapped[str | None] = mapped_column(String(200))
    seed: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FormPrint(Base):
    """A run of printed paper questionnaires: the serials of its form codes are first .. first + count - 1."""

    __tablename__ = "form_prints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"))
    group: Mapped[str] = mapped_column(String(10))
    first: Mapped[int] = mapped_column(Integer, unique=True)
    count: Mapped[int] = mapped_column(Integer)
    printed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Forum(Base):
    """A children's forum held in a commune (Circular 29/2019): its report is due `report_due`."""

    __tablename__ = "forums"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"))
    held_on: Mapped[str] = mapped_column(String(10))
    children: Mapped[int] = mapped_column(Integer)
    topics: Mapped[list] = mapped_column(JSON)
    report_due: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_forums_commune_held", "commune", "held_on"),)


class WebSession(Base):
    """A one-time login link (`kind` link) or a browser session (`kind` session) of a member of staff.

    `id` is the SHA-256 of the token the person holds, so a copy of the table opens nothing.
    """

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    person: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
