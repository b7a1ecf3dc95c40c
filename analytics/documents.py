"""The office's Word documents (Decree 30/2020 layout) rendered from editable .docx templates with docxtpl."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from analytics.assess import Assessment, Criteria
from analytics.assess_chart import number
from analytics.comments import Comments
from analytics.forum_record import ForumRecord, table_rows
from analytics.rubric import Rubric
from analytics.score import CommuneScore
from analytics.sources import SourceSplit

SHIPPED = Path(__file__).resolve().parent / "templates"
COMMUNE, SCORING, SUMMARY, FORUM = ("ket-qua-tieu-chi-13.docx", "bieu-cham-diem.docx", "bao-cao-tong-hop.docx",
                                    "bao-cao-dien-dan.docx")
DEFAULT_OFFICE = "ỦY BAN NHÂN DÂN TỈNH ĐỒNG THÁP"
DEFAULT_PLACE = "Đồng Tháp"
CHART_WIDTH_MM = 160
GROUPS = (("child", "Trẻ em"), ("resident", "Người dân"))


class DocumentError(ValueError):
    """A template cannot be filled; the message names the template and the fix."""


@dataclass(frozen=True, slots=True)
class Letterhead:
    """Who issues the documents, where, when: the office's name, the place and the date (Vietnam time)."""

    office: str
    place: str
    day: date

    @property
    def place_date(self) -> str:
        """'Đồng Tháp, ngày 05 tháng 3 năm 2025' as the decree writes it."""
        from analytics.clock import written

        return written(self.day, self.place)

    def heading(self, issuer: str, symbol: str, kind: str, title: str, recipients: Sequence[str]) -> dict[str, Any]:
        """The variables every template shares."""
        return {"parent": "", "issuer": issuer.upper(), "symbol": symbol, "place_date": self.place_date,
                "kind": kind, "title": title, "recipients": list(recipients), "signer_role": "TM. ỦY BAN NHÂN DÂN",
                "signer_title": "CHỦ TỊCH", "signer_name": "", "office": self.office,
                "footnote": f"Lập bằng xtt ngày {self.day:%d/%m/%Y} (giờ Việt Nam) từ số liệu của hệ thống."}


def template(name: str, folder: Path | None = None) -> Path:
    """The office's own template of that name when its folder has one, else the shipped one."""
    if folder is not None and (folder / name).is_file():
        return folder / name
    return SHIPPED / name


def render(path: Path, context: Mapping[str, Any], images: Mapping[str, Sequence[bytes]]) -> bytes:
    """Fill a template: context values, and lists of PNG charts as pictures 160 mm wide."""
    from docx.shared import Mm
    from docxtpl import DocxTemplate, InlineImage

    try:
        doc = DocxTemplate(str(path))
        pictures = {key: [InlineImage(doc, io.BytesIO(png), width=Mm(CHART_WIDTH_MM)) for png in pngs]
                    for key, pngs in images.items()}
        doc.render({**context, **pictures}, autoescape=True)
    except Exception as exc:  # docx, zip and Jinja errors of a template the office edited
        raise DocumentError(f"{path}: không điền được mẫu ({type(exc).__name__}: {exc}). Cách sửa: gõ lại thẻ "
                            "{{ … }} hoặc {%… %} bị lỗi trong Word, hoặc dùng lại mẫu gốc") from exc
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def share(value: float | None) -> str:
    """A share as a percentage with one decimal and a decimal comma, or a dash."""
    return "—" if value is None else f"{value * 100:.1f}%".replace(".", ",")


def span(pair: tuple[float, float] | None) -> str:
    """An interval as '71,2–88,0%'."""
    return "—" if pair is None else f"{share(pair[0])[:-1]}–{share(pair[1])}"


def points_text(s: CommuneScore) -> str:
    """Points over the maximum, or a dash."""
    return "—" if s.points is None else f"{number(s.points)}/{number(s.max_points)}"


def flags(s: CommuneScore) -> str:
    """What the office must notice about a commune's criterion 13."""
    found = ["chưa có dữ liệu"] if s.index is None else []
    found += ["điểm liệt"] if s.zero else []
    found += ["chưa đủ mẫu"] if s.short else []
    return ", ".join(found)


def forum_lines(record: ForumRecord, code: str) -> list[str]:
    """What the commune's children raised at forums and in chat, and how it was answered."""
    held = [f for f in record.forums if f.commune == code]
    mine = next((c for c in record.communes if c.code == code), None)
    lines = [f"Đã tổ chức {len(held)} diễn đàn trẻ em ("
             + "; ".join(f"ngày {date.fromisoformat(f.held_on):%d/%m/%Y}, {f.children} trẻ em" for f in held) + ")."
             if held else "Chưa ghi nhận diễn đàn trẻ em nào trong hệ thống."]
    if mine is not None and mine.get("total"):
        lines.append(f"Trẻ em gửi {mine.get('total')} kiến nghị ({mine.get('forum')} tại diễn đàn, "
                     f"{mine.get('chat')} qua trò chuyện): {mine.get('answered_in_time')} được trả lời trong "
                     f"{record.days} ngày, {mine.get('answered_late')} trả lời quá hạn, "
                     f"{mine.get('resolved_no_answer')} giải quyết nhưng không có trả lời, "
                     f"{mine.get('open_late') + mine.get('open_in_time')} chưa được trả lời.")
    return lines


