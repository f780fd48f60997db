"""Scale-out: what one chat message costs the cluster as instances are added.

    python -m bench.scaleout            # short: 2 and 4 instances
    python -m bench.scaleout --full     # 2, 4 and 8 instances
    python -m bench.scaleout --targets chat-sharded,node-sharded --instances 2,4

Targets: the chat with QUEUE_MODE=classic (python-socketio's RedisManager, one
Redis channel every instance reads) and sharded (one Redis channel per room,
app/library_hooks/redis_queue.py), and the Node Socket.IO peer with the Redis
adapter in its classic and sharded (createShardedAdapter) modes.

For each target and instance count, many rooms with two members each (a
sender and a reader, their sockets straight on chosen instances), in three
layouts:
- `one`: every room on instance 1; the other instances hold none of the
  rooms' sockets, so their CPU per message is the cost of a message to a room
  an instance does not serve (what the sharded queue removes);
- `spread1`: rooms spread over every instance, each room's members on one;
- `spread2`: the same, each room's members on two instances (sender on one,
  reader on the next).
Messages go round-robin over the rooms (acknowledged sends, a few in flight);
each instance's CPU (its gunicorn worker or node process, from psutil) and
Redis's are read before and after, less what the same process spends idle over
as long (measured just before). The machine is shared and has two cores, so
the figure is CPU time per message, not throughput; docs/capacity.md turns
it into a capacity model.

Results: bench/results/scaleout-<mode>.json and .md.
"""

import argparse
import asyncio
import datetime
import json
import os
import sys
import time
import uuid

import psutil

from bench import sio
from bench.load import close_all
from bench.stats import machine_load
from bench.targets import ROOT, ChatTarget, NodeTarget, log, run_token

RESULTS = os.path.join(ROOT, "bench", "results")
TARGETS = ("chat-classic", "chat-sharded", "node-classic", "node-sharded")
LAYOUTS = ("one", "spread1", "spread2")
MODES = {
    "short": {
        "instances": [2, 4],
        "rooms_per_instance": 4,
        "messages": 300,
        "in_flight": 8,
        "idle_seconds": 3.0,
    },
    "full": {
        "instances": [2, 4, 8],
        "rooms_per_instance": 6,
        "messages": 800,
        "in_flight": 8,
        "idle_seconds": 4.0,
    },
}


def make_target(name, instances):
    kind, mode = name.split("-")
    if kind == "chat":
        target = ChatTarget(instances, async_mode="eventlet", extra_env={"QUEUE_MODE": mode})
        target.name = name
        return target
    # The Node peer reads ADAPTER from its environment (bench/peers/node/server.js),
    # which NodeTarget passes on.
    os.environ["ADAPTER"] = mode
    target = NodeTarget(instances)
    target.name = name
    return target


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


class Meter:
    """CPU seconds per instance (and Redis) between start() and stop(), less the
    idle rate measured by idle()."""

    def __init__(self, target):
        self.instances = [[target.worker_pid(i)] for i in range(1, target.count + 1)]
        self.redis = target.components()["redis"]
        self.idle_rate = [0.0] * len(self.instances)
        self.redis_idle_rate = 0.0

    def _read(self):
        return [cpu_seconds(p) for p in self.instances], cpu_seconds(self.redis)

    async def idle(self, seconds):
        before, redis_before = self._read()
        started = time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - started
        after, redis_after = self._read()
        self.idle_rate = [(a - b) / wall for a, b in zip(after, before)]
        self.redis_idle_rate = (redis_after - redis_before) / wall

    def start(self):
        self.before, self.redis_before = self._read()
        self.started = time.monotonic()

    def stop(self):
        wall = time.monotonic() - self.started
        after, redis_after = self._read()
        per_instance = [
            max(0.0, a - b - rate * wall) for a, b, rate in zip(after, self.before, self.idle_rate)
        ]
        redis = max(0.0, redis_after - self.redis_before - self.redis_idle_rate * wall)
        return wall, per_instance, redis


def placement(layout, rooms, n):
    """[(sender instance, reader instance)] (0-based) for each room."""
    out = []
    for k in range(rooms):
        home = 0 if layout == "one" else k % n
        reader = (home + 1) % n if layout == "spread2" else home
        out.append((home, reader))
    return out


