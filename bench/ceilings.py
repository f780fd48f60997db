"""Reference ceilings on this machine: what the parts we build on can do alone.

- Redis PUBLISH rate (redis-benchmark, 50 clients, no pipelining): the bound
  on cluster-wide broadcasts, each of which is one PUBLISH.
- nginx answering `return 200` itself, and nginx in front of a trivial
  upstream (another nginx server block) with the cluster's proxy settings,
  measured with wrk: the bound on requests through the load balancer.
- The load generator's own parse rate: `message` deliveries per second one
  core of this process can take in (frames fed straight to the protocol).
- A loopback TCP round trip between two processes (64 bytes each way): its
  wall time and the CPU it costs both sides, the unit every database query,
  Redis command and proxied frame pays at least once.
"""

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from localservices import Nginx, Redis, free_port

from bench.httpclient import HttpConnection
from bench.sio import SioClient
from bench.targets import log

NGINX_TRIVIAL = """
worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    upstream trivial {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{upstream};
        location / {{ return 200 "ok"; }}
    }}
    server {{
        listen 127.0.0.1:{port};
        location = /direct {{ return 200 "ok"; }}
        location / {{
            proxy_pass http://trivial;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
        }}
    }}
}}
"""


def redis_publish(seconds=2.0):
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return {"skipped": "redis-benchmark is not installed (bench/install-deps.sh)"}
    with Redis() as redis:
        # About `seconds` worth at ~50k/s; redis-benchmark has no duration option.
        n = int(50000 * seconds)
        out = subprocess.run(
            [
                exe,
                "-h",
                "127.0.0.1",
                "-p",
                str(redis.port),
                "-c",
                "50",
                "-n",
                str(n),
                "-q",
                "PUBLISH",
                "bench",
                "x" * 200,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    m = re.search(r"([\d.]+) requests per second", out.stdout)
    if not m:
        return {"error": (out.stdout + out.stderr)[-300:]}
    return {
        "publish_per_s": round(float(m.group(1))),
        "clients": 50,
        "payload_bytes": 200,
        "requests": n,
    }


def _wrk(url, seconds, connections=64):
    exe = shutil.which("wrk")
    out = subprocess.run(
        [exe, "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    m = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
    lat = re.search(r"Latency\s+(\S+)", out.stdout)
    return {
        "requests_per_s": round(float(m.group(1))) if m else None,
        "mean_latency": lat.group(1) if lat else None,
        "tool": "wrk -t1 -c%d" % connections,
    }


async def _own_client(port, path, seconds, connections=32):
    count = [0]
    stop = time.monotonic() + seconds

    async def worker():
        conn = HttpConnection("127.0.0.1", port)
        try:
            while time.monotonic() < stop:
                await conn.request("GET", path)
                count[0] += 1
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return {
        "requests_per_s": round(count[0] / seconds),
        "tool": "bench.httpclient (the client, not nginx, is the bound)",
    }


def nginx_ceilings(seconds=2.0):
    state = tempfile.mkdtemp(prefix="bench-nginx-ceiling-")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(state, "tmp", sub), exist_ok=True)
    port, upstream = free_port(), free_port()
    nginx = Nginx(
        NGINX_TRIVIAL.format(dir=state, port=port, upstream=upstream), state, port=port
    ).start()
    try:
        results = {}
        for name, path in (("return_200", "/direct"), ("proxy_to_trivial_upstream", "/")):
            if shutil.which("wrk"):
                results[name] = _wrk(f"http://127.0.0.1:{port}{path}", seconds)
            else:
                results[name] = asyncio.run(_own_client(port, path, seconds))
        return results
    finally:
        nginx.stop(remove=True)


def loadgen_parse_rate(deliveries=100_000):
    """`message` deliveries per second one core of the generator can parse and count."""
    payload = (
        b'42["message",{"id": 123456, "room": "fan-f-1000", "author": {"username": '
        b'"benchu1", "display_name": "benchu1"}, "body": "f0- 12 '
        + b"x"
        * 80
        + b'", "client_id": "f0-12:%d", "created_at": "2025-01-01T00:00:00.000Z", '
        b'"edited_at": null, "deleted": false}]' % time.monotonic_ns()
    )
    frame = bytes((0x81, 126)) + len(payload).to_bytes(2, "big") + payload
    from bench.fanout import Step

    step = Step("f0-", 1, 100)

    class Sink:
        index = 0

    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        client = SioClient("127.0.0.1", 1, on_message=lambda c, raw: step.on_message(Sink, raw))
        client._handshaking = False
        chunk = frame * 50
        t0 = time.process_time()
        for _ in range(deliveries // 50):
            client.data_received(chunk)
        cpu = time.process_time() - t0
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return {
        "deliveries_per_core_s": round(step.delivered / cpu) if cpu else None,
        "frames": step.delivered,
    }


ECHO_SERVER = """
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    d = c.recv(64)
    if not d:
        break
    c.sendall(d)
"""


def loopback_round_trip(count=5000):
    """Sequential 64-byte ping-pongs with a Python echo server in another process."""
    import socket

    import psutil

    server = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline())
        proc = psutil.Process(server.pid)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = b"x" * 64
        for _ in range(200):  # warm up
            sock.sendall(data)
            sock.recv(64)
        s0 = sum(proc.cpu_times()[:2])
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(count):
            sock.sendall(data)
            sock.recv(64)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0 + sum(proc.cpu_times()[:2]) - s0
        sock.close()
    finally:
        server.wait(5)
    return {
        "wall_us": round(wall / count * 1e6, 1),
        "cpu_us": round(cpu / count * 1e6, 1),
        "round_trips": count,
    }


def run_ceilings(seconds=2.0):
    log("reference ceilings")
    out = {
        "redis_publish": redis_publish(seconds),
        "nginx": nginx_ceilings(seconds),
        "loadgen": loadgen_parse_rate(),
        "loopback": loopback_round_trip(),
    }
    r = out["redis_publish"].get("publish_per_s")
    print(
        f"  ceilings: redis PUBLISH {r}/s; nginx return 200 "
        f"{out['nginx']['return_200'].get('requests_per_s')}/s, via proxy "
        f"{out['nginx']['proxy_to_trivial_upstream'].get('requests_per_s')}/s; "
        f"load generator parses {out['loadgen']['deliveries_per_core_s']} deliveries/core-s; "
        f"loopback round trip {out['loopback']['wall_us']} us wall, "
        f"{out['loopback']['cpu_us']} us CPU",
        flush=True,
    )
    return out
