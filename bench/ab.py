"""Before/after: the same bench, alternately against two copies of the code.

    git worktree add /tmp/before HEAD        # or any copy of the tree without the change
    python -m bench.ab /tmp/before . --rounds 2 --targets eventlet --scenarios fanout,scaling

    python -m bench.ab /tmp/before . --capacity "--sockets 10000 --instances 1 \
        --targets eventlet --phases hold --hold-s 60 --big-room 5000"

Runs `python -m bench.run` (with --capacity, `python -m bench.capacity` with
those options) from each tree in turn (before, after, before, after ...), so
both see the same machine and the same load from others, and prints each
round's headline figures side by side. The bench code itself comes from each
tree: copy bench/ into the "before" tree so that only the app differs.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

from bench import capacity
from bench.report import per_send


def headline(results):
    out = {}
    send = results.get("send") or {}
    if send.get("cpu_ms_per_post") is not None:
        out["in-process REST post app CPU ms"] = send["cpu_ms_per_post"]
    if send.get("instructions_per_post"):
        out["in-process REST post M instructions"] = round(send["instructions_per_post"] / 1e6, 3)
    for name, r in results["targets"].items():
        fan = r.get("fanout") or {}
        best = fan.get("best") or {}
        out[f"{name} fan-out deliveries/s"] = fan.get("max_deliveries_per_s")
        out[f"{name} fan-out ack p50 ms"] = (best.get("ack_ms") or {}).get("p50")
        if best.get("offered_deliveries_per_s"):
            out[f"{name} fan-out app CPU us/delivery"] = round(
                (best.get("cpu_cores") or {}).get("app", 0) / best["offered_deliveries_per_s"] * 1e6
            )
        small = r.get("fanout_small_room") or {}
        sbest = small.get("best") or {}
        if small:
            out[f"{name} small-room deliveries/s"] = small.get("max_deliveries_per_s")
        if sbest.get("rate_msgs"):
            out[f"{name} small-room app CPU ms/message"] = round(
                (sbest.get("cpu_cores") or {}).get("app", 0) / sbest["rate_msgs"] * 1e3, 2
            )
        sends_ms = per_send(r)
        if sends_ms is not None:
            out[f"{name} Socket.IO app CPU ms/send (8 deliveries, less idle)"] = round(sends_ms, 2)
        conn = r.get("connections") or {}
        if conn:
            out[f"{name} connects/s"] = conn.get("connect_per_s")
            out[f"{name} app CPU ms/connect"] = conn.get("app_cpu_ms_per_connect")
            out[f"{name} KiB per idle socket"] = conn.get("kib_per_connection")
        for n, run in ((r.get("scaling") or {}).get("runs") or {}).items():
            out[f"{name} REST posts/s x{n}"] = run.get("posts_per_s")
            cpu = run.get("cpu_cores") or {}
            if run.get("posts_per_s"):
                out[f"{name} REST app CPU ms/post x{n}"] = round(
                    cpu.get("app", 0) / run["posts_per_s"] * 1e3, 1
                )
                out[f"{name} REST PostgreSQL CPU ms/post x{n}"] = round(
                    cpu.get("postgres", 0) / run["posts_per_s"] * 1e3, 2
                )
        st = r.get("storm") or {}
        if st:
            out[f"{name} storm all synced s"] = st.get("all_synced_s")
    return out


CAPACITY_FIGURES = (
    ("sockets held", ("hold", "sockets")),
    ("app CPU ms/connect", ("hold", "app_cpu_ms_per_connect")),
    ("app CPU ms/join", ("hold", "app_cpu_ms_per_join")),
    ("KiB per idle socket", ("hold", "kib_per_socket")),
    ("idle CPU of the cluster (cores)", ("hold", "idle_cpu_cores")),
    ("idle CPU of the app (cores)", ("hold", "idle_cpu_by_component", "app")),
    ("big room p99 ms", ("big_room", "p99_ms")),
    ("chatter messages/s", ("chatter", "best_messages_per_s")),
    (
        "full GC s per instance, connects and joins",
        ("hold", "gc_connect_and_join", "seconds_per_instance"),
    ),
    (
        "GC CPU s per instance, connects and joins",
        ("hold", "gc_connect_and_join", "every_generation", "cpu_seconds_per_instance"),
    ),
    (
        "GC wall s per instance, connects and joins",
        ("hold", "gc_connect_and_join", "every_generation", "seconds_per_instance"),
    ),
    ("full GC s per instance, idle", ("hold", "gc_idle", "seconds_per_instance")),
    ("full GC s per instance, big room", ("big_room", "gc", "seconds_per_instance")),
    ("storm sockets of the killed instance", ("storm", "sockets")),
    ("storm clients synced", ("storm", "synced_s", "n")),
    ("storm synced p50 s", ("storm", "p50_s")),
    ("storm synced p99 s", ("storm", "p99_s")),
    ("storm synced max s", ("storm", "max_s")),
    ("storm acked lost", ("storm", "lost")),
    ("storm duplicated", ("storm", "duplicated")),
)


def capacity_headline(results):
    out = {}
    for name, r in results["targets"].items():
        for label, path in CAPACITY_FIGURES:
            value = capacity.get(r, *path)
            if value is not None:
                out[f"{name} {label}"] = value
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--targets", default="eventlet")
    parser.add_argument("--scenarios", default="fanout,scaling")
    parser.add_argument("--out", default=None, help="where to keep the JSON of every run")
    parser.add_argument(
        "--capacity",
        default=None,
        metavar="OPTIONS",
        help="run bench.capacity with these options instead of bench.run",
    )
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="bench-ab-")
    table = {}
    for r in range(args.rounds):
        for label, tree in (("before", args.before), ("after", args.after)):
            run_dir = os.path.join(out, f"{label}-{r}")
            if args.capacity is not None:
                bench = ["bench.capacity", *shlex.split(args.capacity)]
            else:
                bench = ["bench.run", "--targets", args.targets, "--scenarios", args.scenarios]
            subprocess.run(
                [sys.executable, "-m", *bench, "--out", run_dir],
                cwd=os.path.abspath(tree),
                check=True,
            )
            with open(os.path.join(run_dir, "results.json")) as f:
                results = json.load(f)
            figures = capacity_headline(results) if args.capacity is not None else headline(results)
            for key, value in figures.items():
                table.setdefault(key, {})[f"{label} {r + 1}"] = value
            table.setdefault("load average (1 min)", {})[f"{label} {r + 1}"] = (
                results.get("meta") or {}
            ).get("loadavg_before")
    columns = [f"{label} {r + 1}" for r in range(args.rounds) for label in ("before", "after")]
    lines = ["| figure | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key, row in table.items():
        lines.append(f"| {key} | " + " | ".join(str(row.get(c, "–")) for c in columns) + " |")
    text = "\n".join(lines)
    with open(os.path.join(out, "ab.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    print(f"runs kept in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
