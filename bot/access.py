"""Who may run which command, for which commune: every check happens here."""

from __future__ import annotations

from dataclasses import dataclass

OFFICIAL = "official"
LEADER = "leader"

# command -> the least role it needs; leaders are limited to their commune, officials see all.
RULES: dict[str, str] = {
    "score": LEADER, "progress": LEADER, "poll": LEADER, "proposals": LEADER, "remind": LEADER,
    "report": OFFICIAL, "assess": OFFICIAL, "invite": OFFICIAL, "round": OFFICIAL,
}


@dataclass(frozen=True, slots=True)
class Person:
    """A person's powers: official everywhere, leader of some communes, or neither."""

    key: str
    official: bool = False
    leads: frozenset[str] = frozenset()

    @classmethod
    def from_roles(cls, key: str, roles: list[tuple[str, str]], bootstrap: bool = False) -> Person:
        """Build from stored (role, commune) grants and the XTT_ADMINS bootstrap."""
        official = bootstrap or any(role == OFFICIAL for role, _ in roles)
        return cls(key, official, frozenset(c for role, c in roles if role == LEADER and c))


def check(person: Person, command: str, commune: str | None = None) -> str | None:
    """Return None when allowed, else the catalogue key of the polite refusal."""
    need = RULES.get(command)
    if need is None or person.official:
        return None
    if need == OFFICIAL or not person.leads:
        return "access.denied"
    if commune is not None and commune not in person.leads:
        return "access.other_commune"
    return None


def scope(person: Person, commune: str | None) -> tuple[str, ...] | None:
    """The communes a command may cover: None means all (officials)."""
    if person.official:
        return (commune,) if commune else None
    return (commune,) if commune else tuple(sorted(person.leads))
