"""Profiles an instance's worker under load with py-spy (from bench/requirements.txt).

    python -m bench.profile rest      # REST posts through nginx, 2 instances
    python -m bench.profile fanout    # one room of 200 clients, senders at a fixed rate
    python -m bench.profile sends --instances 1   # a room of 8, all sending, 150 messages/s
    python -m bench.profile connect   # connections opening and closing
    python -m bench.profile reconnect --instances 1   # as in a reconnect storm: each
        # client connects, joins its 3 rooms and syncs each from 10 messages back

The reconnect scenario also prints the worker's CPU per reconnect (its CPU
time over the load divided by the reconnects completed).

Prints the functions with the most samples (inclusive and self) of instance 1's
worker and keeps the collapsed stacks (flamegraph input) in bench/results/raw/.
"""

import argparse
import asyncio
import collections
import functools
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil

from bench import load
from bench.fanout import run_step
from bench.httpclient import HttpConnection
from bench.targets import ROOT, make_target, raise_fd_limit, run_token


def summarize_collapsed(path, top=25):
    inclusive = collections.Counter()
    own = collections.Counter()
    total = 0
    with open(path, errors="replace") as f:  # py-spy may write undecodable names
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
            # Without it py-spy stops the process for every sample, which here froze
            # the worker for good (connects timed out until py-spy ended).
            "--nonblocking",
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


RECONNECT_ROOMS = 3
RECONNECT_MISSED = 10  # messages each sync returns


async def reconnect_load(target, tokens, seconds, ready=lambda: None, batch=100):
    """Batches of `batch` clients, each doing what a client does after its
    instance went away: connect, join its rooms, sync each from where it was."""
    rooms = [f"prof-{run_token()}-{n}" for n in range(RECONNECT_ROOMS)]
    conn = HttpConnection(target.host, target.port, timeout=30)
    after = {}
    try:
        for room in rooms:
            await target.create_room(room, tokens[0])
            for t in tokens[1:]:
                await target.join_room(room, t, conn)
            ids = []
            for n in range(3 * RECONNECT_MISSED):
                sent = await conn.json(
                    "POST",
                    f"/api/rooms/{room}/messages",
                    {"body": f"history {n}", "client_id": f"h-{room}-{n}"},
                    tokens[n % len(tokens)],
                )
                ids.append(sent["id"])
            after[room] = ids[-RECONNECT_MISSED - 1]
    finally:
        conn.close()
    mapping = await load.probe_sources(target.host, target.port)
    worker = psutil.Process(target.worker_pid(1))
    ready()
    cpu = worker.cpu_times()
    started = time.monotonic()
    stop = started + seconds
    done = 0
    problems = []  # what failed: connects' exceptions, error acks
    while time.monotonic() < stop:
        placement = load.balanced(mapping, batch)
        conns = await load.connect_many(
            target.host,
            target.port,
            [(s, tokens[i % len(tokens)], {}) for i, (_, s) in enumerate(placement)],
        )
        live = [c for c in conns if not isinstance(c, Exception)]
        problems += [repr(c) for c in conns if isinstance(c, Exception)]
        # Every room joined, then every room synced, as the clients of a storm do.
        for event in ("join", "sync"):
            for room in rooms:
                payload = {"room": room}
                if event == "sync":
                    payload.update(after=after[room], limit=100)
                acks = await load.call_all(live, event, lambda c, payload=payload: payload)
                problems += [repr(a) for a in acks if not (isinstance(a, dict) and a.get("ok"))]
        done += len(live)
        load.close_all(conns)
    elapsed = time.monotonic() - started
    used = worker.cpu_times()
    cpu_s = (used.user + used.system) - (cpu.user + cpu.system)
    # The clients are spread evenly over the instances (all on it with --instances 1).
    per = cpu_s / (done / len(mapping)) * 1000 if done else float("nan")
    return (
        f"{done / elapsed:.1f} reconnects/s ({len(problems)} connects or calls failed"
        f"{', the first: ' + problems[0][:200] if problems else ''}); "
        f"instance 1's worker: {per:.2f} ms of CPU per reconnect "
        f"({RECONNECT_ROOMS} joins, {RECONNECT_ROOMS} syncs of {RECONNECT_MISSED} messages)"
    )


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
            "reconnect": reconnect_load,
            "sends": functools.partial(fanout_load, clients=8, rate=150.0),
        }
        summary = await load_fn[args.scenario](target, tokens, args.seconds + 1, ready=ready)
        print(f"load: {summary}", flush=True)
        spy = spies[0]
        try:
            spy.wait(args.seconds + 60)
        except subprocess.TimeoutExpired:  # Ctrl-C makes py-spy write what it has
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        if os.path.exists(out):
            print(summarize_collapsed(out, args.top))
            print(f"collapsed stacks: {os.path.relpath(out, ROOT)}")
        else:
            print("py-spy wrote nothing:", spy.stderr.read().decode()[-500:])
    finally:
        target.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("rest", "fanout", "connect", "reconnect", "sends"))
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
