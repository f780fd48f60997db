"""Scaling: REST message posts per second through nginx in front of 1, 2 and 4
instances of the same cluster (an extra nginx with the same config for the
smaller sets). Many users, several rooms, one keep-alive connection per user
from spread source addresses, each posting as fast as its answers come back
(a closed loop), so the figure is the cluster's throughput at that concurrency."""

import asyncio
import time

from bench import load
from bench.httpclient import HttpConnection
from bench.stats import summarize


async def _measure(target, host, port, tokens, rooms, mapping, seconds, warmup, concurrency, tag):
    placement = load.balanced(mapping, concurrency)
    ok, errors, latencies = [0], [], []
    measuring = [False]
    stop = [False]

    async def worker(i, source):
        conn = HttpConnection(host, port, source=source, timeout=15)
        token = tokens[i % len(tokens)]
        n = 0
        try:
            while not stop[0]:
                room = rooms[(i + n) % len(rooms)]
                n += 1
                t0 = time.monotonic()
                try:
                    status, _, body = await conn.request(
                        "POST",
                        f"/api/rooms/{room}/messages",
                        {"body": f"scaling {tag} {i} {n}", "client_id": f"{tag}-{i}-{n}"},
                        token,
                    )
                except Exception as exc:
                    if measuring[0]:
                        errors.append(repr(exc)[:200])
                    await asyncio.sleep(0.05)
                    continue
                if not measuring[0]:
                    continue
                if status == 201:
                    ok[0] += 1
                    latencies.append(time.monotonic() - t0)
                else:
                    errors.append(f"{status} {body[:120]!r}")
        finally:
            conn.close()

    tasks = [asyncio.create_task(worker(i, source)) for i, (_, source) in enumerate(placement)]
    await asyncio.sleep(warmup)
    measuring[0] = True
    meter = load.ComponentMeter(target)
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    measuring[0] = False
    elapsed = time.monotonic() - t0
    cpu = meter.read()
    stop[0] = True
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "posts": ok[0],
        "posts_per_s": round(ok[0] / elapsed, 1),
        "errors": len(errors),
        "error_sample": errors[:3],
        "latency_ms": summarize(latencies, scale=1e3),
        "cpu_cores": cpu,
    }


async def scaling(
    target, tokens, counts=(1, 2, 4), rooms=8, seconds=4.0, warmup=1.0, concurrency=48, tag="s"
):
    counts = [c for c in counts if c <= target.count]
    room_names = [f"scale-{tag}-{r}" for r in range(rooms)]
    for name in room_names:
        await target.create_room(name, tokens[0])

    async def join_all(token):
        conn = HttpConnection(target.host, target.port, timeout=30)
        try:
            for name in room_names:
                await target.join_room(name, token, conn=conn)
        finally:
            conn.close()

    joined = await load.gather_limited([lambda t=t: join_all(t) for t in tokens[1:]], 8)
    failed = [j for j in joined if isinstance(j, Exception)]
    if failed:
        raise RuntimeError(f"scaling: {len(failed)} users could not join the rooms: {failed[0]!r}")
    runs = {}
    for n in counts:
        host, port = target.subset_nginx(n)
        mapping = await load.probe_sources(host, port)
        result = await _measure(
            target,
            host,
            port,
            tokens,
            room_names,
            mapping,
            seconds,
            warmup,
            concurrency,
            f"{tag}{n}",
        )
        result["instances"] = n
        result["instances_reached"] = sorted(mapping)
        runs[str(n)] = result
        lat = result["latency_ms"]
        print(
            f"  scaling {target.name}: {n} instance(s): {result['posts_per_s']} posts/s, "
            f"p50 {lat['p50']} p99 {lat['p99']} ms, errors {result['errors']}",
            flush=True,
        )
    base = runs[str(counts[0])]["posts_per_s"] if counts else 0
    ratios = {n: round(r["posts_per_s"] / base, 2) if base else None for n, r in runs.items()}
    return {
        "users": len(tokens),
        "rooms": rooms,
        "concurrency": concurrency,
        "runs": runs,
        "ratio_to_1": ratios,
    }
