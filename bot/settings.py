"""Settings, each declared once with its type, parser, default and help; read only by the composition root."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class SettingError(ValueError):
    """A setting has a value the program cannot use; the message names the setting and the fix."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment setting: its name, default (as written in .env), help line and parser."""

    name: str
    default: str
    help: str
    parse: Callable[[str], Any]


def text(value: str) -> str:
    """Any text."""
    return value


def whole(low: int, high: int = 10**9) -> Callable[[str], int]:
    """A whole number within bounds."""
    def parse(value: str) -> int:
        if not re.fullmatch(r"\s*\d+\s*", value) or not low <= int(value) <= high:
            raise ValueError(f"is not a whole number from {low} to {high}")
        return int(value)

    return parse


def positive(value: str) -> float:
    """A number above zero."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < float("inf"):
        raise ValueError("is not a number above zero, e.g. 25 or 0.5")
    return number


def flag(value: str) -> bool:
    """Yes or no."""
    found = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
             "off": False}.get(value.strip().lower())
    if found is None:
        raise ValueError("is not yes or no (1/0, true/false, on/off)")
    return found


def locale(value: str) -> str:
    """A language of the catalogue."""
    if value not in ("vi", "en"):
        raise ValueError("is not a language of the bot: use vi or en")
    return value


def database(value: str) -> str:
    """An SQLAlchemy async URL for SQLite (aiosqlite) or PostgreSQL (asyncpg); empty is the data folder's SQLite."""
    if not value:
        return value
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError("is not a database URL, e.g. sqlite+aiosqlite:///data/xtt.sqlite3 or "
                         "postgresql+asyncpg://user@host/db") from None
    if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(f"uses {url.drivername!r}; use sqlite+aiosqlite:///FILE or postgresql+asyncpg://user@host/db")
    return value


def web_url(value: str) -> str:
    """An http(s) URL, or empty."""
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError("is not an http(s) URL such as https://xtt.example.org")
    return value.rstrip("/")


def admins(value: str) -> tuple[tuple[str, str], ...]:
    """Bootstrap officials as channel:user pairs separated by commas."""
    pairs = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        channel, _, user = item.partition(":")
        if not re.fullmatch(r"[a-z_]+", channel.strip()) or not user.strip():
            raise ValueError(f"has {item!r}, which is not channel:user_id (e.g. telegram:12345)")
        pairs.append((channel.strip(), user.strip()))
    return tuple(pairs)


def secret_token(shortest: int) -> Callable[[str], str]:
    """A webhook secret token: empty, or `shortest` to 256 letters, digits, '_' and '-'."""
    def parse(value: str) -> str:
        if value and not re.fullmatch(rf"[A-Za-z0-9_-]{{{shortest},256}}", value):
            raise ValueError(f"must be {shortest}-256 characters of letters, digits, _ and -")
        return value

    return parse