def commune_context(head: Letterhead, round_id: str, rubric: Rubric, s: CommuneScore, split: SourceSplit,
                    questionnaires: Mapping[str, Any], record: ForumRecord | None = None,
                    comments: Comments | None = None) -> dict[str, Any]:
    """The commune's criterion-13 results report."""
    versions = ", ".join(f"{label.lower()} phiên bản {questionnaires[g].version}" for g, label in GROUPS
                         if g in questionnaires)
    groups = []
    for (g, label), figures in zip(GROUPS, (s.children, s.residents), strict=True):
        groups.append({"name": label, "chat": split.n(g, "chat"), "paper": split.n(g, "paper"), "n": figures.n,
                       "target": figures.target, "answers": figures.answers, "satisfied": figures.satisfied,
                       "index": share(figures.index), "ci": span(figures.ci95)})
    overall = {"name": "Chung", "chat": sum(r["chat"] for r in groups), "paper": sum(r["paper"] for r in groups),
               "n": s.children.n + s.residents.n, "target": s.children.target + s.residents.target,
               "answers": s.children.answers + s.residents.answers,
               "satisfied": s.children.satisfied + s.residents.satisfied, "index": share(s.index), "ci": span(s.ci95)}
    notes = [f"Chỉ số chung kết hợp hai nhóm theo trọng số của thang điểm: {share(s.index)}."]
    notes += ["Xã bị 0 điểm tiêu chí 13 (điểm liệt): không đạt dù các tiêu chí khác đủ điểm."] if s.zero else []
    notes += [f"Chưa đủ mẫu: trẻ em {s.children.n}/{s.children.target}, người dân "
              f"{s.residents.n}/{s.residents.target}; chưa thể kết luận đạt."] if s.short else []
    notes += ["Chưa có phiếu nào hoàn thành trong đợt này."] if s.index is None else []
    return {**head.heading(f"Ủy ban nhân dân {s.name}", "BC-UBND", "BÁO CÁO",
                           f"Kết quả khảo sát mức độ hài lòng của trẻ em và người dân về việc thực hiện quyền trẻ em "
                           f"(tiêu chí 13) — {s.name}, đợt {round_id}", [f"{head.office};", "Lưu: VT."]),
            "commune": s.name, "code": s.code, "round": round_id, "rubric": rubric.name, "points": points_text(s),
            "method": [f"Khảo sát trẻ em (10–15 tuổi) và người dân (từ 16 tuổi) bằng phiếu hỏi ({versions}), "
                       "trả lời qua trò chuyện (Telegram, Zalo) hoặc phiếu giấy; phiếu giấy được nhập với mã phiếu "
                       "riêng, mỗi mã chỉ tính một lần.",
                       "Chỉ số hài lòng = số câu trả lời hài lòng và rất hài lòng ÷ số câu trả lời được tính điểm "
                       "(chỉ tính phiếu đã hoàn thành; câu “không biết” không tính). KTC 95%: khoảng tin cậy 95%.",
                       f"Thang điểm: {rubric.name}. {rubric.note}"],
            "groups": groups, "overall": overall, "notes": notes,
            "forum_lines": forum_lines(record, s.code) if record is not None else [],
            "comments": comments.lines() if comments is not None else ["Không có ý kiến góp ý."],
            "proposals_text": "(Ủy ban nhân dân xã ghi đề xuất, kiến nghị tại đây.)"}


def scoring_context(head: Letterhead, round_id: str, criteria: Criteria, a: Assessment, kind_label: str,
                    s: CommuneScore) -> dict[str, Any]:
    """The scoring sheet of the 13 criteria for one commune."""
    rows = []
    for c, value, top in zip(criteria.items, a.points, a.maxima, strict=True):
        note = "điểm liệt" if value == 0 else ("chưa nhập điểm" if value is None else "")
        if c.number == 13:
            note = "; ".join(p for p in (f"từ khảo sát, chỉ số {share(s.index)}", note, flags(s)) if p)
        rows.append({"number": c.number, "name": c.name, "max": number(top), "points": number(value), "note": note})
    total = {"number": "", "name": "Tổng cộng", "max": number(sum(a.maxima)), "points": number(a.total), "note": ""}
    verdict = "Đạt chuẩn, đề nghị công nhận" if a.recognised else "Chưa đạt chuẩn"
    return {**head.heading(f"Ủy ban nhân dân {a.name}", "BCĐ-UBND", "BIỂU CHẤM ĐIỂM",
                           f"Đánh giá xã, phường, thị trấn phù hợp với trẻ em — {a.name}, đợt {round_id}",
                           [f"{head.office};", "Lưu: VT."]),
            "type_label": kind_label, "threshold": number(a.threshold), "rows": rows, "total": total,
            "verdict": verdict, "reasons": [*a.reasons, *a.warnings], "criteria_note": criteria.note}


