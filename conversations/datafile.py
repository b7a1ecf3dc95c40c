"""The one reader of the TOML data files the office edits (flows, texts, forum, safety, rubric, criteria)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class DataFileError(ValueError):
    """A data file is wrong; the message names the file, the place and the fix: "FILE: PLACE: PROBLEM. Fix: FIX"."""

    def __init__(self, path: Path | str, item: str = "", problem: str = "", fix: str = "") -> None:
        super().__init__(f"{Path(path).name}: {item}: {problem}. Fix: {fix}" if item else str(path))


def read_toml(path: Path, what: str = "data file", error: type[DataFileError] = DataFileError) -> dict[str, Any]:
    """Parse a TOML file, or fail (with `error`, a kind of DataFileError) saying which file, where and the fix."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(path, "file", f"{what} not found ({path})", "give the path of an existing file") \
            from None
    except IsADirectoryError:
        raise error(path, "file", f"{path} is a folder", f"give the path of the {what} itself") from None
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise error(path, "file", "it is not UTF-8 text", f"save the {what} as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(path, "file", f"it is not valid TOML ({exc})", "correct the syntax at that line") \
            from None
