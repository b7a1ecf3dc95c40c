"""A tiny text progress bar: redrawn in place on a terminal, one line per step elsewhere."""

from __future__ import annotations

import sys
from typing import TextIO

BAR = 24


class Progress:
    """Progress of a known number of steps, written to a stream (stderr by default)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        """Start at step 0 of `total`."""
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())

    def line(self, step_label: str) -> str:
        """The text shown after the current step."""
        if not self.tty:
            return f"{self.label}: {self.done}/{self.total} {step_label}".rstrip()
        filled = BAR * self.done // self.total
        return f"{self.label} [{'#' * filled}{'.' * (BAR - filled)}] {self.done}/{self.total} {step_label}".rstrip()

    def advance(self, step_label: str = "") -> None:
        """Count one step done and show it."""
        self.done = min(self.done + 1, self.total)
        if self.tty:
            end = "\n" if self.done == self.total else ""
            self.stream.write(f"\r\x1b[2K{self.line(step_label)}{end}")
        else:
            self.stream.write(self.line(step_label) + "\n")
        self.stream.flush()
