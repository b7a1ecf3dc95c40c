"""The safety screen's compiled form kept in the data folder: the same screen, compiled again when anything changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.screen_cache import load_screen
from conversations.safety import SIGNALS, Screen

TEXTS = ["e bi ba danh", "em bị anh họ hiếp", "chết cười với nó", "nóng muốn chết", "em ko muốn sống nữa"]


def cached(folder: Path) -> list[Path]:
    """The compiled screens kept in a data folder."""
    return sorted((folder / "cache").glob("safety-*.json"))


def test_the_kept_screen_is_the_compiled_one_and_is_read_without_compiling(tmp_path: Path, monkeypatch) -> None:
    fresh = load_screen(tmp_path)
    assert len(cached(tmp_path)) == 1

    def no_compiling(*args: object, **kwargs: object) -> Screen:
        raise AssertionError("compiled although a compiled form was kept")

    monkeypatch.setattr(Screen, "from_document", no_compiling)
    again = load_screen(tmp_path)
    assert (again.patterns, again.negatives, again.order) == (fresh.patterns, fresh.negatives, fresh.order)
    assert again.speller.expand == fresh.speller.expand and again.scorer is not None
    assert [again.check(t) for t in TEXTS] == [fresh.check(t) for t in TEXTS]
    assert again.categories("e bi ba danh") == ("violence",)


def test_an_edited_signal_file_is_compiled_again_and_replaces_the_old_form(tmp_path: Path) -> None:
    signals = tmp_path / "signals.toml"
    shutil.copyfile(SIGNALS, signals)
    load_screen(tmp_path / "data", signals)
    first = cached(tmp_path / "data")
    signals.write_text(SIGNALS.read_text(encoding="utf-8") + "\n# an officer's edit\n", encoding="utf-8")
    load_screen(tmp_path / "data", signals)
    second = cached(tmp_path / "data")
    assert len(first) == len(second) == 1 and first != second


def test_a_damaged_kept_form_is_compiled_again(tmp_path: Path) -> None:
    load_screen(tmp_path)
    (kept,) = cached(tmp_path)
    kept.write_text('{"patterns": [', encoding="utf-8")
    screen = load_screen(tmp_path)
    assert screen.categories("em bị anh họ hiếp") == ("sexual_abuse",)
    assert kept.read_text(encoding="utf-8").startswith('{"expand"')


def test_a_folder_that_cannot_keep_it_still_gets_a_screen(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder", encoding="utf-8")
    screen = load_screen(blocked)
    assert screen.categories("e bi ba danh") == ("violence",)
    assert "compiled at every start" in caplog.text