async def run_layout(target, layout, cfg, tokens, tag):
    n = target.count
    rooms = cfg["rooms_per_instance"] * n
    places = placement(layout, rooms, n)
    ports = target.instance_ports()
    names = [f"so{tag}{layout}-{k}" for k in range(rooms)]
    for k, name in enumerate(names):
        await target.create_room(name, tokens[2 * k])
        await target.join_room(name, tokens[2 * k + 1])

    received = [0] * rooms

    def on_message(k):
        def count(client, raw):
            received[k] += 1

        return count

    senders, readers = [], []
    try:
        for k, (home, other) in enumerate(places):
            senders.append(
                await sio.connect(target.host, ports[home], auth={"token": tokens[2 * k]})
            )
            readers.append(
                await sio.connect(
                    target.host,
                    ports[other],
                    auth={"token": tokens[2 * k + 1]},
                    on_message=on_message(k),
                )
            )
        for k, name in enumerate(names):
            for client in (senders[k], readers[k]):
                ack = await client.call("join", {"room": name})
                if not (ack or {}).get("ok"):
                    raise RuntimeError(f"join {name} failed: {ack}")

        meter = Meter(target)
        await meter.idle(cfg["idle_seconds"])
        meter.start()
        queue = list(range(cfg["messages"]))
        failures = []

        async def sender_loop():
            while queue:
                i = queue.pop()
                k = i % rooms
                ack = await senders[k].call(
                    "send", {"room": names[k], "body": f"m{i}", "client_id": uuid.uuid4().hex}
                )
                if not (ack or {}).get("ok"):
                    failures.append(ack)

        await asyncio.gather(*(sender_loop() for _ in range(cfg["in_flight"])))
        expected = cfg["messages"] - len(failures)
        deadline = time.monotonic() + 30
        while sum(received) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        wall, per_instance, redis = meter.stop()
    finally:
        close_all(senders + readers)
    sent = cfg["messages"]
    homes = {home for home, _ in places} | {other for _, other in places}
    foreign = [per_instance[i] for i in range(n) if i not in homes]
    return {
        "layout": layout,
        "instances": n,
        "rooms": rooms,
        "messages": sent,
        "failed_sends": len(failures),
        "delivered": sum(received),
        "wall_s": round(wall, 2),
        "app_cpu_us_per_message": round(sum(per_instance) / sent * 1e6, 1),
        "redis_cpu_us_per_message": round(redis / sent * 1e6, 1),
        "instance_cpu_us_per_message": [round(c / sent * 1e6, 1) for c in per_instance],
        # Instances with none of the rooms' sockets (layout `one` only).
        "foreign_cpu_us_per_message": (
            round(sum(foreign) / len(foreign) / sent * 1e6, 1) if foreign else None
        ),
    }


async def run_target(name, n, cfg):
    target = make_target(name, n)
    results = []
    with target:
        tag = run_token()
        rooms = cfg["rooms_per_instance"] * n
        tokens = await target.make_users(2 * rooms * len(LAYOUTS), f"so{tag}")
        for index, layout in enumerate(LAYOUTS):
            part = tokens[index * 2 * rooms : (index + 1) * 2 * rooms]
            log(f"scaleout: {name} x{n} {layout}")
            result = await run_layout(target, layout, cfg, part, tag)
            result["target"] = name
            log(f"scaleout: {json.dumps(result)}")
            results.append(result)
    return results


def write(mode, results, cfg):
    os.makedirs(RESULTS, exist_ok=True)
    doc = {
        "mode": mode,
        "config": cfg,
        "machine": machine_load(),
        "recorded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "results": results,
    }
    with open(os.path.join(RESULTS, f"scaleout-{mode}.json"), "w") as f:
        json.dump(doc, f, indent=2)
    lines = [
        f"# Scale-out: CPU per message ({mode})",
        "",
        f"Recorded {doc['recorded_at']} on a shared {doc['machine']['cores']}-core machine "
        f"(load {doc['machine']['loadavg_1m']}); CPU time per message in microseconds, "
        "idle CPU subtracted. `foreign` is the average over the instances that hold "
        "none of the rooms' sockets (layout `one`).",
        "",
        "| target | instances | layout | app CPU/msg | foreign instance CPU/msg | "
        "Redis CPU/msg | per instance | delivered/sent |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['target']} | {r['instances']} | {r['layout']} | "
            f"{r['app_cpu_us_per_message']:.0f} | "
            f"{'' if r['foreign_cpu_us_per_message'] is None else round(r['foreign_cpu_us_per_message'])} | "
            f"{r['redis_cpu_us_per_message']:.0f} | "
            f"{' / '.join(str(round(c)) for c in r['instance_cpu_us_per_message'])} | "
            f"{r['delivered']}/{r['messages']} |"
        )
    with open(os.path.join(RESULTS, f"scaleout-{mode}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--instances", default=None, help="e.g. 2,4,8")
    args = parser.parse_args(argv)
    mode = "full" if args.full else "short"
    cfg = dict(MODES[mode])
    if args.instances:
        cfg["instances"] = [int(x) for x in args.instances.split(",")]
    results = []
    for n in cfg["instances"]:
        for name in args.targets.split(","):
            results.extend(asyncio.run(run_target(name, n, cfg)))
            write(mode, results, cfg)  # keep what is done if a later run fails
    print("\n".join(write(mode, results, cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
