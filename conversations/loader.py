"""Load and validate flow files; every error names the file, the item and the fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conversations.datafile import DataFileError, read_toml
from conversations.model import GROUPS, TOPICS, Comment, Flows, Onboarding, Option, Questionnaire, Step, Text

FLOWS_DIR = Path(__file__).parent / "flows"
ID = re.compile(r"^[a-z0-9_]{1,40}$")
STEP_KEYS = {"id", "text", "options", "field", "when", "consent", "options_from", "topic", "short"}
FIELDS = {"group", "commune", "age_band", "polls"}


class FlowError(DataFileError):
    """A flow file is wrong; the message says where and how to fix it."""


class _Reader:
    """Validating accessors bound to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, item: str, problem: str, fix: str) -> FlowError:
        """Build an error for this file."""
        return FlowError(self.path, item, problem, fix)

    def ident(self, raw: Any, item: str) -> str:
        """Read an id."""
        if not isinstance(raw, str) or not ID.match(raw):
            raise self.fail(item, f"id {raw!r} is not valid", "use 1-40 characters of a-z, 0-9 and _")
        return raw

    def text(self, raw: Any, item: str, key: str = "text") -> Text:
        """Read a text with its Vietnamese and English versions."""
        if not isinstance(raw, dict) or not str(raw.get("vi", "")).strip():
            raise self.fail(item, f"{key}.vi is missing", f"add {key}.vi = \"...\" (Vietnamese comes first)")
        unknown = set(raw) - {"vi", "en"}
        if unknown:
            raise self.fail(item, f"{key} has unknown languages {sorted(unknown)}", "use only vi and en")
        return Text(vi=str(raw["vi"]).strip(), en=str(raw.get("en", "")).strip())

    def unique(self, ids: list[str], item: str) -> None:
        """Reject repeated ids."""
        seen = {i for i in ids if ids.count(i) > 1}
        if seen:
            raise self.fail(item, f"ids {sorted(seen)} are repeated", "give every entry its own id")


def _read(path: Path) -> dict[str, Any]:
    """Parse one flow file or fail with its name."""
    return read_toml(path, "flow file")


def load_onboarding(path: Path) -> Onboarding:
    """Load the onboarding flow."""
    r = _Reader(path)
    doc = _read(path)
    head = doc.get("flow", {})
    ends = {r.ident(k, f"ends.{k}"): r.text(v.get("text"), f"ends.{k}") for k, v in doc.get("ends", {}).items()}
    raw_steps = doc.get("steps", [])
    if not raw_steps:
        raise r.fail("steps", "there are no steps", "add [[steps]] tables")
    steps = []
    for n, raw in enumerate(raw_steps, 1):
        sid = r.ident(raw.get("id"), f"step {n}")
        item = f"step {sid!r}"
        unknown = set(raw) - STEP_KEYS
        if unknown:
            raise r.fail(item, f"unknown keys {sorted(unknown)}", f"use only {sorted(STEP_KEYS)}")
        options = tuple(_option(r, o, f"{item} option {i}", ends) for i, o in enumerate(raw.get("options", []), 1))
        r.unique([o.id for o in options], item)
        if bool(options) == bool(raw.get("options_from")):
            raise r.fail(item, "it needs either options or options_from", "add [[steps.options]] or options_from")
        if raw.get("options_from") not in (None, "communes"):
            raise r.fail(item, f"options_from {raw['options_from']!r} is unknown", "use options_from = \"communes\"")
        fld = raw.get("field")
        if fld is not None and fld not in FIELDS:
            raise r.fail(item, f"field {fld!r} is unknown", f"use one of {sorted(FIELDS)}")
        if raw.get("consent") not in (None, "self", "parent"):
            raise r.fail(item, f"consent {raw['consent']!r} is unknown", "use consent = \"self\" or \"parent\"")
        when = raw.get("when", {})
        if not isinstance(when, dict) or set(when) - FIELDS:
            raise r.fail(item, "when names an unknown field", f"use a table of {sorted(FIELDS)}")
        steps.append(Step(id=sid, text=r.text(raw.get("text"), item), options=options, field=fld,
                          when=tuple((k, str(v)) for k, v in when.items()), consent=raw.get("consent"),
                          options_from=raw.get("options_from")))
    r.unique([s.id for s in steps], "steps")
    for need in ("group", "commune", "age_band"):
        if not any(s.field == need for s in steps):
            raise r.fail("steps", f"no step collects {need!r}", f"add a step with field = \"{need}\"")
    if not head.get("version"):
        raise r.fail("flow", "version is missing", "add version = \"2024.1\" (the consent text version)")
    return Onboarding(version=str(head["version"]),
                      purpose=str(head.get("purpose", "criterion13_survey")), steps=tuple(steps), ends=ends)


