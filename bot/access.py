"""Who may do what, for which commune: every role check happens here."""

from __future__ import annotations

from dataclasses import dataclass

EVERYONE = "everyone"
LEADER = "leader"
OFFICER = "officer"  # the commune's child-protection officer (cán bộ bảo vệ trẻ em)
OFFICIAL = "official"
ROLES = (EVERYONE, LEADER, OFFICER, OFFICIAL)


@dataclass(frozen=True, slots=True)
class Person:
    """A person's powers: official everywhere, leader or child-protection officer of some communes, or none."""

    key: str
    official: bool = False
    leads: frozenset[str] = frozenset()
    protects: frozenset[str] = frozenset()

    @classmethod
    def from_roles(cls, key: str, roles: list[tuple[str, str]], bootstrap: bool = False) -> Person:
        """Build from stored (role, commune) grants and the XTT_ADMINS bootstrap."""
        official = bootstrap or any(role == OFFICIAL for role, _ in roles)
        return cls(key, official, frozenset(c for role, c in roles if role == LEADER and c),
                   frozenset(c for role, c in roles if role == OFFICER and c))

    @property
    def staff(self) -> bool:
        """Whether the person holds any role."""
        return self.official or bool(self.leads or self.protects)

    @property
    def role(self) -> str:
        """The person's highest role, as recorded with what they do."""
        return OFFICIAL if self.official else LEADER if self.leads else OFFICER if self.protects else EVERYONE

    def communes(self, role: str) -> frozenset[str]:
        """The communes where the person holds a role (a leader also acts as officer of their commune)."""
        if role == LEADER:
            return self.leads
        if role == OFFICER:
            return self.leads | self.protects
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
