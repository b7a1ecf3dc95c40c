"""`xtt demo` in an empty folder: its own database and secret, the season through the real service, every output."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def test_demo_builds_a_season_and_its_reports_in_its_own_folder(xtt, tmp_path: Path) -> None:
    code, out, err = xtt("demo", "--respondents", "60", "--out", "season")
    folder = tmp_path / "season"
    assert code == 0 and "60/64" in err and "64/64" in err, "a progress line per person, then the reports"
    listed = [Path(line) for line in out.splitlines() if line.startswith("season/")]
    expected = {"diem.json", "so-sanh-xa.png", "theo-chu-de.png", "tien-do.png", "summary.md", "lich.txt",
                "tom-tat.txt"}
    assert expected <= {p.name for p in listed} and all((tmp_path / p).is_file() for p in listed)
    assert {p.suffix for p in listed} >= {".png", ".xlsx", ".md", ".json", ".txt"}
    assert (folder / "secret.key").is_file() and not (tmp_path / "data").exists(), "never the user's data folder"
    doc = json.loads((folder / "diem.json").read_text(encoding="utf-8"))
    assert len(doc["communes"]) == 13 and all({"assessable", "near_threshold"} <= set(c) for c in doc["communes"])
    assert sum(c["children"]["n"] + c["residents"]["n"] for c in doc["communes"]) > 40
    assert any(not c["assessable"] for c in doc["communes"]), "some communes fall short of their targets"
    with sqlite3.connect(folder / "xtt.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM responses WHERE submitted").fetchone()[0] > 40
        assert conn.execute("SELECT count(*) FROM targets").fetchone()[0] == 26
    assert "Đạt:" in (folder / "cong-nhan" / "tom-tat.txt").read_text(encoding="utf-8")
    assert xtt("demo", "--respondents", "20", "--out", "season")[0] == 0, "an earlier demo's folder is replaced"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me", encoding="utf-8")
    code, _, err = xtt("demo", "--out", "mine")
    assert code == 2 and err.startswith("xtt: mine is not empty and was not made by xtt demo")
    assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "keep me"
