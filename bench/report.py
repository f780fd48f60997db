"""Turns a run's results (the JSON) into the markdown table and the PNG plots."""

import os
import statistics

from bench import search

LABELS = {
    "eventlet": "chat (eventlet)",
    "gevent": "chat (gevent)",
    "node": "Node peer (PostgreSQL)",
    "node-redis": "Node peer (Redis only)",
}


def is_peer(name):
    """The Node peers are what the chat is compared with; `node` is the fair one."""
    return name.startswith("node")


def _get(d, *path):
    for p in path:
        if isinstance(d, list) and isinstance(p, int):
            if not -len(d) <= p < len(d):
                return None
        elif not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _fmt(v, digits=0):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and digits:
        return f"{v:,.{digits}f}"
    return f"{v:,.0f}" if abs(v) >= 100 or digits == 0 else f"{v:g}"


def _per(cores, rate, scale):
    if not isinstance(cores, (int, float)) or not rate:
        return None
    return cores / rate * scale


def _ratio_of(a, b):
    """a ÷ b, or None unless both are numbers and b is not 0."""
    ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and b
    return a / b if ok else None


def _ratio(a, b):
    r = _ratio_of(a, b)
    return "–" if r is None else f"{r:.2f}×"


def per_send(r):
    """The app's CPU per Socket.IO send (ms) at the sends step's fixed rate, less
    what the instances spent idle before it (none recorded: nothing taken off)."""
    app = _get(r, "sends", "steps", 0, "cpu_cores", "app")
    if not isinstance(app, (int, float)):
        return None
    idle = _get(r, "sends", "idle_cpu_cores", "app") or 0.0
    return _per(max(0.0, app - idle), _get(r, "sends", "steps", 0, "rate_msgs"), 1e3)


def _send_estimate(r, deliveries):
    """CPU per Socket.IO send less its deliveries, each at the big room's CPU per
    delivery (an estimate: a small room's deliveries cost a little more each)."""
    per_send_ms = per_send(r)
    per_delivery = _per(
        _get(r, "fanout", "best", "cpu_cores", "app"),
        _get(r, "fanout", "best", "offered_deliveries_per_s"),
        1e3,
    )
    if per_send_ms is None or per_delivery is None:
        return None
    return per_send_ms - deliveries * per_delivery


