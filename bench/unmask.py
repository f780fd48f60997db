"""CPU to unmask one client WebSocket frame under eventlet: eventlet's own
`RFC6455WebSocket._apply_mask` against `app.library_hooks.engineio_sockets.unmask`,
which the eventlet worker installs in its place (docs/performance.md, "Limits").

    python -m bench.unmask

Every frame a client sends is masked (RFC 6455 5.3): a Socket.IO `send` of a
short message is about 150 bytes, and 64 KiB is the largest frame an instance
takes (max_http_buffer_size). Prints the best of five timings for each size
and the ratio.
"""

import os
import sys
import timeit
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet's deprecation notice, on import
    from eventlet.websocket import RFC6455WebSocket

from app.library_hooks.engineio_sockets import unmask

SIZES = (150, 1024, 65536)
MASK = (0x37, 0xFA, 0x21, 0x3D)  # as _recv_frame unpacks it: four ints


def best_seconds(func, data, budget=0.2):
    """The best of five timings of one call, each over enough calls to take ~budget s."""
    once = timeit.timeit(lambda: func(data, MASK, length=len(data), offset=1), number=1)
    number = max(1, int(budget / max(once, 1e-7)))
    runs = timeit.repeat(
        lambda: func(data, MASK, length=len(data), offset=1), number=number, repeat=5
    )
    return min(runs) / number


def main():
    eventlets = RFC6455WebSocket.__dict__["_apply_mask"].__func__
    if eventlets is unmask:
        sys.exit("eventlet's _apply_mask is already replaced in this process")
    print(f"{'frame':>10}  {'eventlet':>12}  {'unmask':>10}  ratio")
    for size in SIZES:
        data = os.urandom(size)
        assert unmask(data, MASK, size, 1) == eventlets(data, MASK, size, 1)
        before = best_seconds(eventlets, data)
        after = best_seconds(unmask, data)
        print(
            f"{size:>8} B  {before * 1e6:>9.1f} µs  {after * 1e6:>7.2f} µs  {before / after:.0f}×"
        )


if __name__ == "__main__":
    main()
