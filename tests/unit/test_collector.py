"""app/collector.py: full collections freeze their survivors, and a deep one
walks everything again once the frozen objects have grown `deep_growth` times."""

import gc
import weakref

import pytest

from app import collector


@pytest.fixture(autouse=True)
def stock_collections_after():
    yield
    collector.uninstall()
    gc.unfreeze()


class Node:
    pass


class Clock:
    """Moves past COUNT_EVERY at each reading: every full collection counts."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += collector.COUNT_EVERY
        return self.now


def test_a_full_collection_freezes_what_survives():
    collector.install(2.0, clock=Clock())
    gc.collect()
    gc.collect()  # the first deep one (nothing frozen at install in this process)
    frozen = gc.get_freeze_count()
    kept = [[] for _ in range(1000)]
    gc.collect()
    assert gc.get_freeze_count() >= frozen + len(kept)
    assert collector.deep_collections() == 1
    assert collector.deep_growth() == 2.0


def test_a_cycle_among_frozen_objects_waits_for_the_deep_collection():
    collector.install(2.0, clock=Clock())
    gc.collect()
    gc.collect()  # the first deep one (nothing frozen at install in this process)
    deep = collector.deep_collections()
    assert deep == 1
    node = Node()
    node.itself = node
    gone = weakref.ref(node)
    gc.collect()  # frozen with the survivors
    del node
    gc.collect()  # walks only what is new: the frozen cycle is not seen
    assert gone() is not None
    assert collector.deep_collections() == deep
    ballast = [[] for _ in range(gc.get_freeze_count() + 1)]
    gc.collect()  # frozen past twice the count after the deep one
    gc.collect()  # so this one walks everything
    assert collector.deep_collections() == deep + 1
    assert gone() is None
    del ballast


def test_the_frozen_objects_are_counted_at_most_every_count_every_seconds():
    now = [0.0]
    collector.install(2.0, clock=lambda: now[0])
    gc.collect()  # freezes everything: far past twice what was frozen at install
    gc.collect()  # but no count yet
    assert collector.deep_collections() == 0
    assert collector.frozen_objects() == 0  # as counted at install, not walked since
    now[0] = collector.COUNT_EVERY
    gc.collect()
    assert collector.deep_collections() == 1
    # counted after the deep one: as many as now, but for what refcounts freed since
    assert abs(collector.frozen_objects() - gc.get_freeze_count()) < 100


def test_zero_leaves_the_interpreters_collections():
    collector.install(0)
    frozen = gc.get_freeze_count()
    kept = [[] for _ in range(1000)]
    gc.collect()
    assert gc.get_freeze_count() == frozen
    assert collector.deep_collections() == 0
    assert collector.deep_growth() == 0
    del kept
