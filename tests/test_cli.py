"""The `xtt` command line, run in-process on a temporary data folder: clear messages, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conversations.loader import FLOWS_DIR


def test_rounds(xtt) -> None:
    assert "no rounds yet" in xtt("round", "list")[1]
    assert xtt("round", "open", "2024")[0] == 0
    code, _, err = xtt("round", "open", "2025")
    assert code == 2 and "round 2024 is open; close it first" in err
    assert xtt("round", "open", "bad id!")[0] == 2
    assert xtt("round", "close", "2024")[0] == 0
    assert "already closed" in xtt("round", "close", "2024")[2]
    assert "2024       closed" in xtt("round", "list")[1]


def test_secret_is_generated_once(xtt, tmp_path: Path) -> None:
    xtt("round", "list")
    secret = (tmp_path / "data" / "secret.key").read_text()
    xtt("round", "list")
    assert len(secret) == 64 and (tmp_path / "data" / "secret.key").read_text() == secret
    assert oct((tmp_path / "data" / "secret.key").stat().st_mode)[-3:] == "600"


def test_communes_import_xlsx_and_bad_files(xtt, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Code", "Name", "Type"])
    sheet.append(["phuong-1", "Phường 1", "ward"])
    sheet.append(["xa-nui", "Xã Núi", "disadvantaged"])
    book.save(tmp_path / "units.xlsx")
    code, out, _ = xtt("communes", "import", str(tmp_path / "units.xlsx"))
    assert code == 0 and "imported 2 communes" in out
    listing = xtt("communes", "list")[1]
    assert "phuong-1" in listing and "Phường 1" in listing and len(listing.splitlines()) == 15
    (tmp_path / "bad.csv").write_text("code,name,type\nok,Xã A,standard\nbad,Xã B,city\n", encoding="utf-8")
    code, _, err = xtt("communes", "import", str(tmp_path / "bad.csv"))
    assert code == 2 and "bad.csv: row 3: type 'city' is unknown" in err
    assert "missing.csv not found" in xtt("communes", "import", "missing.csv")[2]
    (tmp_path / "empty.csv").write_text("name\n", encoding="utf-8")
    assert "header lacks ['code', 'type']" in xtt("communes", "import", str(tmp_path / "empty.csv"))[2]


def test_score_on_an_empty_round_and_bad_arguments(xtt) -> None:
    assert "no rounds yet" in xtt("score")[2]
    xtt("round", "open", "2024")
    code, out, _ = xtt("score", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["round"] == "2024" and len(doc["communes"]) == 13
    empty = {"n": 0, "answers": 0, "satisfied": 0, "index": None, "ci95": None, "short": True}
    assert all(c["children"] == empty and c["points"] is None and not c["zero"] for c in doc["communes"])
    assert doc["rubric"] == "Thang điểm mặc định xtt (tạm thời)"
    assert "Xã Mỹ An" in xtt("score")[1]
    assert "no round '1999'" in xtt("score", "--round", "1999")[2]
    assert "unknown commune 'nowhere'" in xtt("score", "--commune", "nowhere")[2]


def test_invites(xtt) -> None:
    assert "needs --commune" in xtt("invite", "leader")[2]
    code, out, _ = xtt("invite", "leader", "--commune", "my-an")
    invite = out.split()[2]
    assert code == 0 and len(invite) == 21 and f"?start={invite}" in out
    assert " open " in xtt("invite", "list")[1]
    assert xtt("invite", "revoke", invite)[0] == 0
    assert " revoked " in xtt("invite", "list")[1]
    assert xtt("invite", "revoke", invite)[0] == 1


def test_a_broken_flow_file_stops_start_up(xtt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, flows)
    child = flows / "child.toml"
    child.write_text(child.read_text(encoding="utf-8").replace('topic = "play"', 'topic = "games"'), encoding="utf-8")
    monkeypatch.setenv("XTT_FLOWS_DIR", str(flows))
    code, _, err = xtt("run")
    assert code == 2 and "child.toml: item 'play': topic 'games' is unknown" in err and "Fix:" in err


def test_console_chat_finishes_a_survey(xtt) -> None:
    answers = ["1", "1", "bố mẹ em đã đồng ý", "2", "1", *["2"] * 10, "rat hai long", "5", "Em thích sân chơi mới", "1"]
    code, out, err = xtt("chat", "--as", "child", "--commune", "my-an", stdin="\n".join(answers) + "\n")
    assert code == 0 and "First run: opened survey round" in err
    assert "Câu 12/12" in out and "Cảm ơn em đã hoàn thành" in out
    doc = json.loads(xtt("score", "--json", "--commune", "my-an")[1])
    children = doc["communes"][0]["children"]
    assert (children["n"], children["answers"], children["satisfied"], children["index"]) == (1, 11, 11, 1.0)


def test_report_on_an_empty_round_writes_every_file_with_progress(xtt, tmp_path: Path) -> None:
    xtt("round", "open", "2024")
    code, out, err = xtt("report", "--out", str(tmp_path / "out"))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert code == 0
    assert names == ["ket-qua-2024.xlsx", "so-sanh-xa.png", "summary.md", "theo-chu-de.png", "tien-do.png"]
    assert "6/6" in err and "summary.md" in out


def test_assess_from_template_to_recognition_table(xtt, tmp_path: Path) -> None:
    xtt("round", "open", "2024")
    assert "no points for criteria 1-12" in xtt("assess")[2]
    assert "missing.csv" in xtt("assess", "--criteria", str(tmp_path / "missing.csv"))[2]
    template = tmp_path / "diem.csv"
    assert xtt("assess", "--template", str(template))[0] == 0
    lines = template.read_text(encoding="utf-8-sig").splitlines()
    filled = [lines[0], lines[1]] + [row.rstrip(",") + ",90" + ",70" * 4 + ",120,45" + ",70" * 5 for row in lines[2:]]
    template.write_text("\n".join(filled) + "\n", encoding="utf-8-sig")
    code, out, err = xtt("assess", "--criteria", str(template), "--out", str(tmp_path / "out"))
    assert err == ""
    assert code == 0 and "cong-nhan-2024.xlsx" in out and (tmp_path / "out" / "cong-nhan-2024.png").exists()
    assert "13" in out and "tiêu chí 13" in out.lower()
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + "\nmy-an,Xã Mỹ An,standard,abc\n", encoding="utf-8")
    code, _, err = xtt("assess", "--criteria", str(bad))
    assert code == 2 and "bad.csv" in err and "abc" in err


def test_operator_mistakes_get_one_line_and_no_traceback(xtt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = "code,name,type\nmy-an,Xã Mỹ An,standard\n"
    (tmp_path / "w1258.csv").write_bytes(table.encode("cp1258", errors="strict")
                                         if _encodable(table) else _cp1258(table))
    (tmp_path / "utf16.csv").write_bytes(table.encode("utf-16"))
    (tmp_path / "fake.xlsx").write_text(table, encoding="utf-8")
    for name in ("w1258.csv", "utf16.csv"):
        code, out, err = xtt("communes", "import", name)
        assert code == 0 and "imported 1" in out, (name, err)
        listed = xtt("communes", "list")[1]
        assert "Xã Mỹ An" in listed, f"{name}: the Vietnamese name survives its encoding"
    code, _, err = xtt("communes", "import", "fake.xlsx")
    assert code == 2 and "not an Excel workbook" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere")
    code, _, err = xtt("score")
    assert code == 2 and err.startswith("xtt: cannot open the database PostgreSQL 127.0.0.1:1/nowhere")


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "XTT_DATA_DIR": str(tmp_path)}
    reader, writer = os.pipe()
    os.close(reader)  # like `| head` once it has read enough: every write fails with a broken pipe
    try:
        done = subprocess.run([sys.executable, "-m", "bot", "communes", "list"], cwd=tmp_path, env=env,
                              stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(writer)
    assert done.returncode == 0 and "Traceback" not in done.stderr and "Broken pipe" not in done.stderr


def _encodable(text: str) -> bool:
    """Whether Python's cp1258 codec takes the text as composed characters."""
    try:
        text.encode("cp1258")
    except UnicodeEncodeError:
        return False
    return True


def _cp1258(text: str) -> bytes:
    """Text as Vietnamese Windows saves it: base letters and combining tone marks."""
    import unicodedata

    return unicodedata.normalize("NFD", text).encode("cp1258")
