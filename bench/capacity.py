"""Capacity: 100,000 idle sockets held, a 10,000-member room, chatter in small
rooms, and a reconnect storm of one instance's sockets (`make bench-capacity`).

    python -m bench.capacity                                   # the full size
    python -m bench.capacity --sockets 20000 --targets eventlet,node --hold-s 30

For each target in turn (the chat under eventlet and gevent, the Node peer),
behind the same nginx config:

1. hold: every user connects (authenticated WebSocket) and joins its 3 rooms
   (one of `--big-room` members, two of about `--small-room`); then they sit
   idle (Engine.IO pings, the app's presence heartbeat) for `--hold-s`;
2. big room: one message a second into one big room; send→receipt latency
   of every delivery, and none lost;
3. chatter: small rooms at rising message rates until p99 passes 250 ms;
4. storm: SIGKILL of the instance holding the most sockets, sends going on;
   its clients reconnect (socket.io-client's backoff), re-join and `sync`.

Users, rooms and memberships are written straight into PostgreSQL
(`setup_users`: registering 100,000 users through the API would take hours at
the password hash's cost), and tokens are signed the way app/auth.py signs
them, with the cluster's secret. Clients live in several load-generator
processes (bench/capacity_worker.py), each binding its sockets to its own
loopback /24s; nginx runs enough workers (with `reuseport`) that no process
passes its open-file limit. `check_machine` says before anything starts
whether this machine can hold the asked size.
"""

import argparse
import asyncio
import datetime
import json
import math
import os
import resource
import secrets
import signal
import sys
import tempfile
import time
import urllib.request
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.httpclient import HttpConnection
from bench.stats import summarize
from bench.targets import (
    ROOT,
    log,
    make_target,
    nginx_config,
    raise_fd_limit,
    rss_kib,
    tree,
)

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from localservices import Nginx, free_port  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "capacity")
# Budgets per process, below the open-file limit with room for everything else.
SOCKETS_PER_INSTANCE = 12_500
FD_SLACK = 1_000
# Memory a socket takes over every hop (app worker, nginx's two connections,
# the kernel's buffers for three TCP sockets, the load generator), an upper
# bound from the short run's 49 KiB per socket under gevent; and a base.
EST_KIB_PER_SOCKET = 110
BASE_MIB = 3_000

GOALS = {
    "kib_per_socket": {"eventlet": 16.0, "gevent": 24.0},
    "idle_cpu_cores": 0.25,
    "big_room_p99_ms": 500.0,
    "chatter_p99_ms": 250.0,
    "storm_p99_s": 30.0,
    "storm_vs_peer": 1.5,
}


# --- the plan and the machine check --------------------------------------------


def plan(sockets: int, instances: int | None, fd_hard: int) -> dict[str, int]:
    """How many app instances, nginx workers and load-generator processes the
    size needs, so that no process passes `fd_hard` open files."""
    usable = fd_hard - FD_SLACK
    per_instance = min(SOCKETS_PER_INSTANCE, usable)
    n = instances or max(2, math.ceil(sockets / per_instance))
    if instances is None:
        while math.ceil(sockets / (n - 1) * 1.1) > usable:
            n += 1
    # nginx: each proxied WebSocket holds two descriptors; reuseport spreads
    # connections by hash, so leave a fifth for an uneven share.
    nginx_conns = min(19_000, usable)
    nginx_workers = max(1, math.ceil(sockets * 2 * 1.25 / nginx_conns))
    loadgen_per_proc = min(12_500, usable - 1_000)
    loadgen = max(1, math.ceil(sockets / loadgen_per_proc))
    return {
        "instances": n,
        "nginx_workers": nginx_workers,
        "nginx_worker_connections": nginx_conns,
        "loadgen_processes": loadgen,
        "sockets_per_instance": math.ceil(sockets / n),
        # After the storm, the killed instance's share goes to the others.
        "sockets_per_instance_after_storm": math.ceil(sockets / max(1, n - 1) * 1.1),
    }


def read_int_file(path: str) -> list[int]:
    with open(path) as f:
        return [int(x) for x in f.read().split()]


def check_machine(sockets: int, p: dict[str, int]) -> list[str]:
    """What this machine lacks for the plan (empty: it can run it)."""
    problems = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = hard if hard != resource.RLIM_INFINITY else 1 << 20
    worst = max(p["sockets_per_instance_after_storm"], p["sockets_per_instance"])
    if worst + FD_SLACK > hard:
        problems.append(
            f"an app instance would hold up to {worst:,} sockets after the storm, over the "
            f"open-file limit of {hard:,} per process: run more instances (--instances)"
        )
    low, high = read_int_file("/proc/sys/net/ipv4/ip_local_port_range")
    ports = high - low + 1
    if worst > ports:
        problems.append(
            f"nginx opens up to {worst:,} connections from 127.0.0.1 to one instance's port, "
            f"more than the {ports:,} ephemeral ports ({low}-{high}): run more instances"
        )
    file_max = read_int_file("/proc/sys/fs/file-max")[0]
    if sockets * 4 + 50_000 > file_max:
        problems.append(
            f"fs.file-max is {file_max:,}: the bench needs about {sockets * 4 + 50_000:,} "
            "open files machine-wide (app, nginx twice, load generator)"
        )
    need_mib = sockets * EST_KIB_PER_SOCKET // 1024 + BASE_MIB
    avail_mib = psutil.virtual_memory().available // 2**20
    if need_mib > avail_mib:
        problems.append(f"about {need_mib:,} MiB of memory needed, {avail_mib:,} MiB available")
    if p["nginx_workers"] > 64:
        problems.append(f"{p['nginx_workers']} nginx workers needed: too many for one machine")
    return problems


def describe_machine(sockets: int, p: dict[str, int]) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low, high = read_int_file("/proc/sys/net/ipv4/ip_local_port_range")
    return (
        f"{sockets:,} sockets: {p['instances']} app instances (~{p['sockets_per_instance']:,} "
        f"each, ~{p['sockets_per_instance_after_storm']:,} after the storm), "
        f"{p['nginx_workers']} nginx workers (worker_connections "
        f"{p['nginx_worker_connections']:,}), {p['loadgen_processes']} load-generator "
        f"processes; open files per process {soft:,}/{hard:,}, ephemeral ports {low}-{high}, "
        f"{psutil.virtual_memory().available // 2**20:,} MiB available, {os.cpu_count()} cores"
    )


