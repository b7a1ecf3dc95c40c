"""Settings, declared once with their defaults and help; read only by the composition root."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment setting with its default and a help line."""

    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "sqlite+aiosqlite:///data/xtt.sqlite3",
            "Any SQLAlchemy async URL; postgresql+asyncpg://user@host/db at scale."),
    Setting("XTT_SECRET", "",
            "Key for pseudonyms and signed invites; generated into the data folder on first run."),
    Setting("XTT_ADMINS", "", "Bootstrap officials, e.g. telegram:12345,zalo_bot:abcd."),
    Setting("XTT_LOCALE", "vi", "Default language of the bot: vi or en."),
    Setting("XTT_DATA_DIR", "data", "Folder for the SQLite file, the generated secret and exports."),
    Setting("XTT_RUBRIC", "", "Rubric file mapping the criterion-13 index to points; empty uses the shipped one."),
    Setting("XTT_CRITERIA", "",
            "The 13 criteria's maxima and thresholds per commune type; empty uses the shipped file."),
    Setting("XTT_REMIND_DAYS", "3", "A person gets at most one survey reminder every this many days."),
    Setting("XTT_FLOWS_DIR", "", "Folder with the office's own onboarding.toml, child.toml and resident.toml."),
    Setting("XTT_SEND_RATE", "25", "Proactive messages per second per channel, over all chats (Telegram allows ~30)."),
    Setting("XTT_SEND_PER_CHAT", "1", "Proactive messages per second to one chat (Telegram allows ~1)."),
    Setting("XTT_OFFICE_NAME", "",
            "The office's name as printed on reports, e.g. Phòng Văn hóa - Xã hội xã Mỹ An; empty prints none."),
    Setting("XTT_LEADER_LIVE_INDEX", "0",
            "1 lets leaders see their commune's live index while the round is open; 0 shows them progress only."),
    Setting("XTT_CALENDAR", "", "Milestones file copied into a round when it opens; empty uses the shipped one."),
    Setting("XTT_TARGETS", "", "Target formulas of children_count per group; empty uses the shipped targets.toml."),
    Setting("TELEGRAM_BOT_TOKEN", "", "Enables the Telegram channel."),
    Setting("TELEGRAM_API_URL", "https://api.telegram.org",
            "Bot API root: a local Bot API server or a test stand-in."),
    Setting("TELEGRAM_WEBHOOK_URL", "", "Public HTTPS URL of /webhooks/telegram; empty means long polling."),
    Setting("TELEGRAM_WEBHOOK_SECRET", "", "Secret token Telegram sends with webhooks; derived if empty."),
    Setting("ZALO_BOT_TOKEN", "", "Enables the Zalo Bot Platform channel."),
    Setting("ZALO_BOT_API_URL", "https://bot-api.zaloplatforms.com", "Zalo Bot Platform API root."),
    Setting("ZALO_BOT_WEBHOOK_SECRET", "",
            "Secret token (8-256 characters) of the Zalo Bot webhook; with WEB_PUBLIC_URL it turns on webhook mode."),
    Setting("ZALO_OA_APP_ID", "", "Zalo Official Account: app id."),
    Setting("ZALO_OA_APP_SECRET", "", "Zalo Official Account: app secret."),
    Setting("ZALO_OA_SECRET_KEY", "", "Zalo Official Account: OA secret key for webhook signatures."),
    Setting("ZALO_OA_REFRESH_TOKEN", "", "Zalo Official Account: first refresh token."),
    Setting("ZALO_OA_API_URL", "https://openapi.zalo.me", "Zalo OA API root."),
    Setting("ZALO_OAUTH_URL", "https://oauth.zaloapp.com", "Zalo OAuth root."),
    Setting("WEB_HOST", "127.0.0.1", "Host of the aiohttp server for webhooks and health checks."),
    Setting("WEB_PORT", "8080", "Port of that server; it starts for webhooks or when this is set."),
    Setting("WEB_PUBLIC_URL", "",
            "Public HTTPS root of that server, e.g. https://xtt.example.org: Zalo fetches charts from it."),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved settings of one process."""

    database_url: str
    xtt_secret: str
    xtt_admins: str
    xtt_locale: str
    xtt_data_dir: str
    xtt_rubric: str
    xtt_criteria: str
    xtt_remind_days: str
    xtt_flows_dir: str
    xtt_send_rate: str
    xtt_send_per_chat: str
    xtt_office_name: str
    xtt_leader_live_index: str
    xtt_calendar: str
    xtt_targets: str
    telegram_bot_token: str
    telegram_api_url: str
    telegram_webhook_url: str
    telegram_webhook_secret: str
    zalo_bot_token: str
    zalo_bot_api_url: str
    zalo_bot_webhook_secret: str
    zalo_oa_app_id: str
    zalo_oa_app_secret: str
    zalo_oa_secret_key: str
    zalo_oa_refresh_token: str
    zalo_oa_api_url: str
    zalo_oauth_url: str
    web_host: str
    web_port: str
    web_public_url: str
    web_port_explicit: bool = False

    @property
    def leader_live_index(self) -> bool:
        """Whether leaders see the live index of an open round."""
        return self.xtt_leader_live_index.strip().lower() in ("1", "true", "yes", "on")

    @property
    def admins(self) -> tuple[tuple[str, str], ...]:
        """The bootstrap officials as (channel, user id) pairs."""
        pairs = []
        for item in self.xtt_admins.split(","):
            channel, _, user = item.strip().partition(":")
            if channel and user:
                pairs.append((channel.strip(), user.strip()))
        return tuple(pairs)


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
    """Resolve settings from a .env file, the environment (which wins) and the defaults."""
    env = dict(read_dotenv(dotenv)) if dotenv else {}
    env.update(os.environ if environ is None else environ)
    values = {s.name.lower(): env.get(s.name) or s.default for s in SETTINGS}
    values["web_port_explicit"] = bool(env.get("WEB_PORT"))
    return Settings(**values)


def ensure_secret(settings: Settings) -> Settings:
    """Return settings with XTT_SECRET set, generating it into the data folder once."""
    if settings.xtt_secret:
        return settings
    folder = Path(settings.xtt_data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return replace(settings, xtt_secret=path.read_text().strip())
