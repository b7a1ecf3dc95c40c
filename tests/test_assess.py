"""The 13-criteria recognition table: criteria file, the office's sheet, the verdict and its outputs."""

from __future__ import annotations

import csv
import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from analytics.assess import (
    DEFAULT,
    AssessError,
    assess,
    assessment_chart,
    assessment_workbook,
    load_criteria,
    summary_lines,
)
from analytics.points_sheet import read_points, template
from analytics.rubric import load as load_rubric
from analytics.score import CommuneScore, score
from analytics.stats import Sums

CRITERIA = load_criteria()
RUBRIC = load_rubric()
MAXIMA = CRITERIA.maxima(RUBRIC)
INDEX_FOR = {50: 0.95, 40: 0.85, 30: 0.75, 20: 0.65, 10: 0.55, 0: 0.30}
COMMUNES = [("my-an", "Xã Mỹ An", "standard"), ("my-hoa", "Xã Mỹ Hòa", "ward"),
            ("phu-dien", "Xã Phú Điền", "disadvantaged")]
CODES = {code for code, _, _ in COMMUNES}
HEADER = ["code", "name", "type", *(f"c{n}" for n in range(1, 13))]


def survey(code: str, points: float | None, n: int = 30, kind: str = "standard") -> CommuneScore:
    """A criterion-13 score built the real way, from sums whose index earns the wanted points."""
    sums = {}
    if points is not None:
        answers = 10 * n
        group = Sums(n=n, y=round(INDEX_FOR[int(points)] * answers), m=answers)
        sums = {"child": group, "resident": group}
    result = score(code, code, kind, sums, (30, 30), RUBRIC)
    assert result.points == points
    return result


def entered(*values: float | None) -> dict[int, float | None]:
    """Points of criteria 1-12 in order."""
    assert len(values) == 12
    return dict(enumerate(values, 1))


FULL = (100, 70, 75, 60, 72.5, 120, 50, 65, 75, 70, 75, 68)  # 900.5; with 40 for criterion 13: 940.5


# --- the criteria file ---------------------------------------------------------------------------------------------

