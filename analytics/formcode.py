"""Form codes of paper questionnaires: a scrambled serial in an unambiguous alphabet, with a check character."""

from __future__ import annotations

import re

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: nothing to misread on a handwritten copy
BASE = len(ALPHABET)
BODY = 6
SPACE = BASE**BODY  # about 887 million serials
SCRAMBLE = 48_271  # coprime with SPACE (BASE is prime and does not divide it), so serials map one to one
UNSCRAMBLE = pow(SCRAMBLE, -1, SPACE)
OFFSET = 123_456_789 % SPACE
LENGTH = BODY + 1
_CLEAN = re.compile(r"[\s\-.]")


class FormCodeError(ValueError):
    """A form code is not one xtt made; the message says why in Vietnamese."""


def _check(body: str) -> str:
    """The check character: weights 1..6 modulo the prime 31 catch any single wrong character or swapped pair."""
    total = sum(weight * ALPHABET.index(char) for weight, char in enumerate(body, 1))
    return ALPHABET[-total % BASE]


def encode(serial: int) -> str:
    """The 7-character code of a serial number; distinct serials give distinct codes."""
    if not 0 <= serial < SPACE:
        raise ValueError(f"serial {serial} is outside 0..{SPACE - 1}")
    value, chars = (serial * SCRAMBLE + OFFSET) % SPACE, []
    for _ in range(BODY):
        value, rest = divmod(value, BASE)
        chars.append(ALPHABET[rest])
    body = "".join(reversed(chars))
    return body + _check(body)


def normalise(text: str) -> str:
    """A code as typed (any case, with spaces or dashes) in its canonical form."""
    return _CLEAN.sub("", str(text)).upper()


def decode(text: str) -> int:
    """The serial number of a code; FormCodeError when it is malformed or its check character is wrong."""
    code = normalise(text)
    if len(code) != LENGTH:
        raise FormCodeError(f"mã phiếu phải có {LENGTH} ký tự (đang có {len(code)})")
    wrong = sorted({c for c in code if c not in ALPHABET})
    if wrong:
        raise FormCodeError(f"mã phiếu có ký tự không dùng: {''.join(wrong)}")
    body = code[:BODY]
    if _check(body) != code[BODY]:
        raise FormCodeError("mã phiếu sai ký tự kiểm tra — xem lại từng ký tự trên phiếu")
    value = 0
    for char in body:
        value = value * BASE + ALPHABET.index(char)
    return (value - OFFSET) * UNSCRAMBLE % SPACE


def printed(code: str) -> str:
    """A code as printed on the sheet: two halves for easy copying, e.g. 'K7QX-M3B'."""
    return f"{code[:4]}-{code[4:]}"