def rows(results):
    """(label, {target: value}, digits) rows of the main table."""
    t = results["targets"]
    out = []

    def add(label, fn, digits=0):
        out.append((label, {name: fn(t[name]) for name in t}, digits))

    k = results["config"]["fanout"]["clients"]
    n = results["config"]["instances"]
    add(
        f"fan-out K={k} on {n}: max deliveries/s, p99 ≤ 250 ms, none lost",
        lambda r: (
            _get(r, "fanout", "best", "offered_deliveries_per_s")
            if _get(r, "fanout", "steps")
            else None
        ),
    )
    add(
        "  p50 latency at that rate (ms)",
        lambda r: _get(r, "fanout", "best", "latency_ms", "p50"),
        1,
    )
    add(
        "  p99 latency at that rate (ms)",
        lambda r: _get(r, "fanout", "best", "latency_ms", "p99"),
        1,
    )
    add("  send→ack p50 at that rate (ms)", lambda r: _get(r, "fanout", "best", "ack_ms", "p50"), 1)
    add(
        "  app CPU per delivery at that rate (µs)",
        lambda r: _per(
            _get(r, "fanout", "best", "cpu_cores", "app"),
            _get(r, "fanout", "best", "offered_deliveries_per_s"),
            1e6,
        ),
        1,
    )
    add(
        "  load generator CPU at that rate (cores)",
        lambda r: _get(r, "fanout", "best", "cpu_cores", "loadgen"),
        2,
    )
    add(
        "  lost / duplicated (all steps)",
        lambda r: (
            "%d / %d"
            % (
                sum(s["lost"] for s in r["fanout"]["steps"]),
                sum(s["duplicated"] for s in r["fanout"]["steps"]),
            )
            if _get(r, "fanout", "steps")
            else None
        ),
    )
    if any(_get(r, "fanout_small_room", "steps") for r in t.values()):
        k2 = results["config"]["fanout_small_room"]["clients"]
        add(
            f"fan-out K={k2} on {n}: max deliveries/s, p99 ≤ 250 ms, none lost",
            lambda r: (
                _get(r, "fanout_small_room", "best", "offered_deliveries_per_s")
                if _get(r, "fanout_small_room", "steps")
                else None
            ),
        )
        add(
            "  messages/s sent at that rate",
            lambda r: _get(r, "fanout_small_room", "best", "rate_msgs"),
            1,
        )
        add(
            "  p99 latency at that rate (ms)",
            lambda r: _get(r, "fanout_small_room", "best", "latency_ms", "p99"),
            1,
        )
        add(
            f"  app CPU per message sent, with its {k2} deliveries (ms)",
            lambda r: _per(
                _get(r, "fanout_small_room", "best", "cpu_cores", "app"),
                _get(r, "fanout_small_room", "best", "rate_msgs"),
                1e3,
            ),
            2,
        )
    if any(_get(r, "sends", "steps") for r in t.values()):
        k3 = results["config"]["sends"]["clients"]
        n3 = results["config"]["sends"].get("instances") or n
        add(
            f"Socket.IO sends into a room of {k3} on {n3}: messages/s",
            lambda r: _get(r, "sends", "steps", 0, "rate_msgs"),
            1,
        )
        add(f"  app CPU per send, with its {k3} deliveries, less idle (ms)", per_send, 2)
        add(
            "  the instances' app CPU idle (cores)",
            lambda r: _get(r, "sends", "idle_cpu_cores", "app"),
            3,
        )
        add(
            f"  the same less {k3} deliveries at the K={k} rate's CPU (ms)",
            lambda r: _send_estimate(r, k3),
            2,
        )
        add("  send→ack p50 (ms)", lambda r: _get(r, "sends", "steps", 0, "ack_ms", "p50"), 1)
        add(
            "  lost / duplicated",
            lambda r: (
                "%d / %d" % (r["sends"]["steps"][0]["lost"], r["sends"]["steps"][0]["duplicated"])
                if _get(r, "sends", "steps")
                else None
            ),
        )
    add(
        "connections: KiB per idle connection (worker RSS)",
        lambda r: _get(r, "connections", "kib_per_connection"),
        1,
    )
    add(
        "connections: connects/s (through nginx)", lambda r: _get(r, "connections", "connect_per_s")
    )
    add(
        "  app CPU per connect over the ramp (ms)",
        lambda r: _get(r, "connections", "app_cpu_ms_per_connect"),
        2,
    )
    add(
        "connections: first error at (total, cap {})".format(
            _fmt(
                _get(results, "config", "connections", "cap_per_instance") * n
                if _get(results, "config", "connections", "cap_per_instance")
                else None
            )
        ),
        lambda r: (
            _get(r, "connections", "errors_at")
            or ("none" if _get(r, "connections", "opened") else None)
        ),
    )
    for c in ("1", "2", "4"):
        add(
            f"scaling: REST posts/s, {c} instance(s)",
            lambda r, c=c: _get(r, "scaling", "runs", c, "posts_per_s"),
        )
    for c in ("2", "4"):
        add(f"  ratio {c} : 1 instance", lambda r, c=c: _get(r, "scaling", "ratio_to_1", c), 2)
    add(
        "  app CPU per post, 1 instance (ms)",
        lambda r: _per(
            _get(r, "scaling", "runs", "1", "cpu_cores", "app"),
            _get(r, "scaling", "runs", "1", "posts_per_s"),
            1e3,
        ),
        1,
    )
    add(
        "storm: s until all clients of the killed instance are back",
        lambda r: _get(r, "storm", "all_back_s"),
        2,
    )
    add("storm: s until all are synced", lambda r: _get(r, "storm", "all_synced_s"), 2)
    add("storm: acked messages missing afterwards", lambda r: _get(r, "storm", "lost"))
    return out


