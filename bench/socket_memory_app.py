"""The app as bench/socket_memory.py serves it: wsgi.app, plus a green thread that
answers the bench's snapshot requests from inside the worker (not for production).

SOCKET_MEMORY_DIR: where requests and answers are files; SOCKET_MEMORY_TRACE=1:
tracemalloc snapshots too; SOCKET_MEMORY_STOCK=1: python-engineio's own sockets
instead of app/library_hooks/engineio_sockets.py's.
"""

import gc
import os
import tracemalloc

import eventlet

from bench.greenlet_memory import rss_kib
from wsgi import app  # noqa: F401  (what gunicorn serves)

DIR = os.environ["SOCKET_MEMORY_DIR"]
if os.environ.get("SOCKET_MEMORY_STOCK"):
    import engineio.socket

    from app.library_hooks import engineio_sockets

    engineio.socket.Socket = engineio_sockets.DirectSocket.__mro__[1]
if os.environ.get("SOCKET_MEMORY_TRACE"):
    tracemalloc.start(12)


def answer_snapshot_requests():
    n = 0
    while True:
        eventlet.sleep(0.2)
        if os.path.exists(os.path.join(DIR, f"snap{n}.req")):
            gc.collect()
            if tracemalloc.is_tracing():
                tracemalloc.take_snapshot().dump(os.path.join(DIR, f"snap{n}.bin"))
            times = os.times()
            with open(os.path.join(DIR, f"snap{n}.tmp"), "w") as f:
                f.write(f"{rss_kib()} {times.user + times.system}")
            os.rename(os.path.join(DIR, f"snap{n}.tmp"), os.path.join(DIR, f"snap{n}.done"))
            n += 1


eventlet.spawn(answer_snapshot_requests)
