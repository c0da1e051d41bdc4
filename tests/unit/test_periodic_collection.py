"""The aggregator turns automatic garbage collection off; cycles are still collected, between
batches, once the period is over (services/aggregator/memory.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from services.aggregator.memory import PeriodicCollection


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    """A two-object cycle nothing else refers to: only the cyclic collector can free it."""
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)


@pytest.fixture
def automatic_collection_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("automatic_collection_off")
def test_a_cycle_waits_for_the_period_then_is_collected() -> None:
    collection = PeriodicCollection(every_seconds=3600)
    alive = _cycle()
    assert not collection.collect_if_due()
    assert alive() is not None
    collection.every_seconds = 0
    assert collection.collect_if_due()
    assert alive() is None


def test_nothing_is_collected_by_hand_while_automatic_collection_runs() -> None:
    assert gc.isenabled()
    assert not PeriodicCollection(every_seconds=0).collect_if_due()
