"""The README, .env.example and .ci/run stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import SETTINGS, SettingError, load, read_dotenv

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> list[str]:
    """The shell blocks of the README, in order."""
    return re.findall(r"```sh\n(.*?)\n```", README, re.S)


def test_readme_leads_with_install_run_and_install_test() -> None:
    run, test = commands()[:2]
    assert run.endswith("xtt run") and "pip install ." in run
    assert "pip install" in test and test.endswith("pytest -q")


def test_ci_runs_the_readme_test_command() -> None:
    assert commands()[1] in (ROOT / ".ci" / "run").read_text()


def test_env_example_lists_every_setting_with_its_default_and_help() -> None:
    example = read_dotenv(ROOT / ".env.example")
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert example.get(setting.name) == setting.default, setting.name
        assert f"# {setting.help}\n{setting.name}=" in text


def test_readme_documents_every_setting() -> None:
    for setting in SETTINGS:
        assert f"`{setting.name}`" in README, setting.name


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("XTT_LOCALE=en\nTELEGRAM_BOT_TOKEN='abc'\n# WEB_PORT=1\n")
    settings = load({"XTT_LOCALE": "vi", "XTT_ADMINS": "telegram:1, zalo_bot:ab ,"}, dotenv)
    assert settings.xtt_locale == "vi" and settings.telegram_bot_token == "abc"
    assert settings.admins == (("telegram", "1"), ("zalo_bot", "ab"))
    assert settings.web_port == 8080 and not settings.web_port_explicit
    assert settings.database_url == f"sqlite+aiosqlite:///{Path('data') / 'xtt.sqlite3'}"


@pytest.mark.parametrize("name, value", [
    ("XTT_REMIND_DAYS", "abc"), ("XTT_REMIND_DAYS", "-3"), ("DATABASE_URL", "postgres://x@y/z"),
    ("DATABASE_URL", "not a url"), ("XTT_SEND_RATE", "0"), ("XTT_LOCALE", "fr"), ("WEB_PORT", "99999"),
    ("XTT_ADMINS", "12345"), ("TELEGRAM_API_URL", "api.telegram.org"), ("ZALO_BOT_WEBHOOK_SECRET", "short"),
])
def test_a_bad_setting_is_named_in_one_line_with_the_fix(name: str, value: str) -> None:
    with pytest.raises(SettingError) as caught:
        load({name: value}, None)
    message = str(caught.value)
    assert message.startswith(f"{name}=") and "\n" not in message


def test_a_bad_setting_stops_the_cli_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "XTT_REMIND_DAYS": "abc", "XTT_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "bot", "score"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stderr.startswith("xtt: XTT_REMIND_DAYS='abc'")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def figures_table(text: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table under `heading`, up to the next heading."""
    section = text.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    rows: list[str] = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append(line.strip())
        elif rows:
            break
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]  # skip the header and |---|


def test_readme_and_bench_readme_tell_the_same_figures() -> None:
    ours = figures_table(README, "## Performance")
    bench = figures_table((ROOT / "bench" / "README.md").read_text(encoding="utf-8"), "## Figures")
    assert ours and all(len(row) == 5 for row in ours), "README: | benchmark | xtt | baseline | ratio | target |"
    assert {row[0]: row for row in bench} == {row[0]: row for row in ours}
    assert len(bench) == len(ours)


def test_a_figure_changed_in_one_readme_is_caught() -> None:
    ours = figures_table(README, "## Performance")
    changed = README.replace(f"| {ours[0][3]} |", f"| {ours[0][3]}9 |", 1)
    assert figures_table(changed, "## Performance") != ours
