"""Connections: idle Socket.IO connections ramped up in steps, spread evenly
over the instances through nginx; after each step the RSS of every instance's
worker process is read. Memory per connection is the slope of RSS against the
instance's connections; the connect rate is per step; the ramp stops at the
cap or at the first step where a connection fails (that count is reported).
The app's CPU per connect is its CPU over the whole ramp (pauses included,
when idle sockets cost next to nothing) over the connections opened: less
noisy than the rate, which is what the machine had left."""

import asyncio
import time

from bench import load
from bench.stats import slope
from bench.targets import rss_kib


async def connections(
    target, tokens, mapping, cap_per_instance=500, step_per_instance=125, settle_s=0.7, timeout=10.0
):
    n = target.count
    ids = [target.instance_id(i) for i in range(1, n + 1)]
    workers = {target.instance_id(i): target.worker_pid(i) for i in range(1, n + 1)}

    def sample():
        return {iid: rss_kib(pid) for iid, pid in workers.items()}

    baseline = sample()
    points = [
        {
            "connections": 0,
            "per_instance": {i: 0 for i in ids},
            "rss_kib": baseline,
            "connect_per_s": None,
        }
    ]
    conns = []
    counts = {i: 0 for i in ids}
    errors_at = None
    first_error = None
    total_cap = cap_per_instance * n
    k = 0
    meter = load.ComponentMeter(target)
    try:
        while len(conns) < total_cap:
            batch = min(step_per_instance * n, total_cap - len(conns))
            placement = load.balanced(mapping, batch, only=ids)
            specs = [
                (source, tokens[(k + j) % len(tokens)], {})
                for j, (_, source) in enumerate(placement)
            ]
            k += batch
            t0 = time.monotonic()
            results = await load.connect_many(
                target.host, target.port, specs, limit=64, timeout=timeout
            )
            elapsed = time.monotonic() - t0
            ok = 0
            for (instance, _), r in zip(placement, results):
                if isinstance(r, Exception):
                    if first_error is None:
                        first_error = repr(r)[:200]
                    continue
                ok += 1
                counts[instance] += 1
                conns.append(r)
            await asyncio.sleep(settle_s)
            points.append(
                {
                    "connections": len(conns),
                    "per_instance": dict(counts),
                    "rss_kib": sample(),
                    "connect_per_s": round(ok / elapsed, 1),
                }
            )
            print(
                f"  connections {target.name}: {len(conns)} open, "
                f"{ok / elapsed:.0f} connects/s, "
                f"RSS {sum(v or 0 for v in points[-1]['rss_kib'].values()) / 1024:.0f} MiB"
                + (f", {batch - ok} FAILED ({first_error})" if ok < batch else ""),
                flush=True,
            )
            if ok < batch:
                errors_at = len(conns) + 1
                break
        alive = sum(1 for c in conns if c.is_open)
    finally:
        cpu = meter.read()
        ramp_s = time.monotonic() - meter.wall  # the meter's start
        load.close_all(conns)
        await asyncio.sleep(0.5)
    per_conn = {}
    for iid in ids:
        xs = [p["per_instance"][iid] for p in points if p["rss_kib"].get(iid) is not None]
        ys = [p["rss_kib"][iid] for p in points if p["rss_kib"].get(iid) is not None]
        s = slope(xs, ys)
        per_conn[iid] = round(s, 2) if s is not None else None
    valid = [v for v in per_conn.values() if v is not None]
    rates = [p["connect_per_s"] for p in points[1:] if p["connect_per_s"]]
    return {
        "instances": n,
        "cap": total_cap,
        "opened": len(conns),
        "still_open_at_end": alive,
        "errors_at": errors_at,
        "first_error": first_error,
        "kib_per_connection": round(sum(valid) / len(valid), 2) if valid else None,
        "kib_per_connection_by_instance": per_conn,
        "connect_per_s": round(sum(rates) / len(rates), 1) if rates else None,
        "app_cpu_ms_per_connect": round(cpu.get("app", 0) * ramp_s / len(conns) * 1e3, 2)
        if conns and cpu
        else None,
        "baseline_rss_kib": baseline,
        "points": points,
        "cpu_cores": cpu,
    }
