"""Search latency (GET /api/search) over many stored messages on PostgreSQL.

    python -m bench.search                      # 1,000,000 messages
    python -m bench.search --messages 200000

A private PostgreSQL is started, migrated by the app, and loaded in bulk with
generate_series (the GIN index dropped during the load and built after it, as
one would for a bulk load; then VACUUM ANALYZE, as autovacuum would). Bodies
are eight words drawn from a vocabulary of 200,000 with a Zipf-like
(log-uniform) distribution, plus some English words for stemming, so there
are words in a handful of messages, in thousands, and in a third of them.
Messages are spread over 57 rooms: 50 public, 5 private ones the searcher is
not in (never searched) and 2 it is in.

Each query class runs `repeat` times through the app in this process (Flask's
test client: routing, validation, the query, the serialisation of a page of
20 messages; no HTTP server). Reported per class: wall latency p50/p95, and
the CPU time per query of the PostgreSQL server and of this process (the
app), which other work on a shared machine disturbs less than wall time.
Three classes also run as the alternative the app does not use, the GIN
index forced for every word (a MATERIALIZED CTE that fences the index scan
from the ORDER BY id DESC LIMIT), server-side time measured by psql.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "scripts")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from localservices import Postgres  # noqa: E402

from bench.stats import summarize  # noqa: E402

VOCABULARY = 200_000
PUBLIC_ROOMS, FOREIGN_PRIVATE, OWN_PRIVATE = 50, 5, 2
ENGLISH = [
    "deploy",
    "deployed",
    "deploying",
    "meeting",
    "meetings",
    "release",
    "released",
    "running",
    "runs",
    "build",
    "builds",
    "failed",
    "failing",
    "review",
    "reviewed",
    "lunch",
    "coffee",
    "tomorrow",
    "thanks",
    "question",
]

# class -> (query parameter sets, rotated over the repeats)
CLASSES = {
    "rare word (a few hits)": [{"q": f"w{k}"} for k in (120001, 140003, 160007, 180001, 199999)],
    "medium word (~0.1-1%)": [{"q": f"w{k}"} for k in (101, 157, 211, 307, 401)],
    "common word (>20%)": [{"q": f"w{k}"} for k in (1, 2, 3)],
    "two words": [{"q": f"w{a} w{b}"} for a, b in ((5, 40), (7, 90), (11, 300))],
    "phrase": [{"q": f'"w{a} w{b}"'} for a, b in ((1, 2), (2, 1), (1, 3))],
    "stemmed English": [{"q": q} for q in ("deploy", "meeting", "review", "fail")],
    "no hit": [{"q": f"zz{k}"} for k in range(5)],
    "one room, common word": [{"q": "w1", "room": "r3"}, {"q": "w2", "room": "r7"}],
    "one room, rare word": [{"q": f"w{k}", "room": "r3"} for k in (150001, 170003)],
}
PAGE_TWO = "common word, second page"


def _pg_cpu(server):
    """CPU seconds used so far by the PostgreSQL server and its backends."""
    import psutil  # a bench requirement (bench/requirements.txt), not the app's

    try:
        root = psutil.Process(server.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def _load(server, dbname, messages, author_ids, room_ids):
    started = time.monotonic()
    rooms = "ARRAY[" + ",".join(map(str, room_ids)) + "]"
    authors = "ARRAY[" + ",".join(map(str, author_ids)) + "]"
    english = "ARRAY[" + ",".join(f"'{w}'" for w in ENGLISH) + "]"
    word = f"'w' || floor(exp(random() * ln({VOCABULARY})))::int"
    body = " || ' ' || ".join(
        [word] * 7
        + [
            f"CASE WHEN random() < 0.2 THEN ({english})[1 + floor(random() * {len(ENGLISH)})::int] "
            f"ELSE {word} END"
        ]
    )
    server.psql("DROP INDEX ix_messages_search_vector", dbname)
    server.psql(
        "SELECT setseed(0.42); "
        "INSERT INTO messages (room_id, author_id, body, created_at) "
        f"SELECT ({rooms})[1 + i % {len(room_ids)}], ({authors})[1 + i % {len(author_ids)}], "
        f"{body}, now() - ({messages} - i) * interval '1 second' "
        f"FROM generate_series(1, {messages}) AS i",
        dbname,
    )
    loaded = time.monotonic()
    server.psql(
        "CREATE INDEX ix_messages_search_vector ON messages USING gin (search_vector)", dbname
    )
    indexed = time.monotonic()
    server.psql("VACUUM ANALYZE messages", dbname)
    sizes = (
        server.psql(
            "SELECT pg_total_relation_size('messages'), "
            "pg_relation_size('ix_messages_search_vector')",
            dbname,
        )
        .strip()
        .split("|")
    )
    return {
        "load_s": round(loaded - started, 1),
        "index_build_s": round(indexed - loaded, 1),
        "vacuum_analyze_s": round(time.monotonic() - indexed, 1),
        "table_with_indexes_mb": round(int(sizes[0]) / 2**20),
        "gin_index_mb": round(int(sizes[1]) / 2**20),
    }


def _app(url):
    from flask_migrate import upgrade

    from app import create_app
    from app.config import Config, database_uri

    app = create_app(
        Config(
            APP_ENV="testing",
            SECRET_KEY="bench-search",
            SQLALCHEMY_DATABASE_URI=database_uri(url),
            ASYNC_MODE="threading",
            PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
            INSTANCE_ID="bench-search",
            RATELIMIT_ENABLED=False,
        )
    )
    with app.app_context():
        upgrade()
    return app


def _setup(app):
    """Users and rooms through the API: (searcher headers, author ids, room ids)."""
    client = app.test_client()

    def register(name):
        body = client.post(
            "/api/auth/register", json={"username": name, "password": "password123"}
        ).get_json()
        return {"Authorization": f"Bearer {body['token']}"}, body["user"]["id"]

    searcher, searcher_id = register("searcher")
    owner, owner_id = register("owner")
    outsider, outsider_id = register("outsider")
    room_ids = []
    for n in range(PUBLIC_ROOMS):
        room_ids.append(
            client.post("/api/rooms", headers=owner, json={"name": f"r{n}"}).get_json()["id"]
        )
    for n in range(FOREIGN_PRIVATE):
        room_ids.append(
            client.post(
                "/api/rooms", headers=outsider, json={"name": f"x{n}", "private": True}
            ).get_json()["id"]
        )
    for n in range(OWN_PRIVATE):
        room_ids.append(
            client.post(
                "/api/rooms", headers=searcher, json={"name": f"s{n}", "private": True}
            ).get_json()["id"]
        )
    return searcher, [searcher_id, owner_id, outsider_id], room_ids


def _measure(app, server, headers, params_list, repeat):
    client = app.test_client()
    client.get("/api/search", headers=headers, query_string=params_list[0])  # warm
    latencies, hits = [], []
    cpu0, app0 = _pg_cpu(server), time.process_time()
    for n in range(repeat):
        params = params_list[n % len(params_list)]
        t0 = time.perf_counter()
        response = client.get("/api/search", headers=headers, query_string=params)
        latencies.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.get_data(as_text=True)
        hits.append(len(response.get_json()["messages"]))
    cpu, app_cpu = _pg_cpu(server) - cpu0, time.process_time() - app0
    return {
        "latency_ms": summarize(latencies, scale=1000.0),
        "db_cpu_ms_per_query": round(cpu * 1000 / repeat, 2),
        "app_cpu_ms_per_query": round(app_cpu * 1000 / repeat, 2),
        "page_filled": round(sum(hits) / len(hits), 1),
    }


def _second_page(app, server, headers, repeat):
    client = app.test_client()
    first = client.get("/api/search", headers=headers, query_string={"q": "w1"}).get_json()
    before = first["messages"][-1]["id"]
    return _measure(app, server, headers, [{"q": "w1", "before": before}], repeat)


def _fenced(server, dbname, searcher_id, params_list, repeat):
    """The same page with every hit found through the GIN index first: ms per query
    (psql's \\timing; at most 10 queries, each cut at 20 s)."""
    times = []
    for n in range(min(repeat, 10)):
        q = params_list[n % len(params_list)]["q"].replace("'", "''")
        times.append(
            _psql_timed(
                server,
                dbname,
                (
                    "SET statement_timeout = '20s';\n\\timing on\n"
                    "WITH hits AS MATERIALIZED (SELECT id FROM messages "
                    f"WHERE search_vector @@ websearch_to_tsquery('english', '{q}') "
                    "AND deleted_at IS NULL AND room_id IN (SELECT id FROM rooms WHERE kind = "
                    "'public' OR id IN (SELECT room_id FROM memberships WHERE user_id = "
                    f"{searcher_id}))) SELECT count(*) FROM (SELECT id FROM hits "
                    "ORDER BY id DESC LIMIT 21) AS page;\n"
                ),
            )
        )
    return {"latency_ms": summarize(times)}


def _psql_timed(server, dbname, sql):
    """Runs sql (with \\timing on) through psql's stdin; the milliseconds it reports."""
    argv = [
        os.path.join(server.bin, "psql"),
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-U",
        "postgres",
        "-d",
        dbname,
        "-At",
    ]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", server.user, "--", *argv]
    done = subprocess.run(argv, input=sql, capture_output=True, text=True)
    if "statement timeout" in done.stderr:
        return 20_000.0
    for line in done.stdout.splitlines():
        if line.startswith("Time: "):
            return float(line.split()[1])
    raise RuntimeError(done.stdout + done.stderr)


def run_search(messages=1_000_000, repeat=40, planner_comparison=True):
    server = Postgres().start()
    try:
        dbname = "bench_search"
        app = _app(server.create_database(dbname))
        headers, user_ids, room_ids = _setup(app)
        result = {
            "messages": messages,
            "vocabulary": VOCABULARY,
            "repeat": repeat,
            **_load(server, dbname, messages, user_ids, room_ids),
            "classes": {},
        }
        for name, params_list in CLASSES.items():
            result["classes"][name] = _measure(app, server, headers, params_list, repeat)
        result["classes"][PAGE_TWO] = _second_page(app, server, headers, repeat)
        every = [c["latency_ms"] for c in result["classes"].values()]
        result["worst_class_p95_ms"] = max(s["p95"] for s in every)
        if planner_comparison:
            result["gin_forced"] = {
                name: _fenced(server, dbname, user_ids[0], CLASSES[name], repeat)
                for name in ("rare word (a few hits)", "common word (>20%)", "no hit")
            }
        result["loadavg"] = round(os.getloadavg()[0], 2)
        return result
    finally:
        server.stop()


def markdown(result):
    if not result:
        return ""
    if "error" in result:
        return f"Search: failed ({result['error']})"
    lines = [
        f"Search over {result['messages']:,} messages (PostgreSQL, GIN index "
        f"{result['gin_index_mb']} MB; load {result['load_s']} s, index build "
        f"{result['index_build_s']} s), {result['repeat']} queries per class:",
        "",
        "| query class | p50 ms | p95 ms | CPU ms/query: PostgreSQL | app | hits on the page |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in result["classes"].items():
        lat = c["latency_ms"]
        lines.append(
            f"| {name} | {lat['p50']} | {lat['p95']} | {c['db_cpu_ms_per_query']} | "
            f"{c['app_cpu_ms_per_query']} | {c['page_filled']} |"
        )
    alone = result.get("gin_forced") or {}
    if alone:
        lines += [
            "",
            "| not used: the GIN index forced for every word | p50 ms | p95 ms |",
            "|---|---|---|",
        ]
        for name, c in alone.items():
            lines.append(f"| {name} | {c['latency_ms']['p50']} | {c['latency_ms']['p95']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = run_search(args.messages, args.repeat)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
