"""`xtt safety check`: screen messages from stdin, one per line, and print what fired as JSON lines."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterable
from typing import TextIO

from conversations.safety import SIGNALS, Screen, SignalFileError


def check(lines: Iterable[str], out: TextIO, screen: Screen) -> int:
    """Write one JSON object per line read; return how many lines fired."""
    fired = 0
    for line in lines:
        text = line.rstrip("\r\n")
        found = screen.check(text)
        fired += bool(found.categories)
        out.write(json.dumps({"text": text, "categories": list(found.categories), "matched": list(found.matched)},
                             ensure_ascii=False) + "\n")
        out.flush()
    return fired


def main(args: argparse.Namespace) -> int:
    """xtt safety check [--signals FILE]: needs neither a database nor settings."""
    try:
        screen = Screen.load(args.signals or SIGNALS)
    except (OSError, SignalFileError) as exc:
        print(f"xtt: {exc}", file=sys.stderr)
        return 2
    source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", write_through=True)
    check(source, out, screen)
    out.detach()
    return 0
