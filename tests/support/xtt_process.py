"""Run the real `xtt` program in a child process for end-to-end tests.

`XttProcess` starts `python -m bot run`, waits until GET /healthz answers 200, and stops it with SIGKILL
(a crash) or SIGTERM (an orderly stop). Its output goes to a log file, so a failing test can show what the
bot said. `xtt_cli` (blocking) and `xtt_cli_async` run one-shot commands such as `round open 2024` or
`score --json` and return their standard output.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Every setting the program reads (see bot/settings.py): removed from the inherited environment, so a
# developer's own configuration never leaks into a test.
_OWN = ("DATABASE_URL", "XTT_", "TELEGRAM_", "ZALO_", "WEB_HOST", "WEB_PORT")


class XttError(AssertionError):
    """The program failed, exited early or was not ready in time; the message carries its output."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def xtt_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The inherited environment (PATH, HOME, ...) without xtt settings, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def _tail(text: str, limit: int = 6000) -> str:
    """The end of a long output."""
    return text if len(text) <= limit else "…" + text[-limit:]


def xtt_cli(env: Mapping[str, str], cwd: Path, *args: str, timeout: float = 60.0) -> str:
    """Run `python -m bot ARGS`, fail with its stderr unless it exits 0, and return its stdout."""
    done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=dict(env), capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise XttError(f"xtt {' '.join(args)} exited {done.returncode}\n--- stdout\n{_tail(done.stdout)}"
                       f"\n--- stderr\n{_tail(done.stderr)}")
    return done.stdout


async def xtt_cli_async(env: Mapping[str, str], cwd: Path, *args: str, timeout: float = 60.0) -> str:
    """`xtt_cli` without blocking the event loop (the Bot API stand-in may share it)."""
    return await asyncio.to_thread(xtt_cli, env, cwd, *args, timeout=timeout)


async def xtt_score(env: Mapping[str, str], cwd: Path, *args: str) -> dict[str, Any]:
    """`xtt score --json` parsed."""
    return json.loads(await xtt_cli_async(env, cwd, "score", "--json", *args))


class XttProcess:
    """One `xtt run` process: start, wait until ready, kill or terminate, show its log."""

    def __init__(self, env: Mapping[str, str], cwd: Path, port: int, *, name: str = "xtt") -> None:
        self.env = dict(env)
        self.cwd = Path(cwd)
        self.port = port
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = self.cwd / f"{name}.log"

    @property
    def url(self) -> str:
        """Root of the program's web server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start `python -m bot run`; its stdout and stderr are appended to the log file."""
        if self.running:
            raise XttError(f"{self.name} is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"===== start #{self.starts}\n".encode())
            log.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=self.cwd, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        """Everything the process wrote so far (all starts)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def failure(self, message: str) -> XttError:
        """An error carrying the end of the process output."""
        return XttError(f"{message}\n--- {self.name} output ({self.log_path})\n{_tail(self.output())}")

    async def wait_output(self, text: str, timeout: float = 10.0) -> None:
        """Wait until the process has written `text` (e.g. a log line) to its output."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                raise self.failure(f"{self.name} did not write {text!r} within {timeout}s")
            await asyncio.sleep(0.05)

    def _health(self) -> int | None:
        """Status of GET /healthz, or None when nothing answers."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1.0) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (OSError, ValueError):
            return None

    async def wait_ready(self, timeout: float = 30.0) -> float:
        """Poll /healthz until it answers 200; return the seconds waited. Fail if the process exits."""
        began = time.monotonic()
        deadline = began + timeout
        while True:
            if not self.running:
                code = self.proc.returncode if self.proc else None
                raise self.failure(f"{self.name} exited with {code} before it was ready")
            if await asyncio.to_thread(self._health) == 200:
                return time.monotonic() - began
            if time.monotonic() > deadline:
                raise self.failure(f"{self.name} was not ready within {timeout}s")
            await asyncio.sleep(0.05)

    async def start_ready(self, timeout: float = 30.0) -> float:
        """Start and wait until ready."""
        self.start()
        return await self.wait_ready(timeout)

    async def _wait_exit(self, timeout: float) -> int | None:
        """Wait for the process to exit; its code, or None on timeout."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)
        return self.proc.returncode

    async def kill(self) -> int:
        """SIGKILL: the process dies at once, as in a crash or power loss."""
        if not self.running:
            raise self.failure(f"{self.name} is not running")
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        code = await self._wait_exit(10.0)
        assert code is not None, "a SIGKILLed process did not exit"
        return code

    async def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait for the orderly exit; its code. Fails (after a SIGKILL) if it hangs."""
        if not self.running:
            raise self.failure(f"{self.name} is not running")
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await self._wait_exit(timeout)
        if code is None:
            self.proc.kill()
            await self._wait_exit(10.0)
            raise self.failure(f"{self.name} did not stop within {timeout}s of SIGTERM")
        return code

    def cleanup(self) -> None:
        """Kill the process if it still runs (test teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
