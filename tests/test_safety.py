"""Safety screening: true signals with and without accents, and near-misses that must stay quiet."""

from __future__ import annotations

import pytest

from conversations.safety import Screen

SCREEN = Screen.load()


@pytest.mark.parametrize(("text", "category"), [
    ("Em bị đánh ở nhà", "violence"), ("em bi danh o nha", "violence"), ("EM BỊ ĐÁNH", "violence"),
    ("em bi đánh", "violence"), ("Dượng hay đánh em", "violence"), ("em bị bắt nạt ở lớp", "threat"),
    ("có người sờ mó em", "sexual_abuse"), ("co nguoi so mo em", "sexual_abuse"), ("em bị xâm hại", "sexual_abuse"),
    ("em muốn tự tử", "self_harm"), ("em muon tu tu", "self_harm"), ("Em không muốn sống nữa", "self_harm"),
    ("em sắp bị ép lấy chồng", "child_marriage"), ("ban em bi bat coc", "trafficking"),
    ("cứu em với!!!", "danger"), ("Em đang bị nhốt trong nhà", "confinement"), ("help me please", "danger"),
])
def test_true_signals_match(text: str, category: str) -> None:
    assert category in SCREEN.categories(text)


@pytest.mark.parametrize("text", [
    "Em đánh răng mỗi sáng", "Em đi từ từ thôi", "bạn em rất tốt", "chết cười với bạn", "Trường cần sân chơi",
    "Đường đá ở xóm em bị hư", "Em thích đá bóng", "bán hàng ở chợ", "tử tế với mọi người", "", "😀😀",
    "Xã cần dạy bơi cho trẻ em để phòng đuối nước",
])
def test_near_misses_do_not_trigger(text: str) -> None:
    assert SCREEN.categories(text) == ()
