"""CPU per REST post inside one process, on a private PostgreSQL and Redis.

    python -m bench.send_cpu                 # 2,000 posts, 3 rounds
    python -m bench.send_cpu -n 5000 --rounds 5 --profile /tmp/send.txt
    python -m bench.send_cpu --instructions  # instructions per post, under valgrind

The app runs in this process (threading mode, Flask's test client), so the
figure is the app's own Python work per post, from the WSGI call to the reply:
auth (the token, the session check in Redis, the user), the argument and reply
schemas, the locked read, the INSERT, the COMMIT and the PUBLISH. What the
cluster adds on top (gunicorn's HTTP, eventlet's waits) is not in it; the
cluster figure is `make bench`'s "app CPU per post". This one moves less from
run to run, which is what an A/B of a small change needs (docs/performance.md).

On this shared machine even that moves by 20 % between processes, so a small
change is judged by --instructions: the machine instructions per post, counted
by valgrind's callgrind over the rounds only (the start-up is not counted), the
same to 0.5 % from run to run. It counts the whole process, the Socket.IO
listener thread included, but none of PostgreSQL's or Redis's work.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from localservices import Postgres, Redis  # noqa: E402

BATCH = 50


def make_app(database_url, redis_url):
    from flask_migrate import upgrade

    from app import create_app
    from app.config import Config, database_uri

    app = create_app(
        Config(
            APP_ENV="testing",
            SECRET_KEY="bench-secret",
            SQLALCHEMY_DATABASE_URI=database_uri(database_url),
            REDIS_URL=redis_url,
            ASYNC_MODE="threading",
            RATELIMIT_ENABLED=False,
            PASSWORD_HASH_METHOD="pbkdf2:sha256:1",
            INSTANCE_ID="bench-1",
        )
    )
    with app.app_context():
        upgrade()
    return app


class WsgiClock:
    """The CPU time of the thread that runs each WSGI call, inside the call: the
    app's work without the test client's (building the environ, reading the reply)
    or the Socket.IO listener thread's."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.seconds = 0.0

    def __call__(self, environ, start_response):
        begin = time.thread_time()
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            self.seconds += time.thread_time() - begin