def summary_context(head: Letterhead, round_id: str, rubric: Rubric, criteria: Criteria,
                    scores: Sequence[CommuneScore], splits: Mapping[str, SourceSplit],
                    assessments: Sequence[Assessment] | None) -> dict[str, Any]:
    """The summary report with the criterion-13 table, the recognition table and the sources."""
    rows = [{"name": s.name, "children": s.children.n, "residents": s.residents.n,
             "paper": splits[s.code].n("child", "paper") + splits[s.code].n("resident", "paper"),
             "index": share(s.index), "ci": span(s.ci95), "points": points_text(s), "flags": flags(s)}
            for s in scores]
    total = {"name": "Tổng cộng", "children": sum(r["children"] for r in rows),
             "residents": sum(r["residents"] for r in rows), "paper": sum(r["paper"] for r in rows), "index": "",
             "ci": "", "points": "", "flags": ""}
    labels = {t.type: t.label for t in criteria.thresholds}
    table = [{"name": a.name, "type": labels.get(a.type, a.type), "total": number(a.total),
              "threshold": number(a.threshold), "zero": ", ".join(map(str, a.zero)) or "—",
              "result": "Đạt" if a.recognised else "Không đạt", "reasons": "; ".join(a.reasons)}
             for a in assessments or ()]
    if assessments:
        met = sum(a.recognised for a in assessments)
        text = (f"{met}/{len(assessments)} đơn vị đạt chuẩn (đủ 13 tiêu chí, không có tiêu chí 0 điểm, tổng điểm "
                f"đạt ngưỡng của loại đơn vị).")
    else:
        text = ("Chưa nhập điểm tiêu chí 1–12 cho đợt này (xtt assess --criteria TỆP); bảng công nhận sẽ có khi "
                "nhập đủ điểm.")
    sources = [{"name": s.name, **{f"{g}_{src}": s.n(g, src) for g, _ in GROUPS for src in ("chat", "paper")}}
               for s in splits.values()]
    source_total = {"name": "Tổng cộng", **{k: sum(r[k] for r in sources) for k in
                                              (f"{g}_{src}" for g, _ in GROUPS for src in ("chat", "paper"))}}
    return {**head.heading(head.office, "BC-UBND", "BÁO CÁO",
                           f"Kết quả đánh giá, công nhận xã, phường phù hợp với trẻ em — đợt {round_id}",
                           ["Các xã, phường;", "Lưu: VT."]),
            "rubric": rubric.name, "rubric_note": rubric.note, "scores": rows, "score_total": total,
            "assessment_text": text, "assessments": table, "sources": sources, "source_total": source_total,
            "criteria_note": criteria.note}


def forum_context(head: Letterhead, record: ForumRecord, topic_label: Callable[[str], str]) -> dict[str, Any]:
    """The forum report: forums held, then proposals answered within the deadline, per commune."""
    forums = [{"name": f.commune_name, "date": f"{date.fromisoformat(f.held_on):%d/%m/%Y}", "children": f.children,
               "topics": "; ".join(topic_label(t) for t in f.topics), "proposals": f.proposals,
               "due": f"{date.fromisoformat(f.report_due):%d/%m/%Y}"} for f in record.forums]
    rows, total = table_rows(record)
    held = (f"Đã tổ chức {len(forums)} diễn đàn trẻ em với {sum(f.children for f in record.forums)} trẻ em tham gia."
            if forums else "Chưa ghi nhận diễn đàn trẻ em nào (xtt forum held).")
    answers = (f"Tính đến {record.now.astimezone(_vn()):%H:%M ngày %d/%m/%Y}: thời hạn trả lời mỗi kiến nghị là "
               f"{record.days} ngày kể từ khi tiếp nhận — chuẩn của địa phương, không phải quy định của Thông tư "
               "29/2019/TT-BLĐTBXH (Thông tư quy định báo cáo trong 15 ngày sau diễn đàn). Chỉ tính là đã trả lời "
               "khi có câu trả lời thật; kiến nghị được giải quyết mà không có trả lời được thống kê riêng "
               f"({record.total('resolved_no_answer')} kiến nghị).")
    notes = ["Kiến nghị đã gộp vào kiến nghị khác không tính riêng.",
             "Trẻ em gửi kiến nghị được giữ kín danh tính; báo cáo không nêu tên người gửi."]
    return {**head.heading(head.office, "BC-UBND", "BÁO CÁO",
                           "Kết quả tổ chức diễn đàn trẻ em và trả lời kiến nghị của trẻ em",
                           ["Các xã, phường;", "Đoàn Thanh niên;", "Lưu: VT."]),
            "forums_text": held, "forums": forums, "answers_text": answers, "communes": rows, "total": total,
            "notes": notes, "days": record.days}


def _vn() -> Any:
    """Vietnam's time zone."""
    from analytics.clock import VIETNAM

    return VIETNAM