def setting(name: str, default: str, help: str, parse: Callable[[str], Any] = text) -> Any:
    """Declare a setting as a field of Settings."""
    return field(default=parse(default), metadata={"setting": Setting(name, default, help, parse)})


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved settings of one process."""

    database_url: str = setting(
        "DATABASE_URL", "", "Any SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/db at scale; "
        "empty is the SQLite file xtt.sqlite3 in XTT_DATA_DIR.", database)
    xtt_secret: str = setting(
        "XTT_SECRET", "", "Key for pseudonyms and signed invites; generated into the data folder on first run.")
    admins: tuple[tuple[str, str], ...] = setting(
        "XTT_ADMINS", "", "Bootstrap officials, e.g. telegram:12345,zalo_bot:abcd.", admins)
    xtt_locale: str = setting("XTT_LOCALE", "vi", "Default language of the bot: vi or en.", locale)
    xtt_data_dir: str = setting("XTT_DATA_DIR", "data", "Folder for the SQLite file, the generated secret, "
                                "exports and the compiled safety screen (cache/).")
    xtt_rubric: str = setting(
        "XTT_RUBRIC", "", "Rubric file mapping the criterion-13 index to points; empty uses the shipped one.")
    xtt_criteria: str = setting(
        "XTT_CRITERIA", "", "The 13 criteria's maxima and thresholds per commune type; empty uses the shipped file.")
    xtt_remind_days: int = setting(
        "XTT_REMIND_DAYS", "3", "A person gets at most one survey reminder every this many days.", whole(1, 365))
    xtt_flows_dir: str = setting(
        "XTT_FLOWS_DIR", "", "Folder with the office's own onboarding.toml, child.toml and resident.toml.")
    xtt_send_rate: float = setting(
        "XTT_SEND_RATE", "25", "Messages per second per channel, over all chats (Telegram allows ~30).", positive)
    xtt_send_per_chat: float = setting(
        "XTT_SEND_PER_CHAT", "1", "Messages per second to one chat (Telegram allows ~1).", positive)
    xtt_office_name: str = setting(
        "XTT_OFFICE_NAME", "",
        "The office's name as printed on reports, e.g. Phòng Văn hóa - Xã hội xã Mỹ An; empty prints none.")
    leader_live_index: bool = setting(
        "XTT_LEADER_LIVE_INDEX", "0",
        "1 lets leaders see their commune's live index while the round is open; 0 shows them progress only.", flag)
    xtt_calendar: str = setting(
        "XTT_CALENDAR", "", "Milestones file copied into a round when it opens; empty uses the shipped one.")
    xtt_targets: str = setting(
        "XTT_TARGETS", "", "Target formulas of children_count per group; empty uses the shipped targets.toml.")
    xtt_alert_hours: float = setting(
        "XTT_ALERT_HOURS", "12", "A safety alert nobody acknowledged within this many hours goes to every official, "
        "again every as many hours until someone does.", positive)
    xtt_answer_days: int = setting(
        "XTT_ANSWER_DAYS", "15", "A child's proposal should be answered within this many days: a local standard, "
        "not Circular 29 (whose 15 days are for the report after a forum).", whole(1, 365))
    xtt_escalate_days: int = setting(
        "XTT_ESCALATE_DAYS", "15", "A proposal still unanswered this many days after XTT_ANSWER_DAYS goes to the "
        "officials (its commune's leader was reminded at the deadline).", whole(1, 365))
    xtt_stop_seconds: float = setting(
        "XTT_STOP_SECONDS", "20", "On SIGTERM, the longest a stop may take to finish the updates in hand.", positive)
    xtt_late_hours: float = setting(
        "XTT_LATE_HOURS", "24", "A message older than this when processed gets a short apology for the delay.",
        positive)
    xtt_retention_days: int = setting(
        "XTT_RETENTION_DAYS", "30", "Processed update keys, inbox rows and sent messages are kept this many days.",
        whole(1, 3650))
    xtt_flood_rate: float = setting(
        "XTT_FLOOD_RATE", "5", "Messages per second one person may keep sending before being slowed.", positive)
    xtt_flood_burst: int = setting(
        "XTT_FLOOD_BURST", "60", "Messages one person may send at once before the rate applies.", whole(1, 10_000))
    telegram_bot_token: str = setting("TELEGRAM_BOT_TOKEN", "", "Enables the Telegram channel.")
    telegram_api_url: str = setting(
        "TELEGRAM_API_URL", "https://api.telegram.org", "Bot API root: a local Bot API server or a test stand-in.",
        web_url)
    telegram_webhook_url: str = setting(
        "TELEGRAM_WEBHOOK_URL", "", "Public HTTPS URL of /webhooks/telegram; empty means long polling.", web_url)
    telegram_webhook_secret: str = setting(
        "TELEGRAM_WEBHOOK_SECRET", "", "Secret token Telegram sends with webhooks; derived if empty.",
        secret_token(1))
    zalo_bot_token: str = setting("ZALO_BOT_TOKEN", "", "Enables the Zalo Bot Platform channel.")
    zalo_bot_api_url: str = setting(
        "ZALO_BOT_API_URL", "https://bot-api.zaloplatforms.com", "Zalo Bot Platform API root.", web_url)
    zalo_bot_webhook_secret: str = setting(
        "ZALO_BOT_WEBHOOK_SECRET", "",
        "Secret token (8-256 characters) of the Zalo Bot webhook; with WEB_PUBLIC_URL it turns on webhook mode.",
        secret_token(8))
    zalo_oa_app_id: str = setting("ZALO_OA_APP_ID", "", "Zalo Official Account: app id.")
    zalo_oa_app_secret: str = setting("ZALO_OA_APP_SECRET", "", "Zalo Official Account: app secret.")
    zalo_oa_secret_key: str = setting(
        "ZALO_OA_SECRET_KEY", "", "Zalo Official Account: OA secret key for webhook signatures (required).")
    zalo_oa_refresh_token: str = setting("ZALO_OA_REFRESH_TOKEN", "", "Zalo Official Account: first refresh token.")
    zalo_oa_api_url: str = setting("ZALO_OA_API_URL", "https://openapi.zalo.me", "Zalo OA API root.", web_url)
    zalo_oauth_url: str = setting("ZALO_OAUTH_URL", "https://oauth.zaloapp.com", "Zalo OAuth root.", web_url)
    web_host: str = setting("WEB_HOST", "127.0.0.1", "Host of the aiohttp server for webhooks and health checks.")
    web_port: int = setting(
        "WEB_PORT", "8080", "Port of that server; it starts for webhooks or when this is set.", whole(1, 65535))
    web_public_url: str = setting(
        "WEB_PUBLIC_URL", "", "Public HTTPS root of that server, e.g. https://xtt.example.org: Zalo fetches charts "
        "from it.", web_url)
    xtt_web_session_hours: float = setting(
        "XTT_WEB_SESSION_HOURS", "12", "A web page session (opened by a one-time link from /web in chat) lasts this "
        "many hours; /web off in chat ends them all.", positive)
    web_port_explicit: bool = False

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite file in use, or None on PostgreSQL."""
        url = self.database_url
        if url.startswith("sqlite"):
            name = url.split("///", 1)[1] if "///" in url else ""
            return Path(name) if name and name != ":memory:" else None
        return None if url else Path(self.xtt_data_dir) / "xtt.sqlite3"


