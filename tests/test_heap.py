"""The collector's settings once the bot is ready: start-up's objects frozen, young collections less often."""

from __future__ import annotations

import gc

from bot import heap


def test_settle_freezes_what_exists_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    kept = [["built at start-up"]]  # a list is always tracked by the collector
    assert any(o is kept[0] for o in gc.get_objects())
    try:
        heap.settle()
        assert gc.get_threshold() == (heap.YOUNG, 10, 10)
        assert gc.get_freeze_count() > 0
        assert not any(o is kept[0] for o in gc.get_objects())  # frozen: no collection walks it
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert any(o is kept[0] for o in gc.get_objects())
