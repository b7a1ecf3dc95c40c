"""Chat command names and their Vietnamese aliases."""

from __future__ import annotations

from conversations.matching import fold

ALIASES: dict[str, str] = {
    "start": "start", "survey": "survey", "khaosat": "survey", "help": "help", "huongdan": "help",
    "language": "language", "ngonngu": "language", "forget": "forget", "xoadulieu": "forget",
    "score": "score", "diem": "score", "invite": "invite", "round": "round", "report": "report",
    "baocao": "report", "assess": "assess", "congnhan": "assess", "propose": "propose", "kiennghi": "propose",
    "myproposals": "myproposals", "kiennghicuatoi": "myproposals", "proposals": "proposals",
    "xemkiennghi": "proposals", "poll": "poll", "thamdo": "poll", "remind": "remind", "nhacnho": "remind",
    "progress": "progress", "tiendo": "progress", "stop": "stop", "dung": "stop",
}
TAKES_ARGUMENT = frozenset({"start", "score", "invite"})
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


def parse(text: str | None, bare: bool = False) -> tuple[str, str] | None:
    """Split '/cmd@bot arg' into (command, arg); None when it is not a command.

    With `bare` (channels without a command menu, like Zalo) a message that is only a command word, typed
    without '/' and with or without accents ("khảo sát", "kien nghi", "dừng"), is a command too; it may
    carry one more word as its argument ("start CODE", "diem my-an").
    """
    if not text:
        return None
    if text.startswith("/"):
        head, _, arg = text[1:].strip().partition(" ")
        name = head.split("@", 1)[0].lower()
        return ALIASES.get(name, f"?{name}"), arg.strip()
    if not bare:
        return None
    typed = text.split()
    for size in range(min(3, len(typed)), 0, -1):
        name = ALIASES.get("".join(fold(word).replace(" ", "") for word in typed[:size]))
        if name and (len(typed) == size or (len(typed) == size + 1 and name in TAKES_ARGUMENT)):
            return name, " ".join(typed[size:])
    return None
