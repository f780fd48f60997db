"""What an idle Socket.IO connection holds in a real eventlet worker.

    python -m bench.socket_memory                 # 1,000 idle sockets: worker RSS per socket
    python -m bench.socket_memory --trace         # and where the traced part of it is
    python -m bench.socket_memory --stock         # with python-engineio's own sockets

Starts the embedded chat (SQLite in a temporary directory, no Redis) under
gunicorn's eventlet worker on a free loopback port, opens 50 WebSocket
connections to warm it up, asks the worker for its RSS and CPU time (and, with
--trace, a tracemalloc snapshot), opens N more one after another, asks again,
and prints the growth per socket and the worker's CPU per connect (a
WebSocket handshake and a Socket.IO CONNECT with a token; no Redis). With
--trace the RSS includes tracemalloc's own overhead: read the traced lines
for where the memory is, the run without --trace for how much.
The stacks greenlet keeps of parked green threads are traced (the C part);
the Python data stack chunks each green thread gets are not.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc

import requests
import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from localservices import free_port, wait_for_port  # noqa: E402


def wait_for(path, timeout=60):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"socket_memory: no {os.path.basename(path)} within {timeout}s")
        time.sleep(0.05)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="idle sockets to open (1,000)")
    parser.add_argument("--trace", action="store_true", help="tracemalloc: where it is")
    parser.add_argument("--stock", action="store_true", help="python-engineio's own sockets")
    parser.add_argument("--top", type=int, default=20, help="traced lines to print (20)")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="socket-memory-")
    port = free_port()
    bin_dir = os.path.dirname(sys.executable)
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{work}/chat.db",
        REDIS_URL="",
        ASYNC_MODE="eventlet",
        HOST="127.0.0.1",
        PORT=str(port),
        CONNECT_RATE_LIMIT="1000000 per minute",
        AUTH_RATE_LIMIT="1000 per minute",
        SOCKET_MEMORY_DIR=work,
        PYTHONPATH=ROOT,
        SOCKET_MEMORY_TRACE="1" if args.trace else "",
        SOCKET_MEMORY_STOCK="1" if args.stock else "",
    )
    subprocess.run(
        [os.path.join(bin_dir, "flask"), "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    log = open(os.path.join(work, "gunicorn.log"), "w")
    server = subprocess.Popen(
        [
            os.path.join(bin_dir, "gunicorn"),
            "-c",
            "python:app.gunicorn_conf",
            "bench.socket_memory_app:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    sockets = []
    try:
        base = f"http://127.0.0.1:{port}"
        # The master listens first; the first request then waits for the worker.
        wait_for_port(port, proc=server, what="gunicorn", log=log.name)
        account = {"username": "memory1", "password": "password123"}
        requests.post(base + "/api/auth/register", json=account, timeout=30)
        token = requests.post(base + "/api/auth/login", json=account, timeout=10).json()["token"]

        def connect():
            ws = websocket.create_connection(
                f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", timeout=10
            )
            assert ws.recv().startswith("0{")
            ws.send("40" + json.dumps({"token": token}))
            frame = ws.recv()
            assert frame.startswith("40{"), frame
            sockets.append(ws)

        def snapshot(k):
            open(os.path.join(work, f"snap{k}.req"), "w").close()
            wait_for(os.path.join(work, f"snap{k}.done"))
            with open(os.path.join(work, f"snap{k}.done")) as f:
                rss, cpu = f.read().split()
            return int(rss), float(cpu)

        for _ in range(50):
            connect()
        time.sleep(1)
        before, cpu_before = snapshot(0)
        for _ in range(args.n):
            connect()
        time.sleep(1)
        after, cpu_after = snapshot(1)
        kind = "python-engineio's sockets" if args.stock else "DirectSocket"
        print(
            f"{kind}: worker RSS +{(after - before) / args.n:.1f} KiB per idle socket "
            f"({args.n} sockets{', tracemalloc on' if args.trace else ''}); worker CPU "
            f"{(cpu_after - cpu_before) / args.n * 1000:.2f} ms per connect, one at a time"
        )
        if args.trace:
            first = tracemalloc.Snapshot.load(os.path.join(work, "snap0.bin"))
            second = tracemalloc.Snapshot.load(os.path.join(work, "snap1.bin"))
            stats = second.compare_to(first, "lineno")
            total = sum(s.size_diff for s in stats)
            print(f"traced: +{total / args.n / 1024:.1f} KiB per socket; the largest lines:")
            for s in stats[: args.top]:
                frame = s.traceback[0]
                where = frame.filename.split("site-packages/")[-1].replace(ROOT + "/", "")
                print(
                    f"  {s.size_diff / args.n:7.0f} B  {s.count_diff / args.n:5.1f} blocks  "
                    f"{where}:{frame.lineno}"
                )
    finally:
        for ws in sockets:
            ws.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
