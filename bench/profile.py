"""Profiles an instance's worker under load with py-spy (from bench/requirements.txt).

    python -m bench.profile rest      # REST posts through nginx, 2 instances
    python -m bench.profile fanout    # one room of 200 clients, senders at a fixed rate
    python -m bench.profile sends --instances 1   # a room of 8, all sending, 150 messages/s
    python -m bench.profile connect   # connections opening and closing

Prints the functions with the most samples (inclusive and self) of instance 1's
worker and keeps the collapsed stacks (flamegraph input) in bench/results/raw/.
"""

import argparse
import asyncio
import collections
import functools
import os
import shutil
import subprocess
import sys
import time

from bench import load
from bench.fanout import run_step
from bench.httpclient import HttpConnection
from bench.targets import ROOT, make_target, raise_fd_limit, run_token


def summarize_collapsed(path, top=25):
    inclusive = collections.Counter()
    own = collections.Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            names = []
            for fr in frames:
                # "function (file:line)" -> "function (file)"
                name = fr.split(":")[0] + ")" if "(" in fr and ":" in fr else fr
                names.append(name)
            for name in set(names):
                inclusive[name] += n
            own[names[-1]] += n
    lines = [f"{total} samples"]
    lines.append("-- inclusive --")
    lines += [f"{100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(top)]
    lines.append("-- self --")
    lines += [f"{100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    return "\n".join(lines)


def pyspy(pid, seconds, out, native=False, gil=False):
    """gil: sample only the thread holding the GIL (CPU work, not blocking waits)."""
    exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    return subprocess.Popen(
        [
            exe,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "100",
            "-f",
            "raw",
            "-o",
            out,
            *(["--native"] if native else []),
            *(["--gil"] if gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def rest_load(target, tokens, seconds, concurrency=32, ready=lambda: None):
    room = f"prof-{run_token()}"
    await target.create_room(room, tokens[0])
    for t in tokens[1:]:
        await target.join_room(room, t)
    mapping = await load.probe_sources(target.host, target.port)
    placement = load.balanced(mapping, concurrency)
    ready()
    stop = time.monotonic() + seconds
    count = [0]

    async def worker(i, source):
        conn = HttpConnection(target.host, target.port, source=source)
        n = 0
        while time.monotonic() < stop:
            n += 1
            status, _, _ = await conn.request(
                "POST",
                f"/api/rooms/{room}/messages",
                {"body": f"profile {i} {n}", "client_id": f"p{i}-{n}"},
                tokens[i % len(tokens)],
            )
            count[0] += status == 201
        conn.close()

    await asyncio.gather(*(worker(i, s) for i, (_, s) in enumerate(placement)))
    return f"{count[0] / seconds:.1f} posts/s"


async def fanout_load(target, tokens, seconds, clients=200, rate=20.0, ready=lambda: None):
    room = f"prof-{run_token()}"
    await target.create_room(room, tokens[0])
    mapping = await load.probe_sources(target.host, target.port)
    placement = load.balanced(mapping, clients)
    conns = await load.connect_many(
        target.host,
        target.port,
        [(s, tokens[i % len(tokens)], {}) for i, (_, s) in enumerate(placement)],
    )
    for i, c in enumerate(conns):
        c.index = i
    await load.call_all(conns, "join", lambda c: {"room": room})
    ready()
    step = await run_step(target, room, conns, conns[:8], rate, seconds, "p0-", 10.0)
    load.close_all(conns)
    return (
        f"{step['deliveries_per_s']} deliveries/s, p50 {step['latency_ms']['p50']} ms, "
        f"p99 {step['latency_ms']['p99']} ms, app CPU {step['cpu_cores'].get('app')} cores"
    )


async def connect_load(target, tokens, seconds, ready=lambda: None):
    mapping = await load.probe_sources(target.host, target.port)
    ready()
    stop = time.monotonic() + seconds
    n = 0
    while time.monotonic() < stop:
        placement = load.balanced(mapping, 100)
        conns = await load.connect_many(
            target.host,
            target.port,
            [(s, tokens[i % len(tokens)], {}) for i, (_, s) in enumerate(placement)],
        )
        n += sum(1 for c in conns if not isinstance(c, Exception))
        load.close_all(conns)
        await asyncio.sleep(0.2)
    return f"{n / seconds:.0f} connects/s"


async def main_async(args):
    target = make_target(args.target, args.instances)
    target.start()
    try:
        tokens = await target.make_users(32, f"p{run_token()}")
        raw_dir = os.path.join(ROOT, "bench", "results", "raw")
        os.makedirs(raw_dir, exist_ok=True)
        out = os.path.join(
            raw_dir, f"profile-{args.scenario}-{args.target}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
        )
        spies = []

        def ready():
            spies.append(pyspy(target.worker_pid(1), args.seconds, out, args.native))

        load_fn = {
            "rest": rest_load,
            "fanout": fanout_load,
            "connect": connect_load,
            "sends": functools.partial(fanout_load, clients=8, rate=150.0),
        }
        summary = await load_fn[args.scenario](target, tokens, args.seconds + 1, ready=ready)
        spy = spies[0]
        spy.wait(60)
        print(f"load: {summary}")
        if os.path.exists(out):
            print(summarize_collapsed(out, args.top))
            print(f"collapsed stacks: {os.path.relpath(out, ROOT)}")
        else:
            print("py-spy wrote nothing:", spy.stderr.read().decode()[-500:])
    finally:
        target.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("rest", "fanout", "connect", "sends"))
    parser.add_argument("--target", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--native", action="store_true", help="C frames too (syscalls, libpq)")
    args = parser.parse_args(argv)
    raise_fd_limit()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
