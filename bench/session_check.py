"""What one instance's session check costs (app/realtime/sessions.py).

    python -m bench.session_check                  # 12,500 sockets, 20 passes
    python -m bench.session_check --sockets 5000

Every SESSION_FULL_CHECK_SECONDS (60 s) each instance looks at all of its
open sockets: whether a token was logged out (Redis), revoked by a password
change (the users' token generations, from PostgreSQL) or expired; the passes
every SESSION_CHECK_SECONDS (5 s) in between read only what was announced
(tests/integration/test_session_feed.py). This starts a
private PostgreSQL and Redis, migrates the app, writes `--sockets` users (one
in 50 with a changed password, as a real user table would have), tracks a
socket for each as a connect would, and times `check_open_sockets` in this
process: wall and CPU milliseconds per pass, of this process and of
PostgreSQL, and what that is as a share of a core at one pass every 60 s (and
every 5 s, as every pass was before the feed).
"""

import argparse
import json
import os
import secrets
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "scripts")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from localservices import Postgres, Redis  # noqa: E402

from bench.send_cpu import make_app  # noqa: E402
from bench.stats import summarize  # noqa: E402


def _cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu(server):
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            if b"postgres" in cmd and _ppid_chain_has(int(pid), server.pid):
                total += _cpu_of(pid)
        except OSError:
            continue
    return total


def _ppid_chain_has(pid, root):
    while pid > 1:
        if pid == root:
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rpartition(")")[2].split()[1])
        except OSError:
            return False
    return False


def run(sockets=12_500, passes=20):
    from app.auth import Claims
    from app.realtime import sessions

    pg = Postgres().start()
    redis = Redis().start()
    try:
        app = make_app(pg.create_database("bench_session_check"), redis.url())
        pg.psql(
            "INSERT INTO users (username, display_name, password_hash, created_at,"
            " token_generation, bot, site_admin)"
            f" SELECT 'u' || g, 'U ' || g, 'x', now(), CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END,"
            f" false, false FROM generate_series(1, {sockets}) g",
            dbname="bench_session_check",
        )
        with app.app_context():
            from sqlalchemy import select

            from app.extensions import db
            from app.models import User

            rows = db.session.execute(select(User.id, User.token_generation)).all()
        expires = time.time() + 3600
        for user_id, generation in rows:
            claims = Claims(user_id, generation, secrets.token_urlsafe(16), expires)
            sessions.track(secrets.token_hex(10), user_id, claims)
        wall, cpu, db_cpu = [], [], []
        with app.app_context():
            sessions.check_open_sockets()  # warm: compiled statements, connections
            for _ in range(passes):
                t0, c0, d0 = time.perf_counter(), time.process_time(), _postgres_cpu(pg)
                ended = sessions.check_open_sockets()
                wall.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                db_cpu.append((_postgres_cpu(pg) - d0) * 1000)
                assert not ended, f"{len(ended)} sockets ended; none should"
        app_ms = summarize(cpu)["p50"]
        db_ms = summarize(db_cpu)["p50"]
        return {
            "sockets": sockets,
            "passes": passes,
            "wall_ms": summarize(wall),
            "app_cpu_ms": summarize(cpu),
            "postgres_cpu_ms": summarize(db_cpu),
            "share_of_a_core_at_one_pass_per_60_s": round((app_ms + db_ms) / 60000, 5),
            "share_of_a_core_at_one_pass_per_5_s": round((app_ms + db_ms) / 5000, 4),
        }
    finally:
        redis.stop()
        pg.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=12_500)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = run(args.sockets, args.passes)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