def test_shipped_criteria() -> None:
    assert [c.number for c in CRITERIA.items] == list(range(1, 14))
    assert (CRITERIA.maximum(1), CRITERIA.maximum(6), CRITERIA.maximum(7)) == (100, 125, 50)
    assert CRITERIA.items[12].max_points is None and CRITERIA.maximum(13, RUBRIC) == RUBRIC.max_points
    assert sum(MAXIMA) == 1000
    assert {t.type: t.points for t in CRITERIA.thresholds} == {"ward": 900, "standard": 850, "disadvantaged": 800}
    assert "CHƯA PHẢI" in CRITERIA.note
    assert "TO BE CONFIRMED BY THE OFFICE" in DEFAULT.read_text(encoding="utf-8")
    with pytest.raises(AssessError, match="from the rubric"):
        CRITERIA.maximum(13)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("[[criteria]]\nnumber = 5\nname = \"Tai nạn thương tích, đuối nước trẻ em\"\nmax_points = 75\n", "",
     r"criteria \[5\] are missing"),
    ("# no max_points: it comes", "max_points = 50\n# it comes", "criterion 13: remove max_points"),
    ("number = 2\nname = \"Đăng ký khai sinh cho trẻ em\"\nmax_points = 75",
     "number = 2\nname = \"Đăng ký khai sinh cho trẻ em\"\nmax_points = \"75\"", "criterion 2: max_points must be"),
    ("number = 3\n", "number = 2\n", "criterion 2 appears twice"),
    ("number = 4\n", "number = 14\n", "criteria entry 4: number must be a whole number from 1 to 13"),
    ("number = 4\n", "number = 4\ncolour = \"red\"\n", r"unknown keys \['colour'\]"),
    ("[thresholds.ward]\npoints = 900", "[thresholds.city]\npoints = 900", r"thresholds \['city'\] are unknown"),
    ("[thresholds.standard]\npoints = 850", "[thresholds.standard]\npoints = -1", "thresholds.standard.points"),
    ("label = \"Xã miền núi, hải đảo, ĐBKK\"", "label = \"\"", "thresholds.disadvantaged: label and description"),
    ("name = \"Bộ tiêu chí", "name = [\"Bộ tiêu chí", "not valid TOML"),
])
def test_criteria_mistakes_name_file_and_entry(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = DEFAULT.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "criteria.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(AssessError, match=expected) as caught:
        load_criteria(path)
    assert str(caught.value).startswith("criteria.toml")


def test_criteria_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(AssessError, match="criteria file not found"):
        load_criteria(tmp_path / "nowhere.toml")


# --- the template and reading it back -----------------------------------------------------------------------------

def test_csv_template_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "diem.csv"
    template(COMMUNES, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    assert rows[1][0].startswith("#") and rows[1][3] == "TC1: Nguồn lực thực hiện quyền trẻ em (tối đa 100)"
    assert [tuple(r[:3]) for r in rows[2:]] == COMMUNES and all(r[3:] == [""] * 12 for r in rows[2:])
    rows[2][3:] = ["100", "75", "7,5", "", "0", "125", "50", "60.5", "75", "75", "75", "75"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    points = read_points(path, CRITERIA, CODES)
    assert points["my-an"] == entered(100, 75, 7.5, None, 0, 125, 50, 60.5, 75, 75, 75, 75)
    assert points["my-hoa"] == entered(*[None] * 12)
    assert set(points) == CODES


def test_xlsx_template_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "diem.xlsx"
    template(COMMUNES, path)
    book = load_workbook(path)
    assert book.sheetnames == ["Điểm", "Hướng dẫn"]
    sheet = book["Điểm"]
    assert [c.value for c in sheet[1]] == HEADER
    assert str(sheet["A2"].value).startswith("#") and "tối đa 125" in str(sheet["I2"].value)
    assert [(sheet.cell(r, 1).value, sheet.cell(r, 2).value, sheet.cell(r, 3).value) for r in (3, 4, 5)] == COMMUNES
    guide = "\n".join(str(c) for row in book["Hướng dẫn"].iter_rows(values_only=True) for c in row if c)
    assert "CHƯA PHẢI" in guide and "Quyền tham gia của trẻ em" in guide
    for column, value in zip(range(4, 16), (90, 70, "62,5", 60, 65, 100, 45, 60, 70, 70, 70, 60), strict=True):
        sheet.cell(4, column, value)
    book.save(path)
    points = read_points(path, CRITERIA, CODES)
    assert points["my-hoa"] == entered(90, 70, 62.5, 60, 65, 100, 45, 60, 70, 70, 70, 60)
    assert points["my-an"] == entered(*[None] * 12)


def test_semicolon_csv_from_vietnamese_excel(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text(";".join(HEADER) + "\nmy-an;Xã Mỹ An;standard;99,5;;;;;;;;;;;1\n", encoding="utf-8-sig")
    assert read_points(path, CRITERIA, CODES)["my-an"] == entered(99.5, *[None] * 10, 1)


def test_template_needs_csv_or_xlsx(tmp_path: Path) -> None:
    with pytest.raises(AssessError, match=r"diem.ods: the template must end in .csv or .xlsx"):
        template(COMMUNES, tmp_path / "diem.ods")


def sheet_text(*rows: str) -> str:
    """A CSV with the machine header and the given rows."""
    return "\n".join([",".join(HEADER), *rows]) + "\n"


BLANKS = "," * 11
CSV_MISTAKES = [
    (sheet_text(f"my-an,Xã Mỹ An,standard,100{BLANKS}", f"xyz,Xã Lạ,standard,100{BLANKS}"),
     ["dòng 3, cột code (ô A3)", "'xyz'", "không có trong danh sách xã", "xtt communes import"]),
    (sheet_text(f"my-an,Xã Mỹ An,standard,,,,abc{',' * 8}"),
     ["dòng 2, cột c4 (ô G2, tiêu chí 4)", "'abc' không phải là số", "từ 0 đến 75"]),
    (sheet_text(f"my-an,Xã Mỹ An,standard,-5{BLANKS}"), ["cột c1", "điểm âm (-5)", "từ 0 đến 100"]),
    (sheet_text(f"my-an,Xã Mỹ An,standard,,,,,,126{',' * 6}"), ["cột c6", "126 vượt điểm tối đa 125"]),
    (sheet_text(f"my-an,Xã Mỹ An,standard,nan{BLANKS}"), ["cột c1", "không phải là số"]),
    ("code,name,type,c1,c2\nmy-an,Xã Mỹ An,standard,1,2\n", ["thiếu cột c3, c4", "dòng đầu tiên phải là code,name"]),
    (sheet_text(f"my-an,Xã Mỹ An,standard{BLANKS},", f"my-an,Xã Mỹ An,standard{BLANKS},"),
     ["dòng 3, cột code", "xuất hiện hai lần"]),
    (sheet_text(f",Xã Mỹ An,standard,1{BLANKS}"), ["dòng 2, cột code", "mã xã trống"]),
    ("", ["tệp trống"]),
]


@pytest.mark.parametrize(("content", "expected"), CSV_MISTAKES)
def test_sheet_mistakes_name_file_row_column_and_fix(tmp_path: Path, content: str, expected: list[str]) -> None:
    path = tmp_path / "diem.csv"
    path.write_text(content, encoding="utf-8-sig")
    with pytest.raises(AssessError) as caught:
        read_points(path, CRITERIA, CODES)
    message = str(caught.value)
    assert message.startswith("diem.csv: ") and "Cách sửa" in message
    for part in expected:
        assert part in message


def test_sheet_not_found_not_utf8_old_excel_and_damaged(tmp_path: Path) -> None:
    cases = {tmp_path / "missing.csv": None, tmp_path / "ansi.csv": b"code,name\nmy-an,X\xe3 M\xfd An\n",
             tmp_path / "old.xls": b"\xd0\xcf\x11\xe0", tmp_path / "broken.xlsx": b"not a zip file"}
    expected = ["không tìm thấy tệp", "không phải UTF-8", "định dạng .xls cũ", "không mở được tệp Excel"]
    for (path, content), words in zip(cases.items(), expected, strict=True):
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(AssessError, match=words) as caught:
            read_points(path, CRITERIA, CODES)
        assert path.name in str(caught.value) and "Cách sửa" in str(caught.value)


def test_xlsx_mistake_names_the_cell(tmp_path: Path) -> None:
    book = Workbook()
    book.active.append(HEADER)
    book.active.append(["my-an", "Xã Mỹ An", "standard", None, None, None, 80])
    book.save(tmp_path / "diem.xlsx")
    with pytest.raises(AssessError, match=r"diem.xlsx: dòng 2, cột c4 \(ô G2, tiêu chí 4\): 80 vượt điểm tối đa 75"):
        read_points(tmp_path / "diem.xlsx", CRITERIA, CODES)


# --- the verdict ---------------------------------------------------------------------------------------------------

def test_hand_computed_example() -> None:
    communes = [("a", "Xã A", "standard"), ("b", "Phường B", "ward"), ("c", "Xã C", "disadvantaged"),
                ("d", "Xã D", "standard"), ("e", "Xã E", "standard"), ("f", "Xã F", "standard"),
                ("g", "Xã G", "standard"), ("h", "Xã H", "standard")]
    low = (100, 60, 60, 60, 60, 100, 50, 60, 60, 50, 50, 50)  # 760; with 40: exactly 800
    points = {"a": entered(*FULL), "b": entered(90, *FULL[1:]), "c": entered(*low),
              "d": entered(*FULL[:4], 0, *FULL[5:]), "e": entered(*FULL[:2], None, *FULL[3:]),
              "f": entered(*FULL), "g": entered(*FULL), "h": entered(*FULL)}
    c13 = {"a": survey("a", 40), "b": survey("b", 40), "c": survey("c", 40), "d": survey("d", 40),
           "e": survey("e", 40), "g": survey("g", None), "h": survey("h", 40, n=12)}
    result = {a.code: a for a in assess(communes, points, c13, CRITERIA, RUBRIC)}
    assert [a.code for a in result.values()] == [c for c, _, _ in communes]
    a = result["a"]
    assert (a.total, a.threshold, a.recognised, a.reasons, a.zero, a.missing) == (940.5, 850, True, (), (), ())
    assert a.points == (*FULL, 40) and a.maxima == MAXIMA
    assert (result["b"].total, result["b"].threshold, result["b"].recognised) == (930.5, 900, True)
    assert (result["c"].total, result["c"].threshold, result["c"].recognised) == (800, 800, True)
    d = result["d"]
    assert (d.total, d.zero, d.recognised, d.reasons) == (868, (5,), False, ("Tiêu chí 5 bị 0 điểm (điểm liệt)",))
    e = result["e"]
    assert (e.total, e.missing, e.recognised) == (865.5, (3,), False)
    assert e.reasons == ("Thiếu điểm tiêu chí 3",)
    for code in ("f", "g"):
        assert result[code].missing == (13,) and not result[code].recognised
        assert result[code].reasons == ("Chưa có dữ liệu khảo sát tiêu chí 13",)
    h = result["h"]  # below its target: never "Đạt", whatever its points (changed with the fair verdicts)
    assert not h.recognised and h.verdict == "Chưa đủ điều kiện đánh giá"
    assert h.reasons == ("Tiêu chí 13 chưa đủ mẫu (trẻ em 12/30, người dân 12/30): chưa đủ điều kiện đánh giá",)
    assert h.warnings[0] == "Tiêu chí 13 chưa đủ mẫu (trẻ em 12/30, người dân 12/30)"
    waiting = ["Chưa đủ điều kiện đánh giá"] * 2
    assert [result[c].verdict for c in "abcdefg"] == ["Đạt"] * 3 + ["Không đạt"] * 2 + waiting
    below = assess([("b", "Phường B", "ward")], {"b": entered(50, *FULL[1:])}, c13, CRITERIA, RUBRIC)[0]
    assert below.reasons == ("Tổng 890,5 < ngưỡng 900",) and not below.recognised
    nothing = assess([("z", "Xã Z", "standard")], {}, {}, CRITERIA, RUBRIC)[0]
    assert nothing.reasons == ("Thiếu điểm tiêu chí 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12",
                               "Chưa có dữ liệu khảo sát tiêu chí 13",
                               "Tổng 0 < ngưỡng 850 (chưa tính các tiêu chí thiếu điểm)")
    assert summary_lines(list(result.values())) == [
        "Đạt: 3/8 xã (Xã A, Phường B, Xã C)",
        "Không đạt: 2 xã",
        "• Xã D: Tiêu chí 5 bị 0 điểm (điểm liệt)",
        "• Xã E: Thiếu điểm tiêu chí 3",
        "Chưa đủ điều kiện đánh giá: 3 xã",
        "• Xã F: Chưa có dữ liệu khảo sát tiêu chí 13",
        "• Xã G: Chưa có dữ liệu khảo sát tiêu chí 13",
        "• Xã H: Tiêu chí 13 chưa đủ mẫu (trẻ em 12/30, người dân 12/30): chưa đủ điều kiện đánh giá",
        "Sát ngưỡng (tiêu chí 13): Xã A, Phường B, Xã C, Xã D, Xã E, Xã H.",  # 85% of 30 people: 74-92%
    ]
    assert summary_lines([]) == ["Chưa có xã nào để đánh giá."]


def test_bad_input_to_assess() -> None:
    with pytest.raises(AssessError, match="no threshold for commune type 'city'"):
        assess([("a", "Xã A", "city")], {}, {}, CRITERIA, RUBRIC)
    with pytest.raises(AssessError, match="Xã A \\(a\\): tiêu chí 7 có 51"):
        assess([("a", "Xã A", "standard")], {"a": entered(*FULL[:6], 51, *FULL[7:])}, {}, CRITERIA, RUBRIC)


BANDS = sorted(INDEX_FOR)
SURVEYS = {points: survey("x", points) for points in BANDS}
SURVEYS_SHORT = {points: survey("x", points, n=5) for points in BANDS}


@st.composite
def commune(draw: st.DrawFn) -> tuple[str, list[float | None], int | None, bool]:
    """A commune type, points 1-12 in halves (a few blank or 0), a criterion-13 band (or none), a short sample."""
    kind = draw(st.sampled_from(["ward", "standard", "disadvantaged"]))
    slack = draw(st.sampled_from([0.0, 0.05, 0.15, 1.0]))
    values: list[float | None] = [draw(st.integers(int(2 * top * (1 - slack)), int(2 * top))) / 2
                                  for top in MAXIMA[:12]]
    few = st.just(set()) | st.sets(st.integers(0, 11), max_size=2)
    for n in draw(few):
        values[n] = None
    for n in draw(few):
        values[n] = 0.0
    return kind, values, draw(st.sampled_from([*reversed(BANDS), None])), draw(st.booleans())


def judge(kind: str, values: list[float | None], band: int | None, short: bool) -> object:
    """Assess one commune."""
    c13 = {} if band is None else {"x": (SURVEYS_SHORT if short else SURVEYS)[band]}
    return assess([("x", "Xã X", kind)], {"x": entered(*values)}, c13, CRITERIA, RUBRIC)[0]


@settings(max_examples=300, deadline=None)
@given(commune())
def test_rule_holds_and_any_zero_fails(case: tuple[str, list[float | None], int | None, bool]) -> None:
    kind, values, band, short = case
    result = judge(*case)
    points = [*values, band]
    total = sum(p for p in points if p is not None)
    assert result.total == pytest.approx(total)
    assert result.recognised == (None not in points and 0 not in points and not short
                                 and total >= CRITERIA.threshold(kind).points)
    assert result.recognised == (not result.reasons)
    if 0 in points:
        assert not result.recognised
        assert any("(điểm liệt)" in r for r in result.reasons)
    assert any("chưa đủ mẫu" in w for w in result.warnings) == (short and band is not None)
    if short and band is not None:
        assert result.verdict != "Đạt"


@settings(max_examples=300, deadline=None)
@given(commune(), st.integers(0, 12), st.floats(0, 1))
def test_raising_points_never_loses_recognition(case: tuple[str, list[float | None], int | None, bool],
                                                which: int, share: float) -> None:
    kind, values, band, short = case
    before = judge(*case)
    if which < 12:
        low, top = values[which] or 0.0, MAXIMA[which]
        raised = list(values)
        raised[which] = low + round(share * (top - low) * 2) / 2
        after = judge(kind, raised, band, short)
    else:
        higher = [b for b in BANDS if band is None or b >= band]
        after = judge(kind, values, higher[min(int(share * len(higher)), len(higher) - 1)], short)
    assert after.total >= before.total
    if before.recognised:
        assert after.recognised


# --- outputs -------------------------------------------------------------------------------------------------------

def many(count: int) -> list:
    """A mixed set of assessed communes."""
    communes = [(f"x{i}", f"Xã Thử Nghiệm {i}", ("ward", "standard", "disadvantaged")[i % 3]) for i in range(count)]
    points = {code: entered(*FULL[:4], 0 if i % 5 == 0 else FULL[4], *FULL[5:11], None if i % 7 == 0 else 60 - i)
              for i, (code, _, _) in enumerate(communes)}
    c13 = {code: survey(code, BANDS[i % len(BANDS)], n=10 if i % 4 == 0 else 30) for i, (code, _, _) in
           enumerate(communes)}
    return assess(communes, points, c13, CRITERIA, RUBRIC)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header, checking its signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("count", [0, 13, 30])
def test_chart_is_a_png_that_grows_with_the_communes(count: int) -> None:
    data = assessment_chart("2024", many(count))
    width, height = png_size(data)
    assert width == 900 and height >= (250 if count == 0 else 100 + 30 * count)


def test_workbook() -> None:
    assessments = many(13)
    book = load_workbook(io.BytesIO(assessment_workbook("2024", RUBRIC, CRITERIA, assessments)))
    sheet = book["Công nhận"]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    head = next(i for i, row in enumerate(rows) if row[0] == "Mã xã")
    assert rows[head] == ["Mã xã", "Tên xã", "Loại", *(f"TC{n}" for n in range(1, 14)), "Tổng", "Ngưỡng",
                          "Điểm liệt", "Kết luận", "Lý do", "Ghi chú"]
    above = "\n".join(str(row[0]) for row in rows[:head])
    assert "2024" in above and RUBRIC.name in above and RUBRIC.note in above and CRITERIA.note in above
    assert rows[head - 1][3:17] == [*MAXIMA, 1000]
    body = rows[head + 1:]
    assert len(body) == 13
    for row, a in zip(body, assessments, strict=True):
        assert row[:3] == [a.code, a.name, CRITERIA.threshold(a.type).label]
        assert row[3:16] == list(a.points) and row[16] == a.total and row[17] == a.threshold
        assert row[19] == a.verdict and (row[19] == "Đạt") == a.recognised
        assert (row[20] or "") == "; ".join(a.reasons)
    assert any(row[18] == "TC5" for row in body)
