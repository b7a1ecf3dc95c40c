"""The one reader of the tables the office brings (CSV or XLSX): encodings and disguised files said plainly."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

from conversations.datafile import DataFileError

ZIP = b"PK\x03\x04"  # an .xlsx is a zip file


class TableError(DataFileError):
    """A table file cannot be read; the message names the file and the fix."""


def read_table(path: Path) -> list[list[str]]:
    """The rows of a CSV (UTF-8, UTF-16 or Windows-1258; comma, semicolon or tab) or of an XLSX's first sheet."""
    if not path.is_file():
        raise TableError(path, "file", f"{path} not found" if not path.exists() else f"{path} is not a file",
                         "check the path and the file name")
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise TableError(path, "file", "the old .xls format cannot be read", "save it again as .xlsx or as CSV UTF-8")
    if suffix in (".xlsx", ".xlsm") or raw.startswith(ZIP):
        if not raw.startswith(ZIP):
            raise TableError(path, "file", "it is named .xlsx but is not an Excel workbook (it looks like text)",
                             "save it from Excel as .xlsx, or rename it .csv if it is a CSV")
        return _sheet(path)
    return _csv(path, _decode(path, raw))


def _sheet(path: Path) -> list[list[str]]:
    """The first sheet of a workbook, as text."""
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        return [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
    except Exception as exc:  # openpyxl raises zip, XML and key errors for a damaged file
        raise TableError(path, "file", f"the workbook cannot be opened ({type(exc).__name__})",
                         "open it in Excel and save it again as .xlsx") from None


def _decode(path: Path, raw: bytes) -> str:
    """Text in whatever encoding Vietnamese offices save CSV files in."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:  # Excel's "CSV" in Vietnamese Windows: Windows-1258, with tone marks as combining characters
        return unicodedata.normalize("NFC", raw.decode("cp1258"))
    except UnicodeDecodeError:
        raise TableError(path, "file", "the text encoding is not UTF-8, UTF-16 or Windows-1258",
                         "save it from Excel as 'CSV UTF-8 (Comma delimited)', or as .xlsx") from None


def _csv(path: Path, text: str) -> list[list[str]]:
    """Rows of CSV text, with the delimiter its first line uses."""
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise TableError(path, "file", f"it is not a readable CSV ({exc})", "save it again as CSV UTF-8") from None
