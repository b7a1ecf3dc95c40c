"""The garbage collector's settings for a bot that runs for weeks."""

from __future__ import annotations

import gc

YOUNG = 10_000  # new container objects between young collections (Python's default is 700)


def settle() -> None:
    """Freeze what start-up built and collect young objects less often."""
    # Flows, the safety screen's patterns, the catalogue and SQLAlchemy's metadata live as long as the process:
    # frozen, they are not walked again by every full collection, which under load ran every few hundred updates.
    # An update's objects are young and short-lived: with a larger first threshold most die by reference count
    # before a collection looks at them.
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, 10, 10)
