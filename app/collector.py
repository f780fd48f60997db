"""Full garbage collections that walk only what is new since the last one.

A worker holding 12,500 sockets keeps a few million objects that live as long
as their sockets. The interpreter starts a full collection each time the
objects that survived since the last one reach a quarter of those it kept
then, and each walks all of them: at that size about a second during which
the process does nothing else (no frame is written, no event handled), and
while sockets connect by the thousand one after another.

`install` has each full collection's survivors frozen (`gc.freeze`) as it ends,
so the next one walks only the objects made since. A frozen object is still
freed when its last reference goes; what no full collection sees is a
reference cycle among frozen objects that became garbage. So once the frozen
objects are `deep_growth` times as many as after the last collection that
walked them all (counted at most every COUNT_EVERY seconds, since a count
walks them), the next full collection starts with everything unfrozen
(`gc.unfreeze`) and walks it all: cyclic garbage waits at most that long, and
a process that keeps growing walks everything at each doubling instead of at
each quarter.
"""

import gc
import time
from collections.abc import Callable
from typing import Any

# Frozen objects, as a multiple of the count after the last deep collection,
# at which the next full collection walks everything again.
DEEP_GROWTH = 2.0
# Seconds between two counts of the frozen objects: a count walks them all
# (about 25 ms for 2 million), and full collections of only what is new come
# often; the growth is seen at most this late.
COUNT_EVERY = 10.0


class _Collector:
    def __init__(self, deep_growth: float, clock: Callable[[], float]) -> None:
        self.deep_growth = deep_growth
        self.clock = clock
        self.after_deep = gc.get_freeze_count()  # what the process froze at start
        self.frozen = self.after_deep  # as last counted
        self.counted_at = clock()
        self.deep = False
        self.deep_collections = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            now = self.clock()
            if now - self.counted_at < COUNT_EVERY:
                return
            self.counted_at = now
            self.frozen = gc.get_freeze_count()
            if self.frozen >= self.deep_growth * max(self.after_deep, 1):
                gc.unfreeze()  # this collection is a deep one
                self.deep = True
            return
        gc.freeze()  # the survivors: a full collection has just emptied the young generations
        if self.deep:
            self.deep = False
            self.after_deep = self.frozen = gc.get_freeze_count()
            self.deep_collections += 1


_installed: list[_Collector] = []


def install(deep_growth: float = DEEP_GROWTH, clock: Callable[[], float] = time.monotonic) -> None:
    """From now on each full collection freezes its survivors (0: stock
    collections, nothing frozen after this); call it once the process has
    frozen what it loaded at start."""
    uninstall()
    if deep_growth <= 0:
        return
    collector = _Collector(deep_growth, clock)
    gc.callbacks.append(collector)
    _installed.append(collector)


def uninstall() -> None:
    """Stock collections again (what is frozen stays frozen)."""
    while _installed:
        gc.callbacks.remove(_installed.pop())


def deep_collections() -> int:
    """Full collections that walked every object since `install`."""
    return _installed[0].deep_collections if _installed else 0


def deep_growth() -> float:
    """The installed `deep_growth`; 0 when the interpreter's own collections run."""
    return _installed[0].deep_growth if _installed else 0.0


def frozen_objects() -> int:
    """The frozen objects as last counted (at most COUNT_EVERY seconds ago, before
    the last full collection's survivors joined them), without walking them;
    counted now when the interpreter's own collections run."""
    return _installed[0].frozen if _installed else gc.get_freeze_count()
