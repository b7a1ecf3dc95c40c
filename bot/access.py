"""Who may do what, for which commune: every role check happens here."""

from __future__ import annotations

from dataclasses import dataclass

EVERYONE = "everyone"
LEADER = "leader"
OFFICER = "officer"  # the commune's child-protection officer (cán bộ bảo vệ trẻ em)
OFFICIAL = "official"
AGENCY = "agency"  # an agency that answers proposals forwarded to it (school, health station, police…), stored
# as the role `agency:<id>` of one commune
ROLES = (EVERYONE, AGENCY, LEADER, OFFICER, OFFICIAL)


def agency_role(agency: str) -> str:
    """The stored role of an agency."""
    return f"{AGENCY}:{agency}"


@dataclass(frozen=True, slots=True)
class Person:
    """A person's powers: official everywhere, leader, child-protection officer or agency of some communes, or none.

    `answers` holds (commune, agency id) pairs: the agencies whose forwarded proposals the person answers.
    """

    key: str
    official: bool = False
    leads: frozenset[str] = frozenset()
    protects: frozenset[str] = frozenset()
    answers: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def from_roles(cls, key: str, roles: list[tuple[str, str]], bootstrap: bool = False) -> Person:
        """Build from stored (role, commune) grants and the XTT_ADMINS bootstrap."""
        official = bootstrap or any(role == OFFICIAL for role, _ in roles)
        agencies = frozenset((c, role.split(":", 1)[1]) for role, c in roles if role.startswith(f"{AGENCY}:") and c)
        return cls(key, official, frozenset(c for role, c in roles if role == LEADER and c),
                   frozenset(c for role, c in roles if role == OFFICER and c), agencies)

    def joined(self, other: Person) -> Person:
        """The powers of both."""
        return Person(self.key, self.official or other.official, self.leads | other.leads,
                      self.protects | other.protects, self.answers | other.answers)

    @property
    def staff(self) -> bool:
        """Whether the person holds any role."""
        return self.official or bool(self.leads or self.protects or self.answers)

    @property
    def role(self) -> str:
        """The person's highest role, as recorded with what they do."""
        return (OFFICIAL if self.official else LEADER if self.leads else OFFICER if self.protects
                else AGENCY if self.answers else EVERYONE)

    def communes(self, role: str) -> frozenset[str]:
        """The communes where the person holds a role (a leader also acts as officer of their commune)."""
        if role == LEADER:
            return self.leads
        if role == OFFICER:
            return self.leads | self.protects
        if role == AGENCY:
            return frozenset(c for c, _ in self.answers)
        return frozenset()


def permits(person: Person, role: str) -> bool:
    """Whether a person holds a role (officials hold every role)."""
    return role == EVERYONE or person.official or (role != OFFICIAL and bool(person.communes(role)))


def check(person: Person, role: str, commune: str | None = None) -> str | None:
    """Return None when allowed, else the catalogue key of the polite refusal."""
    if role == EVERYONE or person.official:
        return None
    if role == OFFICIAL or not person.communes(role):
        return "access.denied"
    if commune is not None and commune not in person.communes(role):
        return "access.other_commune"
    return None


def scope(person: Person, commune: str | None, role: str = LEADER) -> tuple[str, ...] | None:
    """The communes a command may cover: None means all (officials)."""
    if person.official:
        return (commune,) if commune else None
    return (commune,) if commune else tuple(sorted(person.communes(role)))