def _head(results):
    """(targets, ours, whether the fair peer ran, the table's two head lines)."""
    targets = list(results["targets"])
    ours = [x for x in targets if not is_peer(x)]
    has_node = "node" in targets
    head = ["figure", *[LABELS.get(x, x) for x in targets]]
    if has_node:
        head += [f"{x} ÷ node" for x in ours]
    return targets, ours, has_node, ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]


def table(results):
    targets, ours, has_node, lines = _head(results)
    for label, values, digits in rows(results):
        cells = [label, *[_fmt(values[x], digits) for x in targets]]
        if has_node:
            cells += [_ratio(values[x], values["node"]) for x in ours]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ceilings_table(results):
    c = results.get("ceilings") or {}
    if not c:
        return ""
    lines = ["| reference ceiling on this machine | figure |", "|---|---|"]
    r = _get(c, "redis_publish", "publish_per_s")
    lines.append(f"| Redis PUBLISH/s (redis-benchmark, 50 clients, 200 B) | {_fmt(r)} |")
    for key, label in (
        ("return_200", "nginx `return 200` req/s"),
        ("proxy_to_trivial_upstream", "nginx → trivial upstream req/s"),
    ):
        v = _get(c, "nginx", key)
        lines.append(
            f"| {label} ({(v or {}).get('tool', '')}) | {_fmt((v or {}).get('requests_per_s'))} |"
        )
    lines.append(
        "| load generator: `message` deliveries parsed per core-second | "
        f"{_fmt(_get(c, 'loadgen', 'deliveries_per_core_s'))} |"
    )
    lp = c.get("loopback") or {}
    lines.append(
        f"| loopback TCP round trip between two processes: wall / CPU (µs) | "
        f"{_fmt(lp.get('wall_us'), 1)} / {_fmt(lp.get('cpu_us'), 1)} |"
    )
    return "\n".join(lines)