def _option(r: _Reader, raw: dict[str, Any], item: str, ends: dict[str, Text]) -> Option:
    """Read an option of an onboarding step."""
    oid = r.ident(raw.get("id"), item)
    end = raw.get("end")
    if end is not None and end not in ends:
        raise r.fail(f"{item} ({oid})", f"end {end!r} has no text", f"add [ends.{end}] with text.vi")
    return Option(id=oid, label=r.text(raw.get("label"), f"{item} ({oid})", "label"),
                  value=str(raw.get("value", oid)), end=end)


def load_questionnaire(path: Path) -> Questionnaire:
    """Load and check one questionnaire."""
    r = _Reader(path)
    doc = _read(path)
    head = doc.get("questionnaire", {})
    group = head.get("id")
    if group not in GROUPS:
        raise r.fail("questionnaire.id", f"{group!r} is not a group", f"use one of {list(GROUPS)}")
    scale = []
    for i, raw in enumerate(doc.get("scale", []), 1):
        oid = r.ident(raw.get("id"), f"scale option {i}")
        scored = bool(raw.get("scored", True))
        if scored and not isinstance(raw.get("satisfied"), bool):
            raise r.fail(f"scale option {oid!r}", "satisfied is missing",
                         "add satisfied = true or false, or scored = false for 'không biết'")
        scale.append(Option(id=oid, label=r.text(raw.get("label"), f"scale option {oid!r}", "label"),
                            value=oid, satisfied=bool(raw.get("satisfied", False)) and scored, scored=scored))
    r.unique([o.id for o in scale], "scale")
    scored = [o for o in scale if o.scored]
    if not 4 <= len(scored) <= 5 or not any(o.satisfied for o in scored) or all(o.satisfied for o in scored):
        raise r.fail("scale", f"{len(scored)} scored options", "use a 4- or 5-step scale with both satisfied and not")
    items = []
    for n, raw in enumerate(doc.get("items", []), 1):
        iid = r.ident(raw.get("id"), f"item {n}")
        topic = raw.get("topic", "")
        if topic not in TOPICS:
            raise r.fail(f"item {iid!r}", f"topic {topic!r} is unknown", f"use one of {list(TOPICS)}")
        short = r.text(raw["short"], f"item {iid!r}", "short") if "short" in raw else None
        items.append(Step(id=iid, text=r.text(raw.get("text"), f"item {iid!r}"), options=tuple(scale),
                          topic=topic, short=short))
    if not 10 <= len(items) <= 15:
        raise r.fail("items", f"there are {len(items)} items", "keep between 10 and 15 items")
    r.unique([s.id for s in items], "items")
    comment = None
    if raw_c := doc.get("comment"):
        cid = r.ident(raw_c.get("id", "comment"), "comment")
        limit = raw_c.get("max_length", 500)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise r.fail("comment", f"max_length {limit!r} is out of range", "use a number from 1 to 1000")
        if cid in {s.id for s in items}:
            raise r.fail("comment", f"id {cid!r} is also an item id", "give the comment its own id")
        comment = Comment(id=cid, text=r.text(raw_c.get("text"), "comment"), max_length=limit)
    return Questionnaire(group=group, version=str(head.get("version", "1")),
                         title=r.text(head.get("title"), "questionnaire.title", "title"),
                         intro=r.text(head.get("intro"), "questionnaire.intro", "intro"),
                         scale=tuple(scale), items=tuple(items), comment=comment)


def load_flows(folder: Path = FLOWS_DIR) -> Flows:
    """Load the onboarding and both questionnaires from a folder."""
    questionnaires = {g: load_questionnaire(folder / f"{g}.toml") for g in GROUPS}
    for group, q in questionnaires.items():
        if q.group != group:
            raise FlowError(folder / f"{group}.toml", "questionnaire.id", f"it says {q.group!r}",
                            f"set id = \"{group}\"")
    return Flows(onboarding=load_onboarding(folder / "onboarding.toml"), questionnaires=questionnaires)