# --- users, rooms and memberships in bulk ----------------------------------------


def layout(n: int, big: int, small: int) -> tuple[int, int, int]:
    """(big rooms, small rooms, stride): user i is in big room i // big, small
    room i // small and small room (i * stride mod n) // small (a permutation of
    the users: the second small rooms mix the users of the first)."""
    big_rooms = math.ceil(n / big)
    small_rooms = math.ceil(n / small)
    stride = 7919
    while math.gcd(stride, n) != 1:
        stride += 2
    return big_rooms, small_rooms, stride


def user_rooms(i: int, n: int, big: int, small: int, tag: str) -> list[str]:
    big_rooms, small_rooms, stride = layout(n, big, small)
    return [
        f"cb{tag}-{i // big}",
        f"cs{tag}-{i // small}",
        f"cs{tag}-{small_rooms + (i * stride) % n // small}",
    ]


def setup_users(database_url: str, n: int, big: int, small: int, tag: str) -> list[int]:
    """n users (no usable password), their rooms and memberships, written into
    the chat's tables in a few statements; the users' ids, in order.

    Bench only: the rows are what registering, creating rooms and joining
    through the API would leave (public rooms, `member` role), without the
    password hash's cost for each user."""
    import psycopg2

    big_rooms, small_rooms, stride = layout(n, big, small)
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """INSERT INTO users (username, display_name, password_hash, created_at,
                                      token_generation, bot, site_admin)
                   SELECT %(p)s || g, %(p)s || g, '!bench-no-login', now(), 0, false, false
                   FROM generate_series(0, %(n)s - 1) g""",
                {"p": f"c{tag}u", "n": n},
            )
            cur.execute(
                """INSERT INTO rooms (name, title, kind, created_at, topic)
                   SELECT %(p)s || g, 'capacity', 'public', now(), ''
                   FROM generate_series(0, %(k)s - 1) g""",
                {"p": f"cb{tag}-", "k": big_rooms},
            )
            cur.execute(
                """INSERT INTO rooms (name, title, kind, created_at, topic)
                   SELECT %(p)s || g, 'capacity', 'public', now(), ''
                   FROM generate_series(0, %(k)s - 1) g""",
                {"p": f"cs{tag}-", "k": small_rooms * 2},
            )
            # The user's index is the number after the prefix of its name.
            cur.execute(
                """CREATE TEMP TABLE cap_users AS
                   SELECT id, substr(username, %(l)s)::int AS i FROM users
                   WHERE username LIKE %(like)s""",
                {"l": len(f"c{tag}u") + 1, "like": f"c{tag}u%"},
            )
            for expr in (
                f"'cb{tag}-' || (u.i / %(big)s)",
                f"'cs{tag}-' || (u.i / %(small)s)",
                f"'cs{tag}-' || (%(sr)s + (u.i::bigint * %(stride)s %% %(n)s) / %(small)s)",
            ):
                cur.execute(
                    f"""INSERT INTO memberships (room_id, user_id, joined_at, role, muted)
                        SELECT r.id, u.id, now(), 'member', false
                        FROM cap_users u JOIN rooms r ON r.name = {expr}
                        ON CONFLICT DO NOTHING""",
                    {"big": big, "small": small, "sr": small_rooms, "stride": stride, "n": n},
                )
            cur.execute("SELECT id FROM cap_users ORDER BY i")
            ids = [row[0] for row in cur.fetchall()]
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE users, rooms, memberships")
    finally:
        conn.close()
    if len(ids) != n:
        raise RuntimeError(f"setup made {len(ids)} users, not {n}")
    return ids


# --- processes around the target ---------------------------------------------------


def start_capacity_nginx(ports: list[int], workers: int, connections: int, hard: int) -> Nginx:
    """The cluster's nginx config with `workers` workers, each listening on its
    own socket (`reuseport`: the kernel spreads connections evenly)."""
    state = tempfile.mkdtemp(prefix="bench-capacity-nginx-")
    os.chmod(state, 0o755)
    port = free_port()
    text = nginx_config(ports, state, port)
    replacements = {
        "worker_processes 1;": f"worker_processes {workers};",
        "worker_rlimit_nofile 20000;": f"worker_rlimit_nofile {min(hard, connections + 1000)};",
        "worker_connections 19000;": f"worker_connections {connections};",
        f"listen 127.0.0.1:{port};": f"listen 127.0.0.1:{port} reuseport;",
    }
    for old, new in replacements.items():
        if old not in text:
            raise RuntimeError(f"nginx/cluster.conf.template no longer has {old!r}")
        text = text.replace(old, new)
    return Nginx(text, state, port=port).start()


def target_secret(target: Any) -> str:
    return target.cluster.secret if target.kind == "chat" else target.secret


def target_database(target: Any) -> str:
    return target.cluster.database_url if target.kind == "chat" else target.database_url


def target_redis_url(target: Any) -> str:
    return target.cluster.redis.url() if target.kind == "chat" else target.redis.url()


class Components:
    """The target's processes for CPU shares, with the bench's nginx as `nginx`."""

    def __init__(self, target: Any, nginx: Nginx) -> None:
        self.target, self.nginx = target, nginx

    def components(self) -> dict[str, list[int]]:
        parts = self.target.components()
        parts["nginx"] = [p.pid for p in tree(self.nginx.pid)]
        return parts


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