def cpu_table(results):
    """Where the CPU went during each target's best fan-out step."""
    names = ["app", "nginx", "redis", "postgres", "loadgen", "other", "machine"]
    lines = [
        "| CPU (cores) at the best fan-out step | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for target, r in results["targets"].items():
        cpu = _get(r, "fanout", "best", "cpu_cores") or _get(r, "fanout", "steps", 0, "cpu_cores")
        if not cpu:
            continue
        lines.append(
            f"| {LABELS.get(target, target)} | "
            + " | ".join(_fmt(cpu.get(n), 2) if n in cpu else "–" for n in names)
            + " |"
        )
    return "\n".join(lines)


def markdown(results):
    m = results["meta"]
    parts = [
        f"# Bench results ({results['config']['mode']})",
        "",
        f"{m['started_at']}, {m['duration_s']:.0f} s; {m['cpu_model']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB; load average {m['loadavg_before']} before, "
        f"{m['loadavg_after']} after (other work shares this machine). "
        f"{results['config']['instances']} instances behind nginx (ip_hash) for every target; "
        "ratios are ours ÷ the Node peer's.",
        "",
        table(results),
        "",
        ceilings_table(results),
        "",
        cpu_table(results),
        "",
        search.markdown(results.get("search")),
        "",
        send_markdown(results.get("send")),
        "",
    ]
    return "\n".join(parts)


def send_markdown(send):
    """The send scenario (bench/send_cpu.py): one REST post inside one process."""
    if not send:
        return ""
    if "error" in send:
        return f"A REST post in one process: failed ({send['error']})."
    instructions = send.get("instructions_per_post")
    return "\n".join(
        [
            "A REST post inside one process (eventlet's and gunicorn's share left out; "
            "PostgreSQL and Redis on loopback), bench/send_cpu.py:",
            "",
            "| figure | value |",
            "|---|---|",
            f"| app CPU per post, median of the rounds (ms) | {_fmt(send.get('cpu_ms_per_post'), 3)} |",
            f"| the fastest fifth of the batches of 50 (ms) | "
            f"{_fmt(send.get('fastest_fifth_ms_per_post'), 3)} |",
            "| instructions per post (valgrind, the same to 1 % run to run) | "
            + (f"{instructions / 1e6:.3f} M |" if instructions else "– (no valgrind) |"),
        ]
    )


def plots(results, out_dir):
    """fanout_latency.png and connections_memory.png; returns the paths written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    colors = {
        "eventlet": "tab:blue",
        "gevent": "tab:green",
        "node": "tab:red",
        "node-redis": "tab:orange",
    }
    if not any(_get(r, "fanout", "steps") for r in results["targets"].values()):
        return written
    keys = ["fanout"] + (
        ["fanout_small_room"]
        if any(_get(r, "fanout_small_room", "steps") for r in results["targets"].values())
        else []
    )
    fig, axes = plt.subplots(1, len(keys), figsize=(8 * len(keys), 5), squeeze=False)
    limit = results["config"]["fanout"].get("p99_limit_ms", 250)
    for ax, key in zip(axes[0], keys):
        for name, r in results["targets"].items():
            # One point per rate: a retried step replaces the first attempt.
            by_rate = {}
            for s in _get(r, key, "steps") or []:
                if s["latency_ms"]["p50"] is not None:
                    by_rate[s["offered_deliveries_per_s"]] = s
            if not by_rate:
                continue
            xs = sorted(by_rate)
            c = colors.get(name)
            ax.plot(
                xs,
                [by_rate[x]["latency_ms"]["p99"] for x in xs],
                "o-",
                color=c,
                label=f"{LABELS.get(name, name)} p99",
            )
            ax.plot(
                xs,
                [by_rate[x]["latency_ms"]["p50"] for x in xs],
                "s--",
                color=c,
                alpha=0.6,
                label=f"{LABELS.get(name, name)} p50",
            )
        ax.axhline(limit, color="grey", linestyle=":", label=f"{limit:g} ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered deliveries per second (send rate × room size)")
        ax.set_ylabel("delivery latency (ms)")
        k = results["config"][key]["clients"]
        ax.set_title(
            f"Fan-out: one room of {k} clients on {results['config']['instances']} instances"
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "fanout_latency.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)

    if not any(
        len(_get(r, "connections", "points") or []) > 1 for r in results["targets"].values()
    ):
        return written
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, r in results["targets"].items():
        points = _get(r, "connections", "points") or []
        if len(points) < 2:
            continue
        xs = [p["connections"] for p in points]
        ys = [sum(v or 0 for v in p["rss_kib"].values()) / 1024 for p in points]
        ax.plot(xs, ys, "o-", color=colors.get(name), label=LABELS.get(name, name))
    ax.set_xlabel("open idle connections (all instances)")
    ax.set_ylabel("RSS of the app processes, summed (MiB)")
    ax.set_title(f"Memory against connections ({results['config']['instances']} instances)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "connections_memory.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
    return written


# --- several runs: `make bench RUNS=3` ------------------------------------------

# The short bench's goals against the fair peer, each ours ÷ the peer's in the
# same run (an absolute figure does not travel between machines): (goal, the
# row of `rows` it reads, the bound, whether the figure must stay at or below).
RATIO_GOALS = [
    ("app CPU per Socket.IO send, with its deliveries", "app CPU per send, with its", 1.0, True),
    ("send→ack p50 of those sends", "send→ack p50 (ms)", 1.0, True),
    ("app CPU per delivery (fan-out)", "app CPU per delivery at that rate", 0.75, True),
    ("connects per second", "connections: connects/s", 1.0, False),
    ("app CPU per message with its deliveries (small room)", "app CPU per message sent", 1.0, True),
]
POST_MS_GOAL = 1.5  # a REST post's app CPU in one process (ms), at most


def _spread(values, digits, unit=""):
    """'median (min–max)' of the numbers among `values`, or '–'."""
    numbers = sorted(v for v in values if isinstance(v, (int, float)))
    if not numbers:
        words = list(dict.fromkeys(v for v in values if isinstance(v, str)))
        return "; ".join(words) or "–"  # e.g. "0 / 0" lost / duplicated
    middle = f"{_fmt(statistics.median(numbers), digits)}{unit}"
    if len(numbers) == 1:
        return middle
    return f"{middle} ({_fmt(numbers[0], digits)}–{_fmt(numbers[-1], digits)}{unit})"


def _verdict(values, bound, at_most=True):
    """met / not met for the median of the numbers among `values`, or 'no figure'."""
    numbers = [v for v in values if isinstance(v, (int, float))]
    if not numbers:
        return "no figure"
    middle = statistics.median(numbers)
    return "met" if (middle <= bound if at_most else middle >= bound) else "not met"


def _keyed_rows(results):
    """[(key, label, {target: value}, digits)] of `rows`, each key the label and
    how many rows above share it (sections repeat labels such as the p99's)."""
    seen: dict = {}
    out = []
    for label, values, digits in rows(results):
        seen[label] = seen.get(label, -1) + 1
        out.append(((label, seen[label]), label, values, digits))
    return out


def _row(per_run, start):
    """Each run's {target: value} of the first row whose label (stripped) starts
    with `start`."""
    return [
        next((v for (label, _), v in run.items() if label.strip().startswith(start)), {})
        for run in per_run
    ]


def runs_markdown(runs):
    """Several runs of the bench side by side: each figure's median and range
    over the runs, the ratios to the peer taken within each run, and the
    goals judged on the medians."""
    first = runs[0]
    targets, ours, has_node, head = _head(first)
    lines = [
        f"# Bench results: {len(runs)} runs ({first['config']['mode']})",
        "",
        "Each cell is the median over the runs, with the lowest and highest in "
        "brackets. A ratio is taken within each run (ours ÷ the Node peer's of "
        "the same run), then summarised the same way. Runs started at "
        + ", ".join(r["meta"]["started_at"] for r in runs)
        + "; load average before each "
        + ", ".join(str(r["meta"]["loadavg_before"]) for r in runs)
        + ".",
        "",
        *head,
    ]
    # Each run's rows, read once, by key (a run whose scenario failed lacks some).
    per_run = [{key: values for key, _, values, _ in _keyed_rows(r)} for r in runs]
    for key, label, _, digits in _keyed_rows(first):
        values = [run.get(key, {}) for run in per_run]
        cells = [label, *(_spread([v.get(x) for v in values], digits) for x in targets)]
        if has_node:
            for x in ours:
                ratios = [_ratio_of(v.get(x), v.get("node")) for v in values]
                cells.append(_spread(ratios, 2, "×"))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| goal | target | median (range) over the runs | |", "|---|---|---|---|"]
    for goal, start, bound, at_most in RATIO_GOALS if has_node else []:
        values = _row(per_run, start)
        sign = "≤" if at_most else "≥"
        for x in ours:
            ratios = [_ratio_of(v.get(x), v.get("node")) for v in values]
            lines.append(
                f"| {goal}: {sign} {bound:g}× the peer's | {x} | {_spread(ratios, 2, '×')} "
                f"| {_verdict(ratios, bound, at_most)} |"
            )
    cluster = _row(per_run, "app CPU per post, 1 instance")
    for where, posts in [
        *((f"{x}, 1 instance through nginx", [v.get(x) for v in cluster]) for x in ours),
        ("in one process (bench/send_cpu.py)", [_get(r, "send", "cpu_ms_per_post") for r in runs]),
    ]:
        if not any(posts) and where != "in one process (bench/send_cpu.py)":
            continue  # a target the scaling scenario did not run
        lines.append(
            f"| a REST post's app CPU: ≤ {POST_MS_GOAL:g} ms | {where} | "
            f"{_spread(posts, 2)} | {_verdict(posts, POST_MS_GOAL)} |"
        )
    return "\n".join(lines) + "\n"
