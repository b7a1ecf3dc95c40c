"""`python -m bot run` with PTB's HTTP pool for Bot API calls pinned to BENCH_POOL connections.

A what-if for `bench.telegram_e2e --pool N`: in this process only (the product's files are not changed), every
PTB HTTPXRequest asked for a pool of more than one connection gets N instead; a getUpdates pool of 1 stays.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

from telegram.request import HTTPXRequest

SIZE = int(os.environ["BENCH_POOL"])
_init = HTTPXRequest.__init__


def init(self: HTTPXRequest, *args: Any, connection_pool_size: int = 256, **kwargs: Any) -> None:
    """HTTPXRequest.__init__ with the pool pinned (PTB's default pool is 256)."""
    if args:  # connection_pool_size is PTB's first positional parameter
        connection_pool_size, args = args[0], args[1:]
    _init(self, *args, connection_pool_size=SIZE if connection_pool_size > 1 else connection_pool_size, **kwargs)


HTTPXRequest.__init__ = init  # type: ignore[method-assign]
sys.argv = ["bot", "run"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
