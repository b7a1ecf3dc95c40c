"""Chat command names and their Vietnamese aliases."""

from __future__ import annotations

ALIASES: dict[str, str] = {
    "start": "start", "survey": "survey", "khaosat": "survey", "help": "help", "huongdan": "help",
    "language": "language", "ngonngu": "language", "forget": "forget", "xoadulieu": "forget",
    "score": "score", "diem": "score", "invite": "invite", "round": "round", "report": "report",
    "baocao": "report", "assess": "assess", "congnhan": "assess", "propose": "propose", "kiennghi": "propose",
    "myproposals": "myproposals", "kiennghicuatoi": "myproposals", "proposals": "proposals",
    "xemkiennghi": "proposals", "poll": "poll", "thamdo": "poll", "remind": "remind", "nhacnho": "remind",
    "progress": "progress", "tiendo": "progress", "stop": "stop", "dung": "stop",
}
# Shown in Telegram's menu, per language: (command, catalogue key of its description).
MENU: tuple[tuple[str, str], ...] = (
    ("khaosat", "menu.survey"), ("kiennghi", "menu.propose"), ("myproposals", "menu.myproposals"),
    ("huongdan", "menu.help"), ("language", "menu.language"),
    ("xoadulieu", "menu.forget"),
)
MENU_EN: tuple[tuple[str, str], ...] = (
    ("survey", "menu.survey"), ("propose", "menu.propose"), ("myproposals", "menu.myproposals"),
    ("help", "menu.help"), ("language", "menu.language"), ("forget", "menu.forget"),
)


def parse(text: str | None) -> tuple[str, str] | None:
    """Split '/cmd@bot arg' into (command, arg); None when it is not a command."""
    if not text or not text.startswith("/"):
        return None
    head, _, arg = text[1:].strip().partition(" ")
    name = head.split("@", 1)[0].lower()
    return ALIASES.get(name, f"?{name}"), arg.strip()
