"""CPU-heavy work off the event loop, in a real OS thread.

Under eventlet or gevent every request of a worker shares one OS thread: a
second of image decoding there would stall every socket of the instance. `run`
hands such work to the green library's pool of real threads (eventlet.tpool,
gevent's hub threadpool) and waits for it cooperatively; without either (the
threading mode of the CLI and the unit tests) it just calls the function.
The function must not touch the database session or anything else bound to
the calling green thread.
"""

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _green_library() -> str | None:
    """Which library has monkey-patched threading in this process, if any (it is
    never imported here: only looked up among what is loaded)."""
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        return "eventlet"
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return "gevent"
    return None


def run(function: Callable[..., T], *args: Any) -> T:
    """function(*args) in a real thread; exceptions are raised here, as a call's would be."""
    library = _green_library()
    if library == "eventlet":
        from eventlet import tpool

        return tpool.execute(function, *args)
    if library == "gevent":
        import gevent

        return gevent.get_hub().threadpool.apply(function, args)
    return function(*args)
