"""What a parked green thread costs in memory, alone (no sockets, no app).

    python -m bench.greenlet_memory            # eventlet
    python -m bench.greenlet_memory gevent

An idle Socket.IO connection holds two: the connection's own (parked in
recv() under gunicorn, the WSGI middleware and the WebSocket handler) and
python-engineio's writer (parked on the socket's queue). This parks N green
threads at three depths and prints the RSS growth per thread, so that the
share of them in the "KiB per idle connection" figure can be told apart from
buffers and objects (docs/performance.md).
"""

import gc
import os
import sys


def rss_kib():
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Layer:
    """A callable object: calling it from Python recurses in C, as WSGI middleware does."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, *args):
        return self.inner(*args)


def frames(n, wait):
    return wait() if n == 0 else frames(n - 1, wait)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    mode = argv[0] if argv else "eventlet"
    n = int(argv[1]) if len(argv) > 1 else 4000
    if mode == "gevent":
        import gevent
        from gevent.event import Event

        spawn, sleep = gevent.spawn, gevent.sleep
    else:
        import eventlet
        from eventlet.event import Event

        spawn, sleep = eventlet.spawn, eventlet.sleep

    def parked(depth, layers):
        def run(event):
            call = lambda: frames(depth, event.wait)  # noqa: E731
            for _ in range(layers):
                call = Layer(call)
            return call()

        return run

    # A first round warms the allocator up; it is not printed.
    cases = [
        ("warm-up", 2, 0),
        ("2 frames (like the writer)", 2, 0),
        ("20 frames", 20, 0),
        ("20 frames under 8 callable layers (like the reader)", 20, 8),
    ]
    for label, depth, layers in cases:
        events = [Event() for _ in range(n)]
        sleep(0)
        gc.collect()
        before = rss_kib()
        threads = [spawn(parked(depth, layers), e) for e in events]
        sleep(0.2)
        gc.collect()
        grown = (rss_kib() - before) / n
        if label != "warm-up":
            print(f"{mode}: {label}: {grown:.1f} KiB per parked green thread")
        for e in events:
            e.send() if mode == "eventlet" else e.set()
        sleep(0.2)
        del threads


if __name__ == "__main__":
    main()