def posts(client, clock, headers, room, count, start):
    """Sends `count` posts; returns (process CPU seconds, WSGI-call CPU seconds)."""
    begin, inside = time.process_time(), clock.seconds
    for i in range(start, start + count):
        response = client.post(
            f"/api/rooms/{room}/messages",
            headers=headers,
            json={"body": f"bench {i}", "client_id": f"c{i}"},
        )
        if response.status_code != 201:
            raise SystemExit(f"post {i}: {response.status_code} {response.get_data(as_text=True)}")
    return time.process_time() - begin, clock.seconds - inside


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "-n", type=int, default=None, help="posts per round (2,000; 200 with --instructions)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--profile",
        help="write py-spy collapsed stacks of the rounds here "
        "(the thread holding the GIL only: CPU, not waits)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per post under valgrind (-n 200, 1 round by default)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument(
        "--handshake",
        action="store_true",
        help="print 'ready' before the rounds and 'done' after them, and wait for a "
        "line on stdin after each (--instructions drives this)",
    )
    args = parser.parse_args(argv)
    if args.n is None:
        args.n = 200 if args.instructions else 2000
    if args.n < 1:
        parser.error("-n must be at least 1")
    if args.instructions:
        figure = count_instructions(n=args.n, warmup=min(args.warmup, 100))
        print(
            json.dumps({"instructions_per_post": figure})
            if args.json
            else f"instructions per post, in process: {figure / 1e6:.3f} M"
        )
        return

    with Postgres() as postgres, Redis() as redis:
        url = postgres.create_database("bench_send")
        app = make_app(url, redis.url())
        clock = app.wsgi_app = WsgiClock(app.wsgi_app)
        client = app.test_client()
        reply = client.post(
            "/api/auth/register", json={"username": "bench", "password": "password123"}
        )
        headers = {"Authorization": f"Bearer {reply.get_json()['token']}"}
        client.post("/api/rooms", headers=headers, json={"name": "bench"})
        posts(client, clock, headers, "bench", args.warmup, 0)
        spy = None
        if args.profile:
            from bench.profile import pyspy

            spy = pyspy(os.getpid(), 3600, args.profile, gil=True)
            time.sleep(1)
        if args.handshake:
            print("ready", flush=True)
            sys.stdin.readline()
        per_post, in_app, batches = [], [], []
        sent = args.warmup
        for _ in range(args.rounds):
            cpu = app_cpu = 0.0
            done = 0
            while done < args.n:
                size = min(BATCH, args.n - done)
                batch = posts(client, clock, headers, "bench", size, sent)
                sent, done = sent + size, done + size
                cpu, app_cpu = cpu + batch[0], app_cpu + batch[1]
                batches.append(1e3 * batch[1] / size)
            per_post.append(1e3 * cpu / args.n)
            in_app.append(1e3 * app_cpu / args.n)
            print(
                f"round: {in_app[-1]:.3f} ms CPU per post in the app "
                f"({per_post[-1]:.3f} in the process)",
                flush=True,
            )
        if args.handshake:
            print("done", flush=True)
            sys.stdin.readline()
        if spy is not None:
            spy.send_signal(2)  # py-spy writes its output on SIGINT
            spy.wait(30)
        batches.sort()
        figures = {
            "cpu_ms_per_post": round(statistics.median(in_app), 3),
            "process_cpu_ms_per_post": round(statistics.median(per_post), 3),
            "fastest_fifth_ms_per_post": round(batches[len(batches) // 5], 3),
            "posts": args.n * args.rounds,
        }
        if args.json:
            print(json.dumps(figures))
        else:
            print(
                f"app CPU per post, in process (ms): median {figures['cpu_ms_per_post']:.3f}, "
                f"min {min(in_app):.3f} (whole process: median "
                f"{figures['process_cpu_ms_per_post']:.3f}), over {args.rounds} rounds of "
                f"{args.n}; batches of {BATCH}: fastest fifth "
                f"{figures['fastest_fifth_ms_per_post']:.3f}"
            )


def count_instructions(n, warmup):
    """Runs this module under callgrind with instrumentation off until the
    rounds start, on, and off again when they end; returns instructions per post."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    out_dir = tempfile.mkdtemp(prefix="send-instructions-")
    out = os.path.join(out_dir, "callgrind.out")
    # A fixed hash seed and the system allocator: the same work gives the same count.
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONMALLOC="malloc")
    child = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.send_cpu",
            "-n",
            str(n),
            "--rounds",
            "1",
            "--warmup",
            str(warmup),
            "--handshake",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in child.stdout:
            if line.strip() in ("ready", "done"):
                switch = "on" if line.strip() == "ready" else "off"
                subprocess.run(
                    ["callgrind_control", f"--instr={switch}", str(child.pid)],
                    check=True,
                    capture_output=True,
                )
                child.stdin.write("\n")
                child.stdin.flush()
        if child.wait() != 0:
            raise SystemExit(f"the counted run exited with {child.returncode}")
        total = 0
        for name in os.listdir(out_dir):  # one file per dump; the totals line of each
            with open(os.path.join(out_dir, name)) as f:
                total += sum(
                    int(m.group(1)) for m in re.finditer(r"^totals: (\d+)", f.read(), re.M)
                )
    finally:
        if child.poll() is None:
            child.kill()
        shutil.rmtree(out_dir, ignore_errors=True)
    return round(total / n)


def run_send(n=1500, rounds=3, instructions=True):
    """The figures of both modes, each from its own process (for bench.run)."""

    def figures(*extra):
        done = subprocess.run(
            [sys.executable, "-m", "bench.send_cpu", "--json", *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench.send_cpu {' '.join(extra)}: {done.stderr[-500:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    result = figures("-n", str(n), "--rounds", str(rounds))
    if instructions and shutil.which("valgrind"):
        result.update(figures("--instructions"))
    return result


if __name__ == "__main__":
    main()
