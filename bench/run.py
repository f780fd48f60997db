"""Runs the benchmarks and writes bench/results/<mode>/ (JSON, markdown, PNGs).

    python -m bench.run            # short: a few minutes, small sizes
    python -m bench.run --full     # the whole sweep
    python -m bench.run --targets eventlet,node --scenarios fanout,storm
    python -m bench.run --runs 3   # three short runs, then each figure's median
                                   # and range (bench/results/short-3/runs.md)

Targets: eventlet and gevent (the chat, scripts/cluster.py), node (the Node
Socket.IO peer on the chat's PostgreSQL tables) and node-redis (the same peer
keeping messages in Redis only; not run unless named), each with the same
number of instances behind the same nginx config. Scenarios: ceilings, fanout,
sends (Socket.IO sends at a fixed rate into a room of 8: CPU per send),
connections, scaling, storm, search (latency of GET /api/search over many
stored messages on PostgreSQL; bench/search.py) and send (a REST post's CPU
and instructions inside one process; bench/send_cpu.py).
"""

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import sys
import time
import traceback

import psutil

from bench import report
from bench.ceilings import run_ceilings
from bench.connections import connections
from bench.fanout import fanout
from bench.httpclient import HttpConnection
from bench.load import probe_sources
from bench.scaling import scaling
from bench.search import run_search
from bench.send_cpu import run_send
from bench.storm import storm
from bench.targets import ROOT, log, make_target, raise_fd_limit, run_token

RESULTS = os.path.join(ROOT, "bench", "results")

MODES = {
    "short": {
        "users": 64,
        "fanout": {
            "clients": 200,
            "start_deliveries": 2000,
            "factor": 2.0,
            "max_steps": 4,
            "seconds": 3.0,
            "senders": 8,
            "drain_timeout": 6.0,
            "p99_limit_ms": 250.0,
        },
        # 2,500 → 20,000: 10,000 deliveries/s into a room of 100 is one of the steps.
        "fanout_small_room": {
            "clients": 100,
            "start_deliveries": 2500,
            "factor": 2.0,
            "max_steps": 4,
            "seconds": 3.0,
            "senders": 8,
            "drain_timeout": 6.0,
            "p99_limit_ms": 250.0,
        },
        # Socket.IO sends at one fixed rate into a room of 8 on one instance (as
        # the REST post's CPU is taken on one), every member a sender: the app's
        # CPU per send with its 8 deliveries, less what the instances spend idle
        # (docs/performance.md, "Socket.IO sends"). 150 messages/s: at 300 the chat's p99 passed 250 ms
        # here, and a saturated step's CPU per send is lower (docs/performance.md).
        "sends": {
            "clients": 8,
            "start_deliveries": 1200,
            "factor": 2.0,
            "max_steps": 1,
            "seconds": 4.0,
            "senders": 8,
            "drain_timeout": 6.0,
            "p99_limit_ms": 250.0,
            "idle_seconds": 3.0,
            "instances": 1,
        },
        "connections": {"cap_per_instance": 400, "step_per_instance": 100},
        "scaling": {
            "seconds": 3.0,
            "warmup": 1.0,
            "concurrency": 32,
            "rooms": 8,
            "targets": ["eventlet"],
        },
        "storm": {"clients": 200, "send_rate": 20.0},
        "ceilings": {"seconds": 2.0},
        "search": {"messages": 200_000, "repeat": 20},
        "send": {"n": 1500, "rounds": 3},
    },
    "full": {
        "users": 256,
        "fanout": {
            "clients": 1000,
            "start_deliveries": 1000,
            "factor": 1.41,
            "max_steps": 12,
            "seconds": 8.0,
            "senders": 16,
            "drain_timeout": 15.0,
            "p99_limit_ms": 250.0,
        },
        "fanout_small_room": {
            "clients": 100,
            "start_deliveries": 1000,
            "factor": 1.41,
            "max_steps": 12,
            "seconds": 8.0,
            "senders": 16,
            "drain_timeout": 15.0,
            "p99_limit_ms": 250.0,
        },
        "sends": {
            "clients": 8,
            "start_deliveries": 1200,
            "factor": 2.0,
            "max_steps": 1,
            "seconds": 8.0,
            "senders": 8,
            "drain_timeout": 15.0,
            "p99_limit_ms": 250.0,
            "idle_seconds": 4.0,
            "instances": 1,
        },
        "connections": {"cap_per_instance": 2500, "step_per_instance": 250},
        "scaling": {
            "seconds": 8.0,
            "warmup": 2.0,
            "concurrency": 64,
            "rooms": 8,
            "targets": ["eventlet", "gevent"],
        },
        "storm": {"clients": 1000, "send_rate": 20.0},
        "ceilings": {"seconds": 5.0},
        "search": {"messages": 1_000_000, "repeat": 40},
        "send": {"n": 3000, "rounds": 5},
    },
}