class CpuMeter:
    """Cores used over an interval by each component, the load generator and the machine."""

    def __init__(self, components: Components, loadgen: list[int]) -> None:
        self.parts = {**components.components(), "loadgen": loadgen}
        self.t0 = time.monotonic()
        self.before = {k: cpu_seconds(v) for k, v in self.parts.items()}
        t = psutil.cpu_times()
        self.busy0 = sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def read(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        out = {}
        for name, pids in self.parts.items():
            now = cpu_seconds(pids)
            used = sum(now[p] - v for p, v in self.before[name].items() if p in now)
            out[name] = round(used / wall, 3)
        t = psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        out["machine"] = round((busy - self.busy0) / wall, 3)
        out["cluster"] = round(sum(v for k, v in out.items() if k not in ("loadgen", "machine")), 3)
        return out


def gc_pauses(target: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Each chat instance's collections so far, by generation ("0", "1", "2": a
    full one), from its /metrics: count, wall seconds (`chat_gc_pause_seconds`),
    CPU seconds (`chat_gc_cpu_seconds`) and the upper bound of the highest
    bucket one fell into. An instance that does not answer (killed, or too
    busy for 10 s) is left out; none for the peer."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    if target.kind != "chat":
        return out
    for i, port in enumerate(target.instance_ports(), 1):
        try:
            with urllib.request.urlopen(f"http://{target.host}:{port}/metrics", timeout=10) as r:
                body = r.read()
        except OSError:
            continue
        out[target.instance_id(i)] = gc_collections(body.decode())
    return out


def gc_collections(metrics_text: str) -> dict[str, dict[str, float]]:
    """One /metrics text's collections by generation: count and sum of
    `chat_gc_pause_seconds`, `chat_gc_cpu_seconds_total` (0 from a chat that
    does not count it), and the smallest bucket bound that holds every one
    (0 with none)."""
    seen = {g: {"count": 0.0, "seconds": 0.0, "cpu_seconds": 0.0} for g in ("0", "1", "2")}
    bounds: dict[str, list[tuple[float, float]]] = {g: [] for g in seen}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in ("chat_gc_pause_seconds", "chat_gc_cpu_seconds"):
            continue
        for sample in family.samples:
            of = seen.get(sample.labels.get("generation", ""))
            if of is None:
                continue
            if sample.name == "chat_gc_cpu_seconds_total":
                of["cpu_seconds"] = sample.value
            elif sample.name.endswith("_count"):
                of["count"] = sample.value
            elif sample.name.endswith("_sum"):
                of["seconds"] = sample.value
            elif sample.name.endswith("_bucket"):
                bounds[sample.labels["generation"]].append(
                    (float(sample.labels["le"]), sample.value)  # "+Inf": inf
                )
    for generation, of in seen.items():
        of["longest_le"] = min(
            (le for le, below in bounds[generation] if of["count"] and below >= of["count"]),
            default=0.0,
        )
    return seen


class GcMeter:
    """The chat instances' collections over an interval (those that answered at
    both ends): how many full ones, their wall and CPU seconds per instance,
    the longest (a histogram bucket's upper bound), and the same wall and CPU
    figures for every generation together."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.before = gc_pauses(target)

    def read(self) -> dict[str, Any] | None:
        after = gc_pauses(self.target)
        both = [k for k in after if k in self.before]
        if not both:
            return None

        def grew(generations: tuple[str, ...], field: str) -> float:
            return sum(
                after[k][g][field] - self.before[k][g][field] for k in both for g in generations
            )

        full, every = ("2",), ("0", "1", "2")
        # The bucket of the longest since the start; the histogram cannot say
        # whether that one fell inside the interval unless the count grew there.
        longest = max(
            (
                after[k]["2"]["longest_le"]
                for k in both
                if after[k]["2"]["count"] > self.before[k]["2"]["count"]
            ),
            default=0.0,
        )
        return {
            "instances": len(both),
            "full_collections": int(grew(full, "count")),
            "seconds_per_instance": round(grew(full, "seconds") / len(both), 3),
            "cpu_seconds_per_instance": round(grew(full, "cpu_seconds") / len(both), 3),
            "longest_s_at_most": longest,
            "every_generation": {
                "collections": int(grew(every, "count")),
                "seconds_per_instance": round(grew(every, "seconds") / len(both), 3),
                "cpu_seconds_per_instance": round(grew(every, "cpu_seconds") / len(both), 3),
            },
        }


class WorkerProc:
    """One bench/capacity_worker.py process and its command channel."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None

    @classmethod
    async def start(cls, config: dict[str, Any]) -> "WorkerProc":
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.capacity_worker",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**30,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(config).encode() + b"\n")
        await proc.stdin.drain()
        ready = json.loads(await proc.stdout.readline())
        if "ready" not in ready:
            raise RuntimeError(f"load generator did not start: {ready}")
        worker = cls(proc)
        worker.reader = asyncio.ensure_future(worker._read())
        return worker

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            reply = json.loads(line)
            fut = self.waiting.pop(reply["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(reply["result"])
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(RuntimeError("load generator exited"))

    async def call(self, cmd: str, **kwargs: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = fut
        self.proc.stdin.write(
            json.dumps({"id": self.next_id, "cmd": cmd, **kwargs}).encode() + b"\n"
        )
        await self.proc.stdin.drain()
        result = await fut
        if isinstance(result, dict) and "error" in result and len(result) == 1:
            raise RuntimeError(f"load generator: {cmd}: {result['error']}")
        return result

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.call("close"), 30)
        except Exception:
            pass
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


async def all_workers(workers: list[WorkerProc], cmd: str, **kwargs: Any) -> list[dict]:
    return list(await asyncio.gather(*(w.call(cmd, **kwargs) for w in workers)))


async def probe(host: str, port: int, sources: list[str], limit: int = 64) -> dict[str, str]:
    """{source address: instance id} as nginx's ip_hash routes each (X-Instance of /healthz)."""
    out: dict[str, str] = {}
    it = iter(sources)

    async def run() -> None:
        for source in it:
            for _ in range(3):
                conn = HttpConnection(host, port, source=source, timeout=10)
                try:
                    status, headers, _ = await conn.request("GET", "/healthz")
                    if status == 200 and headers.get("x-instance"):
                        out[source] = headers["x-instance"]
                        break
                except Exception:
                    await asyncio.sleep(0.2)
                finally:
                    conn.close()

    await asyncio.gather(*(run() for _ in range(limit)))
    return out


def worker_sources(w: int, count: int = 256) -> list[str]:
    """The loopback /24s of load generator w: 127.(16 + w / 4).(64 * (w % 4) + k).1."""
    base = 16 + w // 4
    return [f"127.{base}.{64 * (w % 4) + k}.1" for k in range(min(count, 64))] + [
        f"127.{100 + w}.{k}.1" for k in range(max(0, count - 64))
    ]


def rss_mib(pids: list[int]) -> float:
    return round(sum(rss_kib(p) or 0 for p in pids) / 1024, 1)


def redis_memory(url: str) -> dict[str, float]:
    import redis

    info = redis.Redis.from_url(url).info("memory")
    return {
        "used_mib": round(info["used_memory"] / 2**20, 1),
        "rss_mib": round(info["used_memory_rss"] / 2**20, 1),
    }


def latency_summary(parts: list[dict]) -> dict[str, Any]:
    values = [v for p in parts for v in p["latencies_ms"]]
    return summarize(values, digits=1)


def losses(
    parts: list[dict], acked: dict[str, list], joined: dict[str, int]
) -> tuple[int, int, int]:
    """(expected deliveries, lost, duplicated) of the acked messages, each due
    once to every joined member of its room (its sender included)."""
    got: dict[str, int] = {}
    for p in parts:
        for cid, n in p["counts"].items():
            got[cid] = got.get(cid, 0) + n
    expected = lost = dup = 0
    for cid, (room, _) in acked.items():
        want = joined.get(room, 0)
        have = got.get(cid, 0)
        expected += want
        lost += max(0, want - have)
        dup += max(0, have - want)
    return expected, lost, dup


def events_delta(before: list[dict], after: list[dict]) -> dict[str, int]:
    """Events other than `message` the clients got between two rounds of stats."""
    out: dict[str, int] = {}
    for b, a in zip(before, after):
        for name, n in a["events"].items():
            d = n - b["events"].get(name, 0)
            if d:
                out[name] = out.get(name, 0) + d
    return out


def merge_acked(results: list[dict]) -> dict[str, list]:
    acked: dict[str, list] = {}
    for r in results:
        acked.update(r.get("acked", {}))
    return acked


# --- the scenarios ----------------------------------------------------------------


async def run_target(name: str, args: argparse.Namespace, p: dict[str, int]) -> dict[str, Any]:
    n = args.sockets
    phases = set(args.phases.split(","))
    extra = {"WORKER_CONNECTIONS": str(p["nginx_worker_connections"])}
    target = make_target(name, p["instances"])
    if target.kind == "chat":
        target.extra_env.update(extra)
        target.extra_env.update(setting.split("=", 1) for setting in args.chat_env)
    result: dict[str, Any] = {"instances": p["instances"]}
    workers: list[WorkerProc] = []
    nginx = None
    t_start = time.monotonic()
    target.start()
    try:
        fd_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nginx = start_capacity_nginx(
            target.instance_ports(), p["nginx_workers"], p["nginx_worker_connections"], fd_hard
        )
        comps = Components(target, nginx)
        tag = secrets.token_hex(3)
        log(f"{name}: {n:,} users, rooms and memberships into PostgreSQL")
        t0 = time.monotonic()
        ids = await asyncio.to_thread(
            setup_users, target_database(target), n, args.big_room, args.small_room, tag
        )
        result["setup_s"] = round(time.monotonic() - t0, 1)
        # Sources and the instance each reaches, per load generator.
        procs = p["loadgen_processes"]
        per = math.ceil(n / procs)
        sources = {w: worker_sources(w, args.sources_per_worker) for w in range(procs)}
        routes = await probe(target.host, nginx.port, [s for ss in sources.values() for s in ss])
        if len(routes) < sum(len(v) for v in sources.values()):
            raise RuntimeError("some source addresses did not reach an instance through nginx")
        baseline = {
            target.instance_id(i): rss_kib(target.worker_pid(i))
            for i in range(1, p["instances"] + 1)
        }
        for w in range(procs):
            clients = []
            srcs = sources[w]
            for j, i in enumerate(range(w * per, min(n, (w + 1) * per))):
                source = srcs[j % len(srcs)]
                rooms = user_rooms(i, n, args.big_room, args.small_room, tag)
                clients.append([ids[i], source, routes[source], rooms])
            workers.append(
                await WorkerProc.start(
                    {
                        "host": target.host,
                        "port": nginx.port,
                        "secret": target_secret(target),
                        "worker": w,
                        "clients": clients,
                    }
                )
            )
        loadgen_pids = [w.pid for w in workers]
        lg_rss0 = rss_mib(loadgen_pids)

        # 1. hold
        log(f"{name}: connecting {n:,} sockets")

        async def measured(command):
            """Every load generator's answers to `command`, the seconds it took and
            the CPU of each component meanwhile."""
            t0 = time.monotonic()
            meter = CpuMeter(comps, loadgen_pids)
            answers = await all_workers(workers, command, concurrency=args.concurrency)
            return answers, time.monotonic() - t0, meter.read()

        gc_meter = GcMeter(target)
        connected, connect_s, connect_cpu = await measured("connect")
        ok = sum(r["ok"] for r in connected)
        log(f"{name}: {ok:,} connected in {connect_s:.1f} s; joining 3 rooms each")
        joined_r, join_s, join_cpu = await measured("join")
        joins = sum(r["ok"] for r in joined_r) * 3
        connect_and_join_gc = gc_meter.read()
        await asyncio.sleep(args.settle_s)
        stats = await all_workers(workers, "stats")
        per_instance: dict[str, int] = {}
        joined: dict[str, int] = {}
        for s in stats:
            for k, v in s["per_instance"].items():
                per_instance[k] = per_instance.get(k, 0) + v
            for k, v in s["joined_per_room"].items():
                joined[k] = joined.get(k, 0) + v
        held = sum(s["open"] for s in stats)
        log(f"{name}: {held:,} sockets open; idle for {args.hold_s:.0f} s")
        lg_cpu0 = sum(s["cpu_s"] for s in stats)
        meter, gc_meter = CpuMeter(comps, loadgen_pids), GcMeter(target)
        await asyncio.sleep(args.hold_s)
        idle, idle_gc = meter.read(), gc_meter.read()
        stats2 = await all_workers(workers, "stats")
        still = sum(s["open"] for s in stats2)
        after = {
            target.instance_id(i): rss_kib(target.worker_pid(i))
            for i in range(1, p["instances"] + 1)
        }
        per_socket = {
            iid: round((after[iid] - baseline[iid]) / per_instance[iid], 2)
            for iid in after
            if per_instance.get(iid) and after[iid] and baseline[iid]
        }
        kib = round(sum(per_socket.values()) / len(per_socket), 2) if per_socket else None
        result["hold"] = {
            "sockets": still,
            "asked": n,
            "connected": ok,
            "connect_failed": sum(r["failed"] for r in connected),
            "connect_retries": sum(r.get("retries", 0) for r in connected),
            "connect_first_error": next(
                (r["first_error"] for r in connected if r["first_error"]), None
            ),
            "connect_per_s": round(ok / connect_s, 1),
            "connect_s": round(connect_s, 1),
            "joins": joins,
            "join_failed": sum(r["failed"] for r in joined_r),
            "join_first_error": next(
                (r["first_error"] for r in joined_r if r["first_error"]), None
            ),
            "join_per_s": round(joins / join_s, 1),
            "connect_cpu_cores": connect_cpu,
            "app_cpu_ms_per_connect": round(connect_cpu["app"] * connect_s / max(1, ok) * 1e3, 2),
            "join_cpu_cores": join_cpu,
            "app_cpu_ms_per_join": round(join_cpu["app"] * join_s / max(1, joins) * 1e3, 2),
            "sockets_per_instance": dict(sorted(per_instance.items())),
            "kib_per_socket": kib,
            "kib_per_socket_by_instance": per_socket,
            "worker_rss_mib": {k: round(v / 1024, 1) for k, v in after.items() if v},
            "nginx_rss_mib": rss_mib([q.pid for q in tree(nginx.pid)]),
            "nginx_workers": p["nginx_workers"],
            "redis": redis_memory(target_redis_url(target)),
            "idle_s": args.hold_s,
            "idle_cpu_cores": idle["cluster"],
            "idle_cpu_by_component": idle,
            "events_while_idle": events_delta(stats, stats2),
            "gc_connect_and_join": connect_and_join_gc,
            "gc_idle": idle_gc,
            "loadgen": {
                "processes": procs,
                "rss_mib": rss_mib(loadgen_pids),
                "rss_mib_before_connect": lg_rss0,
                "cpu_cores_idle": idle["loadgen"],
                "cpu_s_connect_and_join": round(lg_cpu0, 1),
            },
        }
        log(
            f"{name}: hold: {json.dumps({k: result['hold'][k] for k in ('sockets', 'connect_per_s', 'kib_per_socket', 'idle_cpu_cores')})}"
        )

        # 2. big room
        if "big_room" in phases:
            big = f"cb{tag}-0"
            log(
                f"{name}: big room ({joined.get(big, 0):,} members joined), {args.big_room_s:.0f} s"
            )
            await all_workers(workers, "phase", name="big")
            meter, gc_meter = CpuMeter(comps, loadgen_pids), GcMeter(target)
            sent = await workers[0].call(
                "send", phase="big", rate=1.0, seconds=args.big_room_s, room=big
            )
            await asyncio.sleep(args.drain_s)
            cpu, big_gc = meter.read(), gc_meter.read()
            parts = await all_workers(workers, "collect")
            acked = sent["acked"]
            expected, lost, dup = losses(parts, acked, joined)
            result["big_room"] = {
                "members": joined.get(big, 0),
                "messages": len(acked),
                "send_errors": sent["errors"],
                "deliveries_expected": expected,
                "lost": lost,
                "duplicated": dup,
                "latency_ms": latency_summary(parts),
                "cpu_cores": cpu,
                "gc": big_gc,
            }
            result["big_room"]["p50_ms"] = result["big_room"]["latency_ms"]["p50"]
            result["big_room"]["p99_ms"] = result["big_room"]["latency_ms"]["p99"]
            log(f"{name}: big room: p99 {result['big_room']['p99_ms']} ms, lost {lost}, dup {dup}")

        # 3. chatter
        if "chatter" in phases:
            steps = []
            rate = args.chatter_start
            for k in range(args.chatter_steps):
                phase = f"chat{k}"
                await all_workers(workers, "phase", name=phase)
                meter, gc_meter = CpuMeter(comps, loadgen_pids), GcMeter(target)
                sent_r = await all_workers(
                    workers, "send", phase=phase, rate=rate / procs, seconds=args.chatter_s
                )
                await asyncio.sleep(args.drain_s)
                cpu, step_gc = meter.read(), gc_meter.read()
                parts = await all_workers(workers, "collect")
                acked = merge_acked(sent_r)
                expected, lost, dup = losses(parts, acked, joined)
                lat = latency_summary(parts)
                errors = sum(r["errors"] for r in sent_r)
                passed = (
                    lat["p99"] is not None
                    and lat["p99"] <= GOALS["chatter_p99_ms"]
                    and lost == 0
                    and errors == 0
                )
                steps.append(
                    {
                        "messages_per_s": rate,
                        "deliveries_per_s": round(expected / args.chatter_s, 1),
                        "messages": len(acked),
                        "send_errors": errors,
                        "lost": lost,
                        "duplicated": dup,
                        "latency_ms": lat,
                        "cpu_cores": cpu,
                        "gc": step_gc,
                        "passed": passed,
                    }
                )
                log(
                    f"{name}: chatter {rate} msg/s: p99 {lat['p99']} ms, lost {lost}, errors {errors}"
                )
                if not passed:
                    break
                rate *= 2
            best = max(
                (s for s in steps if s["passed"]), key=lambda s: s["messages_per_s"], default=None
            )
            result["chatter"] = {
                "best_messages_per_s": best["messages_per_s"] if best else None,
                "best_deliveries_per_s": best["deliveries_per_s"] if best else None,
                "best_p99_ms": best["latency_ms"]["p99"] if best else None,
                "steps": steps,
            }

        # 4. storm
        if "storm" in phases:
            result["storm"] = await storm(name, target, workers, comps, loadgen_pids, args)
    finally:
        for w in workers:
            await w.stop()
        if nginx is not None:
            # Its error log (refusals, upstreams marked failed) beside the results.
            try:
                import shutil

                shutil.copy(
                    os.path.join(nginx.dir, "error.log"),
                    os.path.join(args.out, f"nginx-error-{name}.log"),
                )
            except OSError:
                pass
            nginx.stop(remove=True)
        target.stop()
    result["wall_s"] = round(time.monotonic() - t_start, 1)
    return result


async def storm(
    name: str,
    target: Any,
    workers: list[WorkerProc],
    comps: Components,
    loadgen_pids: list[int],
    args: argparse.Namespace,
) -> dict[str, Any]:
    stats = await all_workers(workers, "stats")
    per_instance: dict[str, int] = {}
    for s in stats:
        for k, v in s["per_instance"].items():
            per_instance[k] = per_instance.get(k, 0) + v
    victim = max(per_instance, key=lambda k: per_instance[k])
    index = int(victim.rsplit("-", 1)[1])
    armed = await all_workers(workers, "storm_arm", victim=victim)
    victims = sum(a["victims"] for a in armed)
    log(f"{name}: storm: killing {victim} with {victims:,} sockets")
    procs = len(workers)
    await all_workers(workers, "phase", name="storm")
    small = [
        asyncio.ensure_future(
            w.call("send", phase="storm", rate=args.storm_rate / procs, seconds=3600, kinds=[1, 2])
        )
        for w in workers
    ]
    bigs = [
        asyncio.ensure_future(
            w.call("send", phase="storm", rate=args.storm_big_rate / procs, seconds=3600, kinds=[0])
        )
        for w in workers
    ]
    await asyncio.sleep(args.storm_before_s)
    meter, gc_meter = CpuMeter(comps, loadgen_pids), GcMeter(target)
    kill_at = time.time()
    target.kill_instance(index)
    timeline = []
    complete = False
    deadline = time.monotonic() + args.storm_timeout_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        st = await all_workers(workers, "storm_status")
        back = sum(s["back"] for s in st)
        synced = sum(s["synced"] for s in st)
        timeline.append([round(time.time() - kill_at, 2), back, synced])
        if synced >= victims:
            complete = True
            break
    cpu, storm_gc = meter.read(), gc_meter.read()
    await asyncio.sleep(args.storm_after_s)
    # The same worker serves both sends, so one stop ends both.
    await all_workers(workers, "stop_send")
    sent = await asyncio.gather(*small, *bigs)
    await asyncio.sleep(args.drain_s)
    acked = merge_acked(sent)
    checks = await all_workers(workers, "storm_result", acked=acked)
    stats_after = await all_workers(workers, "stats")
    rows = [v for c in checks for v in c["victims"]]
    back = [r[1] - kill_at for r in rows if r[1] is not None]
    synced = [r[2] - kill_at for r in rows if r[2] is not None]
    dropped = [r[0] - kill_at for r in rows if r[0] is not None]
    rejoined = [r[4] - kill_at for r in rows if r[4] is not None]
    out = {
        "killed": victim,
        "sockets": victims,
        "complete": complete,
        "disconnect_detected_s": summarize(dropped, digits=3),
        "back_s": summarize(back, digits=3),
        "joined_s": summarize(rejoined, digits=3),
        "synced_s": summarize(synced, digits=3),
        "p50_s": summarize(synced, digits=3)["p50"],
        "p99_s": summarize(synced, digits=3)["p99"] if complete else None,
        "max_s": summarize(synced, digits=3)["max"] if complete else None,
        "attempts": summarize([r[3] for r in rows], digits=1),
        "messages_acked": len(acked),
        "send_errors": sum(s["errors"] for s in sent),
        "send_error_sample": [e for s in sent for e in s.get("error_sample", [])][:5],
        "reconnect_error_sample": [e for c in checks for e in c["reconnect_errors"]][:5],
        "lost": sum(c["lost"] for c in checks),
        "clients_missing": sum(c["clients_missing"] for c in checks),
        "duplicated": sum(c["live_duplicates"] + c["stored_duplicates"] for c in checks),
        "live_duplicates": sum(c["live_duplicates"] for c in checks),
        "stored_duplicates": sum(c["stored_duplicates"] for c in checks),
        "events": events_delta(stats, stats_after),
        "timeline": timeline,
        "cpu_cores": cpu,
        "gc_survivors": storm_gc,
    }
    log(
        f"{name}: storm: {len(synced):,}/{victims:,} synced, p99 {out['p99_s']} s, "
        f"lost {out['lost']}, duplicated {out['duplicated']}"
    )
    return out


# --- the report ---------------------------------------------------------------------


def get(d: Any, *path: str) -> Any:
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


ROWS = [
    ("sockets held", ("hold", "sockets"), "{:,.0f}"),
    ("connects/s to get there", ("hold", "connect_per_s"), "{:,.0f}"),
    ("  connects tried again", ("hold", "connect_retries"), "{:,.0f}"),
    ("  app CPU per connect (ms)", ("hold", "app_cpu_ms_per_connect"), "{:.2f}"),
    ("joins/s", ("hold", "join_per_s"), "{:,.0f}"),
    ("  app CPU per join (ms)", ("hold", "app_cpu_ms_per_join"), "{:.2f}"),
    (
        "  GC CPU per instance, connects and joins (s)",
        ("hold", "gc_connect_and_join", "every_generation", "cpu_seconds_per_instance"),
        "{:.1f}",
    ),
    ("worker RSS per idle socket (KiB)", ("hold", "kib_per_socket"), "{:.1f}"),
    ("nginx RSS (MiB)", ("hold", "nginx_rss_mib"), "{:,.0f}"),
    ("Redis used memory (MiB)", ("hold", "redis", "used_mib"), "{:,.1f}"),
    ("idle CPU of the cluster (cores)", ("hold", "idle_cpu_cores"), "{:.3f}"),
    ("load generator CPU idle (cores)", ("hold", "loadgen", "cpu_cores_idle"), "{:.3f}"),
    ("load generator RSS (MiB)", ("hold", "loadgen", "rss_mib"), "{:,.0f}"),
    ("big room: members", ("big_room", "members"), "{:,.0f}"),
    ("big room: p50 (ms)", ("big_room", "p50_ms"), "{:.1f}"),
    ("big room: p99 (ms)", ("big_room", "p99_ms"), "{:.1f}"),
    ("big room: lost / duplicated", None, None),
    ("chatter: messages/s, p99 ≤ 250 ms", ("chatter", "best_messages_per_s"), "{:,.0f}"),
    ("chatter: deliveries/s", ("chatter", "best_deliveries_per_s"), "{:,.0f}"),
    ("storm: sockets of the killed instance", ("storm", "sockets"), "{:,.0f}"),
    ("storm: synced p50 (s)", ("storm", "p50_s"), "{:.2f}"),
    ("storm: synced p99 (s)", ("storm", "p99_s"), "{:.2f}"),
    ("storm: synced max (s)", ("storm", "max_s"), "{:.2f}"),
    ("storm: acked lost / duplicated", None, None),
]


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return "–"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def table(results: dict[str, Any]) -> str:
    targets = results["targets"]
    names = list(targets)
    peer = "node" if "node" in targets else None
    ours = [t for t in names if t != peer]
    head = ["figure", *names, *(f"{t} ÷ {peer}" for t in ours if peer)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, path, spec in ROWS:
        if path is None:
            key = "big_room" if label.startswith("big") else "storm"
            cells = [
                f"{fmt(get(targets[t], key, 'lost'), '{:,}')} / "
                f"{fmt(get(targets[t], key, 'duplicated'), '{:,}')}"
                for t in names
            ]
            cells += ["–" for t in ours if peer]
        else:
            cells = [fmt(get(targets[t], *path), spec) for t in names]
            for t in ours:
                if not peer:
                    continue
                a, b = get(targets[t], *path), get(targets[peer], *path)
                cells.append(
                    f"{a / b:.2f}×"
                    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b
                    else "–"
                )
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


def goals(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, goal, met) for every goal; met is None when the figure is missing."""
    out: list[tuple[str, str, bool | None]] = []
    targets = results["targets"]
    asked = results["config"]["sockets"]
    peer_p99 = get(targets.get("node"), "storm", "p99_s")

    def met(value: Any, ok: bool) -> bool | None:
        return None if value is None else ok

    for t, r in targets.items():
        held = get(r, "hold", "sockets")
        out.append((t, f"{asked:,} sockets held", met(held, (held or 0) >= asked)))
        kib = get(r, "hold", "kib_per_socket")
        if t in GOALS["kib_per_socket"]:
            lim = GOALS["kib_per_socket"][t]
            out.append((t, f"≤ {lim:g} KiB per idle socket", met(kib, (kib or 0) <= lim)))
        cpu = get(r, "hold", "idle_cpu_cores")
        out.append((t, "idle CPU ≤ 0.25 cores", met(cpu, (cpu or 0) <= GOALS["idle_cpu_cores"])))
        p99 = get(r, "big_room", "p99_ms")
        ok = (p99 or 0) <= GOALS["big_room_p99_ms"] and get(r, "big_room", "lost") == 0
        out.append((t, "big room p99 ≤ 500 ms, nothing lost", met(p99, ok)))
        storm = get(r, "storm") or {}
        s99 = storm.get("p99_s")
        ok = (
            (s99 or 0) <= GOALS["storm_p99_s"]
            and storm.get("lost") == 0
            and storm.get("duplicated") == 0
        )
        out.append((t, "storm: all synced within 30 s (p99), 0 lost, 0 duplicated", met(s99, ok)))
        if t != "node":
            value = None if peer_p99 is None else s99
            ok = value is not None and value <= GOALS["storm_vs_peer"] * (peer_p99 or 0)
            out.append((t, "storm within 1.5× the peer's time", met(value, ok)))
    return out


def model(results: dict[str, Any], sockets: int = 1_000_000) -> list[dict[str, Any]]:
    """The capacity model (a model, not a measurement): `sockets` over 16 and 64
    instances of one core each, from one run's figures per socket, per connect
    and per recovered client, scaled linearly."""
    rows = []
    held_at = results["config"]["sockets"]
    for t, r in results["targets"].items():
        hold, storm = r.get("hold") or {}, r.get("storm") or {}
        kib, idle = hold.get("kib_per_socket"), hold.get("idle_cpu_cores")
        held = hold.get("sockets") or held_at
        storm_cpu = get(storm, "cpu_cores", "app")
        storm_s = get(storm, "synced_s", "max")
        victims = storm.get("sockets")
        # Only from a storm every client recovered from.
        per_client_ms = (
            storm_cpu * storm_s / victims * 1e3
            if storm.get("complete") and storm_cpu and storm_s and victims
            else None
        )
        for n in (16, 64):
            per = math.ceil(sockets / n)
            row: dict[str, Any] = {
                "target": t,
                "instances": n,
                "sockets_per_instance": per,
                "open_files_per_instance": per + FD_SLACK,
                "worker_gib_per_instance": round(per * kib / 2**20, 2) if kib else None,
                "idle_cores_per_instance": round(idle / held * per, 3) if idle else None,
                # The killed instance's clients, re-connected, re-joined and synced on
                # the n - 1 others at the storm's measured app CPU per client.
                "storm_app_cpu_ms_per_client": round(per_client_ms, 1) if per_client_ms else None,
                "storm_s": round(per * per_client_ms / 1e3 / (n - 1), 1) if per_client_ms else None,
            }
            rows.append(row)
    return rows


def model_table(results: dict[str, Any]) -> str:
    rows = model(results)
    if not rows:
        return ""
    lines = [
        "Capacity model (a model, not a measurement): 1,000,000 sockets, one core per instance",
        "",
        "| target | instances | sockets each | open files each | worker GiB each "
        "| idle cores each | storm: app ms per client | storm: s to recover |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']} | {r['instances']} | {r['sockets_per_instance']:,} "
            f"| {r['open_files_per_instance']:,} | {fmt(r['worker_gib_per_instance'], '{:.2f}')} "
            f"| {fmt(r['idle_cores_per_instance'], '{:.3f}')} "
            f"| {fmt(r['storm_app_cpu_ms_per_client'], '{:.1f}')} | {fmt(r['storm_s'], '{:.1f}')} |"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    lines = [table(results), "", "| target | goal | |", "|---|---|---|"]
    for t, label, met in goals(results):
        lines.append(
            f"| {t} | {label} | {'met' if met else 'not met' if met is False else 'no figure'} |"
        )
    lines += ["", model_table(results)]
    return "\n".join(lines)


def plot(results: dict[str, Any], out_dir: str) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = False
    for t, r in results["targets"].items():
        tl = get(r, "storm", "timeline")
        if not tl:
            continue
        xs = [0.0] + [row[0] for row in tl]
        (line,) = ax.plot(xs, [0] + [row[1] for row in tl], label=f"{t}: connected again")
        ax.plot(
            xs, [0] + [row[2] for row in tl], "--", color=line.get_color(), label=f"{t}: synced"
        )
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("seconds since the SIGKILL")
    ax.set_ylabel("clients of the killed instance")
    ax.set_title("Reconnect storm")
    ax.grid(alpha=0.3)
    ax.legend()
    path = os.path.join(out_dir, "storm.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- main ------------------------------------------------------------------------------


def add_earlier_run(results: dict[str, Any], path: str) -> str | None:
    """Put the targets of the earlier run in `path` into `results` (this run's
    own figures replace a target measured in both); `meta.earlier_runs` keeps
    each earlier run's `meta` (when it started, `targets_run`). Runs of a
    different size or plan are not put side by side: the reason, or None."""
    try:
        with open(path) as f:
            earlier = json.load(f)
    except (OSError, ValueError) as exc:
        return f"cannot read {path}: {exc}"
    for key in ("sockets", "big_room", "small_room"):
        theirs, ours = earlier.get("config", {}).get(key), results["config"][key]
        if theirs != ours:
            return f"{path} is a run with {key}={theirs}, this one {key}={ours}"
    if earlier.get("plan") != results["plan"]:
        return f"{path} ran on another plan ({earlier.get('plan')}), this one {results['plan']}"
    runs = earlier["meta"].pop("earlier_runs", [])
    runs.append(earlier["meta"])
    results["meta"]["earlier_runs"] = runs
    results["targets"].update(earlier["targets"])
    return None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def chat_setting(text: str) -> str:
    """NAME=VALUE, for --chat-env."""
    name, eq, _ = text.partition("=")
    if not eq or not name or name != name.strip() or not name.replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockets", type=int, default=100_000)
    ap.add_argument("--targets", default="eventlet,gevent,node")
    ap.add_argument("--instances", type=int, default=None, help="default: sockets / 12,500")
    ap.add_argument("--big-room", type=int, default=10_000)
    ap.add_argument("--small-room", type=int, default=20)
    ap.add_argument("--hold-s", type=float, default=120.0)
    ap.add_argument("--big-room-s", type=float, default=60.0)
    ap.add_argument("--chatter-start", type=float, default=50.0, help="messages/s, doubling")
    ap.add_argument("--chatter-steps", type=int, default=6)
    ap.add_argument("--chatter-s", type=float, default=10.0)
    ap.add_argument("--storm-rate", type=float, default=20.0, help="messages/s into small rooms")
    ap.add_argument("--storm-big-rate", type=float, default=0.5, help="messages/s into big rooms")
    ap.add_argument("--storm-before-s", type=float, default=3.0)
    ap.add_argument("--storm-after-s", type=float, default=3.0)
    ap.add_argument("--storm-timeout-s", type=float, default=600.0)
    ap.add_argument("--settle-s", type=float, default=10.0)
    ap.add_argument("--drain-s", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64, help="connects at once per process")
    ap.add_argument("--sources-per-worker", type=int, default=256)
    ap.add_argument("--phases", default="hold,big_room,chatter,storm", help="hold always runs")
    ap.add_argument(
        "--chat-env",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        type=chat_setting,
        help="a setting for the chat's instances (GC_THRESHOLDS=7000,10,100, say); repeatable",
    )
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--check-only", action="store_true", help="only the machine check")
    ap.add_argument("--report", metavar="RESULTS_JSON", help="only print the table again")
    ap.add_argument(
        "--add-to",
        metavar="RESULTS_JSON",
        help="keep the targets of an earlier run of the same size beside this run's",
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        with open(args.report) as f:
            print(markdown(json.load(f)))
        return 0
    fd = raise_fd_limit()
    p = plan(args.sockets, args.instances, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    log(describe_machine(args.sockets, p))
    problems = check_machine(args.sockets, p)
    if problems:
        print("bench-capacity: this machine cannot run the asked size:", file=sys.stderr)
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        print('  (docs/capacity.md, "Capacity", says what the bench needs)', file=sys.stderr)
        return 2
    if args.check_only:
        return 0
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    os.makedirs(args.out, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    results: dict[str, Any] = {
        "meta": {
            "started_at": started.strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "fd_limit": fd,
            "loadavg_before": round(os.getloadavg()[0], 2),
        },
        "config": {k: v for k, v in vars(args).items() if k not in ("out", "report", "check_only")},
        "plan": p,
        "targets": {},
    }
    if args.add_to:
        problem = add_earlier_run(results, args.add_to)
        if problem:
            print(f"bench-capacity: --add-to: {problem}", file=sys.stderr)
            return 2
    names = [t for t in args.targets.split(",") if t]
    results["meta"]["targets_run"] = names
    for name in names:
        try:
            results["targets"][name] = asyncio.run(run_target(name, args, p))
        except Exception as exc:
            import traceback

            traceback.print_exc()
            results["targets"][name] = {"error": repr(exc)[:500]}
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1, default=str)
    results["meta"]["loadavg_after"] = round(os.getloadavg()[0], 2)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    text = markdown(results)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text + "\n")
    png = plot(results, args.out)
    print()
    print(text)
    print(
        f"written: {os.path.relpath(args.out, ROOT)}/results.json, results.md"
        + (", storm.png" if png else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