SETTINGS: tuple[Setting, ...] = tuple(f.metadata["setting"] for f in fields(Settings) if "setting" in f.metadata)


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a simple KEY=VALUE .env file; missing file gives nothing."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def load(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
    """Resolve settings from a .env file, the environment (which wins) and the defaults; SettingError if bad."""
    env = dict(read_dotenv(dotenv)) if dotenv else {}
    env.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if "setting" not in f.metadata:
            continue
        declared: Setting = f.metadata["setting"]
        raw = env.get(declared.name) or declared.default
        try:
            values[f.name] = declared.parse(raw)
        except ValueError as exc:
            shown = raw if len(raw) <= 60 and "SECRET" not in declared.name else f"{raw[:4]}…"
            raise SettingError(f"{declared.name}={shown!r} {exc}. {declared.help}") from None
    settings = Settings(**values, web_port_explicit=bool(env.get("WEB_PORT")))
    if not settings.database_url:
        settings = replace(settings, database_url=f"sqlite+aiosqlite:///{Path(settings.xtt_data_dir) / 'xtt.sqlite3'}")
    return settings


def ensure_secret(settings: Settings) -> tuple[Settings, str]:
    """Settings with XTT_SECRET set, generating it into the data folder once; and where the secret came from."""
    if settings.xtt_secret:
        return settings, "XTT_SECRET"
    folder = Path(settings.xtt_data_dir)
    if folder.exists() and not folder.is_dir():
        raise SettingError(f"XTT_DATA_DIR={settings.xtt_data_dir!r} is a file, not a folder; point it at a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError, PermissionError) as exc:
        raise SettingError(f"XTT_DATA_DIR={settings.xtt_data_dir!r} cannot be made ({exc.strerror}); "
                           "point it at a folder you can write") from None
    path = folder / "secret.key"
    made = False
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        made = True
    return replace(settings, xtt_secret=path.read_text().strip()), f"{path.resolve()}{' (new)' if made else ''}"
