"""The safety screen compiled once per version of its signal file, kept in the data folder for the next start."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import conversations.safety
import conversations.signals
import conversations.spelling
from conversations.safety import SIGNALS, Screen
from conversations.safety_model import MODEL, Scorer

log = logging.getLogger(__name__)


def load_screen(folder: Path, signals: Path = SIGNALS, model: Path | None = MODEL) -> Screen:
    """The screen of `signals`, from the folder's cache when it was compiled from the same file and code."""
    try:
        cached = folder / "cache" / f"safety-{_version(signals)}.json"
    except OSError:
        return Screen.load(signals, model)  # which names the missing or unreadable file
    scorer = Scorer.load(model) if model else None
    try:
        return Screen.from_compiled(json.loads(cached.read_text(encoding="utf-8")), scorer)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not there yet, or unreadable: compiled below and written again
    screen = Screen.load(signals, None).with_scorer(scorer)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        for old in cached.parent.glob("safety-*.json"):
            old.unlink()
        partial = cached.with_suffix(f".{os.getpid()}.part")  # workers sharing the folder write their own
        partial.write_text(json.dumps(screen.compiled(), ensure_ascii=False), encoding="utf-8")
        partial.replace(cached)
    except OSError as exc:
        log.warning("safety screen: cannot keep its compiled form in %s (%s); it is compiled at every start",
                    cached.parent, exc)
    return screen


def _version(signals: Path) -> str:
    """A digest of the signal file and of the code that compiles it: a change to either compiles again."""
    digest = hashlib.sha256(signals.read_bytes())
    for module in (conversations.safety, conversations.signals, conversations.spelling):  # the form and its compiler
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:24]
