"""What every scenario needs: source addresses that spread clients over the
instances, many connections at once, and CPU accounting per component."""

import asyncio
import time

import psutil

from bench import sio
from bench.httpclient import HttpConnection
from bench.stats import CpuMeter


async def probe_sources(host, port, third_octets=range(1, 97)):
    """{instance id: [source address, ...]}: which instance nginx's ip_hash picks
    for each 127.0.X.1 (ip_hash hashes the first three octets), read from the
    X-Instance header of GET /healthz."""
    mapping = {}

    async def probe(x):
        source = f"127.0.{x}.1"
        conn = HttpConnection(host, port, source=source, timeout=5)
        try:
            status, headers, _ = await conn.request("GET", "/healthz")
        finally:
            conn.close()
        if status == 200 and headers.get("x-instance"):
            mapping.setdefault(headers["x-instance"], []).append(source)

    await asyncio.gather(*(probe(x) for x in third_octets))
    for sources in mapping.values():
        sources.sort(key=lambda s: int(s.split(".")[2]))
    return dict(sorted(mapping.items()))


def balanced(mapping, n, only=None):
    """n (instance id, source) pairs, round-robin over the instances (in `only`, if given)."""
    ids = [i for i in mapping if only is None or i in only]
    if not ids:
        raise RuntimeError(f"no source address reaches the instances {only or ''}: {mapping}")
    out = []
    for k in range(n):
        instance = ids[k % len(ids)]
        sources = mapping[instance]
        out.append((instance, sources[(k // len(ids)) % len(sources)]))
    return out


async def gather_limited(factories, limit):
    """Runs coroutine factories with at most `limit` at once; results (or exceptions) in order."""
    results = [None] * len(factories)
    it = iter(enumerate(factories))

    async def worker():
        for i, factory in it:
            try:
                results[i] = await factory()
            except Exception as exc:  # the caller counts failures
                results[i] = exc

    await asyncio.gather(*(worker() for _ in range(min(limit, len(factories)) or 1)))
    return results


async def connect_many(host, port, specs, limit=64, timeout=10.0):
    """specs: [(source, token, kwargs)]; returns clients or exceptions, in order."""

    def factory(source, token, kwargs):
        return lambda: sio.connect(
            host, port, auth={"token": token}, source=source, timeout=timeout, **kwargs
        )

    return await gather_limited([factory(*s) for s in specs], limit)


async def call_all(clients, event, data_for, limit=256, timeout=30.0):
    """Calls `event` on every client (data_for(client) gives the payload); acks in order."""

    def factory(c):
        return lambda: asyncio.wait_for(c.call(event, data_for(c)), timeout)

    return await gather_limited([factory(c) for c in clients], limit)


def close_all(clients):
    for c in clients:
        if isinstance(c, sio.SioClient):
            c.close()


def _cpu_seconds(pids):
    """{pid: CPU seconds so far} of the processes still alive."""
    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


class ComponentMeter:
    """CPU used over an interval by each component, the load generator and the
    whole machine, in cores (1.0 = one core busy the whole time). "other" is
    what the machine did beyond the counted processes: other people's work,
    the kernel's softirqs, short-lived children."""

    def __init__(self, target):
        self.target = target
        self.start()

    def _system_busy(self):
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def start(self):
        self.components = self.target.components()
        self.wall = time.monotonic()
        self.before = {name: _cpu_seconds(pids) for name, pids in self.components.items()}
        self.system = self._system_busy()
        self.own = CpuMeter()

    def read(self):
        wall = time.monotonic() - self.wall
        if wall <= 0:
            return {}
        out = {}
        for name, pids in self.components.items():
            now = _cpu_seconds(pids)
            # A process gone since the start (a killed instance) counts for nothing.
            used = sum(now[p] - t for p, t in self.before[name].items() if p in now)
            out[name] = round(used / wall, 3)
        out["loadgen"] = self.own.read()["cores"]
        out["machine"] = round((self._system_busy() - self.system) / wall, 3)
        counted = sum(v for k, v in out.items() if k != "machine")
        out["other"] = round(max(0.0, out["machine"] - counted), 3)
        return out
