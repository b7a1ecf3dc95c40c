"""Flow files with mistakes stop start-up with a message naming the file, the item and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conversations import FlowError, load_flows
from conversations.catalogue import Catalogue
from conversations.datafile import DataFileError
from conversations.loader import FLOWS_DIR


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    """A writable copy of the shipped flows."""
    shutil.copytree(FLOWS_DIR, tmp_path / "flows")
    return tmp_path / "flows"


def edit(path: Path, old: str, new: str) -> None:
    """Replace text once in a flow file."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_flows_load() -> None:
    flows = load_flows()
    for q in flows.questionnaires.values():
        assert 10 <= len(q.items) <= 15
        assert {o.id: (o.scored, o.satisfied) for o in q.scale}["dont_know"] == (False, False)
        assert q.comment is not None and q.comment.max_length == 500
        assert len({i.topic for i in q.items}) == 9


@pytest.mark.parametrize(("file", "old", "new", "expected"), [
    ("child.toml", 'id = "safe_school"', 'id = "safe_home"', r"child.toml: items: ids \['safe_home'\] are repeated"),
    ("child.toml", 'topic = "school"', 'topic = "homework"',
     r"child.toml: item 'school': topic 'homework' is unknown"),
    ("child.toml", 'id = "safe_road"', 'id = "Safe Road"', r"child.toml: item 3: id 'Safe Road' is not valid. Fix"),
    ("resident.toml", "satisfied = true\n", "\n",
     r"resident.toml: scale option 'very_satisfied': satisfied is missing"),
    ("child.toml", "max_length = 500", "max_length = 0", r"child.toml: comment: max_length 0 is out of range"),
    ("onboarding.toml", 'end = "declined"', 'end = "gone"', r"onboarding.toml: step 'intro' option 2 \(no\): end"),
    ("onboarding.toml", 'field = "commune"', 'field = "school"', r"onboarding.toml: step 'commune': field 'school'"),
    ("onboarding.toml", 'id = "intro"', 'id = "intro"\ncolour = "red"', r"step 'intro': unknown keys \['colour'\]"),
    ("child.toml", '[questionnaire]', '[questionnaire\n', r"child.toml: file: it is not valid TOML .*line 6"),
    ("child.toml", 'id = "child"', 'id = "resident"', r"child.toml: questionnaire.id: it says 'resident'"),
])
def test_mistakes_name_file_item_and_fix(flows: Path, file: str, old: str, new: str, expected: str) -> None:
    edit(flows / file, old, new)
    with pytest.raises(DataFileError, match=expected) as caught:
        load_flows(flows)
    assert "Fix:" in str(caught.value)


def test_too_few_items(flows: Path) -> None:
    text = (flows / "child.toml").read_text(encoding="utf-8")
    head, *items = text.split("[[items]]")
    (flows / "child.toml").write_text("[[items]]".join([head, *items[:3]]), encoding="utf-8")
    with pytest.raises(FlowError, match=r"child.toml: items: there are 3 items\. Fix: keep between 10 and 15"):
        load_flows(flows)


def test_missing_file(flows: Path) -> None:
    (flows / "resident.toml").unlink()
    with pytest.raises(DataFileError, match=r"resident\.toml: file: flow file not found"):
        load_flows(flows)


def test_catalogue_languages_share_keys() -> None:
    texts = Catalogue.load()
    assert set(texts.texts["vi"]) == set(texts.texts["en"])
    assert texts.get("vi", "progress", n=3, total=12) == "Câu 3/12"
