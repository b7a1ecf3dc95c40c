"""Keyed hashes: pseudonyms, per-round participation tokens, invite codes and derived secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

INVITE = re.compile(r"^([a-z2-7]{8})-([a-z2-7]{12})$")


class Identity:
    """Everything derived from XTT_SECRET."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("XTT_SECRET is empty")
        self._key = secret.encode()
        self._people: dict[str, str] = {}  # pseudonyms lately asked for: every update asks twice (inbox, service)

    def _mac(self, message: str) -> str:
        """HMAC-SHA256 of a message, hex."""
        return hmac.digest(self._key, message.encode(), "sha256").hex()

    def pseudonym(self, channel: str, user_id: str) -> str:
        """A person's key: the same person on another channel is another key."""
        name = f"{channel}:{user_id}"
        person = self._people.get(name)
        if person is None:
            if len(self._people) >= 100_000:
                self._people.clear()
            person = self._people[name] = self._mac(name)
        return person

    def participation(self, round_id: str, person: str) -> str:
        """A per-round token that says 'answered' without naming the response."""
        return self._mac(f"participation:{round_id}:{person}")

    def derived(self, purpose: str) -> str:
        """A secret for another purpose, e.g. the Telegram webhook token."""
        return self._mac(f"derived:{purpose}")[:48]

    def invite_code(self) -> tuple[str, str]:
        """A new invite as (id, code); the code carries the id and its signature."""
        invite_id = base64.b32encode(secrets.token_bytes(5)).decode().lower()
        return invite_id, f"{invite_id}-{self._signature(invite_id)}"

    def invite_id(self, code: str) -> str | None:
        """The invite id of a code whose signature is right, else None."""
        match = INVITE.match(code.strip().lower())
        if not match:
            return None
        invite_id, signature = match.groups()
        return invite_id if hmac.compare_digest(signature, self._signature(invite_id)) else None

    def _signature(self, invite_id: str) -> str:
        """Twelve base32 characters of the invite's MAC."""
        digest = hmac.new(self._key, f"invite:{invite_id}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode().lower()[:12]


def looks_like_invite(text: str) -> bool:
    """Tell whether typed text has the shape of an invite code."""
    return bool(INVITE.match(text.strip().lower()))