def machine():
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


async def wait_quiet(target, limit=120.0):
    """Seconds until every instance answers /healthz within 0.2 s twice in a row."""
    t0 = time.monotonic()
    calm = 0
    while time.monotonic() - t0 < limit and calm < 2:
        calm += 1
        for port in target.instance_ports():
            conn = HttpConnection(target.host, port, timeout=5)
            started = time.monotonic()
            try:
                await conn.request("GET", "/healthz")
            except Exception:
                pass
            finally:
                conn.close()
            if time.monotonic() - started > 0.2:
                calm = 0
        await asyncio.sleep(0.5)
    return round(time.monotonic() - t0, 1)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


async def run_target(name, cfg, scenarios, instances):
    target = make_target(name, instances)
    result = {}
    tag = run_token()
    t0 = time.monotonic()
    target.start()
    try:
        mapping = await probe_sources(target.host, target.port)
        log(
            f"{target.name}: source addresses per instance: "
            + ", ".join(f"{k}={len(v)}" for k, v in mapping.items())
        )
        if len(mapping) < instances:
            log(f"warning: ip_hash reached only {len(mapping)} of {instances} instances")
        t_users = time.monotonic()
        tokens = await target.make_users(cfg["users"], f"b{tag}")
        result["setup"] = {
            "users": len(tokens),
            "register_s": round(time.monotonic() - t_users, 2),
            "sources": {k: len(v) for k, v in mapping.items()},
        }

        async def attempt(key, coro):
            try:
                result[key] = await coro
            except Exception as exc:
                traceback.print_exc()
                result[key] = {"error": repr(exc)[:500]}

        if "fanout" in scenarios:
            log(f"{target.name}: fan-out")
            await attempt("fanout", fanout(target, tokens, mapping, tag=f"f{tag}", **cfg["fanout"]))
            if "fanout_small_room" in cfg:
                await attempt(
                    "fanout_small_room",
                    fanout(target, tokens, mapping, tag=f"g{tag}", **cfg["fanout_small_room"]),
                )
        if "sends" in scenarios:
            log(f"{target.name}: Socket.IO sends")
            await attempt("sends", fanout(target, tokens, mapping, tag=f"h{tag}", **cfg["sends"]))
        scale_cfg = dict(cfg["scaling"])
        scale_targets = scale_cfg.pop("targets")
        if "scaling" in scenarios and target.kind == "chat" and name in scale_targets:
            log(f"{target.name}: scaling")
            await attempt(
                "scaling",
                scaling(target, tokens[: scale_cfg["concurrency"]], tag=f"s{tag}", **scale_cfg),
            )
        if "connections" in scenarios:
            log(f"{target.name}: connections")
            await attempt("connections", connections(target, tokens, mapping, **cfg["connections"]))
            # Thousands of disconnects (presence updates) may still be in progress.
            result["connections_drain_s"] = await wait_quiet(target)
        if "storm" in scenarios and instances >= 2:
            log(f"{target.name}: reconnect storm")
            await attempt(
                "storm",
                storm(
                    target,
                    tokens,
                    mapping,
                    tag=f"r{tag}",
                    kill_index=min(2, instances),
                    **cfg["storm"],
                ),
            )
    finally:
        target.stop()
    result["wall_s"] = round(time.monotonic() - t0, 1)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the whole sweep (long)")
    parser.add_argument("--targets", default="eventlet,gevent,node")
    parser.add_argument(
        "--scenarios", default="ceilings,fanout,sends,connections,scaling,storm,search,send"
    )
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument(
        "--out", default=None, help="results directory (default bench/results/<mode>)"
    )
    parser.add_argument(
        "--report",
        metavar="RESULTS_JSON",
        help="only render results.md and the plots again from a results.json",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="run the bench this many times (each in run-<n>/ of the results "
        "directory, default bench/results/<mode>-<runs>), then write runs.md: "
        "each figure's median and range",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        out_dir = os.path.dirname(os.path.abspath(args.report))
        text = report.markdown(results)
        with open(os.path.join(out_dir, "results.md"), "w") as f:
            f.write(text)
        report.plots(results, out_dir)
        print(text)
        return 0
    mode = "full" if args.full else "short"
    cfg = MODES[mode]
    targets = [t for t in args.targets.split(",") if t]
    scenarios = set(s for s in args.scenarios.split(",") if s)
    fds = raise_fd_limit()
    # Ctrl-C or a kill stops the run, and every target's processes with it.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    if args.runs == 1:
        out_dir = args.out or os.path.join(RESULTS, mode)
        run_once(mode, cfg, targets, scenarios, args.instances, out_dir, fds, loop_name)
        return 0
    out_dir = args.out or os.path.join(RESULTS, f"{mode}-{args.runs}")
    runs = []
    for n in range(1, args.runs + 1):
        log(f"run {n} of {args.runs}")
        run_dir = os.path.join(out_dir, f"run-{n}")
        runs.append(
            run_once(mode, cfg, targets, scenarios, args.instances, run_dir, fds, loop_name)
        )
    text = report.runs_markdown(runs)
    with open(os.path.join(out_dir, "runs.md"), "w") as f:
        f.write(text)
    print()
    print(text)
    print(f"written: {os.path.relpath(out_dir, ROOT)}/runs.md and run-1 to run-{args.runs}")
    return 0


def run_once(mode, cfg, targets, scenarios, instances, out_dir, fds, loop_name):
    """One run of the bench: writes results.json, results.md and the plots into
    `out_dir` (and the JSON into bench/results/raw/); returns the results."""
    os.makedirs(out_dir, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    load_before = round(os.getloadavg()[0], 2)
    log(
        f"{mode} run: targets {', '.join(targets)}; load average {load_before}; "
        f"{os.cpu_count()} cores; fd limit {fds}; {loop_name}"
    )
    results = {
        "meta": {
            **machine(),
            "started_at": started.strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg_before": load_before,
            "event_loop": loop_name,
            "fd_limit": fds,
        },
        "config": {
            "mode": mode,
            "instances": instances,
            **cfg,
            "scenarios": sorted(scenarios),
        },
        "targets": {},
    }
    if "ceilings" in scenarios:
        try:
            results["ceilings"] = run_ceilings(**cfg["ceilings"])
        except Exception as exc:
            traceback.print_exc()
            results["ceilings"] = {"error": repr(exc)}
    if "search" in scenarios:
        log(f"search over {cfg['search']['messages']:,} messages")
        try:
            results["search"] = run_search(**cfg["search"])
        except Exception as exc:
            traceback.print_exc()
            results["search"] = {"error": repr(exc)[:500]}
    if "send" in scenarios:
        log("send: a REST post's CPU and instructions in one process")
        try:
            results["send"] = run_send(**cfg["send"])
        except Exception as exc:
            traceback.print_exc()
            results["send"] = {"error": repr(exc)[:500]}
    for name in targets:
        try:
            results["targets"][name] = asyncio.run(run_target(name, cfg, scenarios, instances))
        except Exception as exc:
            traceback.print_exc()
            results["targets"][name] = {"error": repr(exc)[:500]}
    results["meta"]["duration_s"] = round(time.monotonic() - t0, 1)
    results["meta"]["loadavg_after"] = round(os.getloadavg()[0], 2)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    raw = os.path.join(RESULTS, "raw")
    os.makedirs(raw, exist_ok=True)
    with open(os.path.join(raw, started.strftime(f"%Y%m%dT%H%M%S-{mode}.json")), "w") as f:
        json.dump(results, f, default=str)
    text = report.markdown(results)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(text)
    pngs = report.plots(results, out_dir)
    print()
    print(text)
    print(
        f"written: {os.path.relpath(out_dir, ROOT)}/results.json, results.md"
        + "".join(f", {os.path.basename(p)}" for p in pngs)
    )
    return results


if __name__ == "__main__":
    sys.exit(main())
