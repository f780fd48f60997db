"""The capacity bench's pure parts: its plan, room layout, tokens, counting and report."""

import json
import os
import subprocess

from flask import Flask
from itsdangerous import URLSafeTimedSerializer

from app.auth import read_token
from bench import capacity
from bench.capacity_worker import TOKEN_SALT, first_int_field, make_token, parse_cid


def test_plan_keeps_every_process_under_the_open_file_limit():
    p = capacity.plan(100_000, None, 20_000)
    assert p["instances"] == 8
    assert p["sockets_per_instance_after_storm"] <= 20_000 - capacity.FD_SLACK
    # Each proxied WebSocket holds two of nginx's connections.
    assert p["nginx_workers"] * p["nginx_worker_connections"] >= 2 * 100_000
    assert p["loadgen_processes"] * 18_000 >= 100_000
    # Two instances of 10,000 would leave 20,000 on one after the storm.
    assert capacity.plan(20_000, None, 20_000)["instances"] == 3


def test_each_user_is_in_one_big_room_and_two_small_ones():
    n, big, small = 1000, 100, 20
    members: dict[str, set[int]] = {}
    for i in range(n):
        rooms = capacity.user_rooms(i, n, big, small, "t")
        assert len(set(rooms)) == 3
        for room in rooms:
            members.setdefault(room, set()).add(i)
    bigs = [r for r in members if r.startswith("cbt-")]
    smalls = [r for r in members if r.startswith("cst-")]
    assert len(bigs) == 10 and all(len(members[r]) == big for r in bigs)
    assert len(smalls) == 100 and all(len(members[r]) == small for r in smalls)
    # The second small rooms mix the users of the first.
    assert members["cst-0"] != members["cst-50"]


def test_tokens_are_the_ones_the_app_reads():
    app = Flask("t")
    app.config.update(SECRET_KEY="s3cret", TOKEN_TTL_SECONDS=3600, BOT_TOKEN_TTL_SECONDS=3600)
    token = make_token(URLSafeTimedSerializer("s3cret", salt=TOKEN_SALT), 42)
    with app.app_context():
        claims = read_token(token)
    assert (claims.user_id, claims.generation) == (42, 0)


def test_client_ids_and_fields_are_read_without_json():
    assert parse_cid(b"big:3:17:1700000000123456") == (b"big", 1700000000123456)
    assert parse_cid(b"somebody-else") is None
    assert parse_cid(b"a:b:c:notanumber") is None
    raw = b'42["message",{"id": 991,"room":"r","author":{"id":7}}]'
    assert first_int_field(raw, b"id") == 991
    assert first_int_field(raw, b"missing") is None


def test_losses_count_every_joined_member_once():
    acked = {"a:0:1:1": ["r1", 10], "a:0:2:1": ["r2", 11]}
    parts = [{"counts": {"a:0:1:1": 2, "a:0:2:1": 1}}, {"counts": {"a:0:1:1": 1}}]
    # r1 has 3 members (all got it), r2 has 2 (one missed it).
    assert capacity.losses(parts, acked, {"r1": 3, "r2": 2}) == (5, 1, 0)
    parts.append({"counts": {"a:0:1:1": 1}})
    assert capacity.losses(parts, acked, {"r1": 3, "r2": 2}) == (5, 1, 1)


def _results():
    def target(kib, p99):
        return {
            "hold": {"sockets": 100_000, "kib_per_socket": kib, "idle_cpu_cores": 0.2},
            "big_room": {"members": 10_000, "p99_ms": 300.0, "lost": 0, "duplicated": 0},
            "storm": {"sockets": 12_500, "p99_s": p99, "lost": 0, "duplicated": 0},
        }

    return {
        "config": {"sockets": 100_000},
        "targets": {
            "eventlet": target(15.0, 9.0),
            "gevent": target(30.0, 3.0),
            "node": target(5.0, 4.0),
        },
    }


def test_goals_are_met_or_not_per_target():
    met = {(t, g): ok for t, g, ok in capacity.goals(_results())}
    assert met[("eventlet", "≤ 16 KiB per idle socket")] is True
    assert met[("gevent", "≤ 24 KiB per idle socket")] is False
    assert met[("eventlet", "storm within 1.5× the peer's time")] is False
    assert met[("gevent", "storm within 1.5× the peer's time")] is True
    assert ("node", "storm within 1.5× the peer's time") not in met


def test_table_has_ratios_against_the_peer_and_survives_a_failed_target():
    results = _results()
    results["targets"]["gevent"] = {"error": "RuntimeError('boom')"}
    text = capacity.markdown(results)
    assert "eventlet ÷ node" in text and "3.00×" in text  # 15 KiB against 5
    assert "| gevent | 100,000 sockets held | no figure |" in text
    json.dumps(results)  # what results.json holds


def test_an_earlier_run_of_the_same_size_is_kept_beside_this_one(tmp_path):
    p = capacity.plan(100_000, None, 20_000)
    config = {"sockets": 100_000, "big_room": 10_000, "small_room": 20}

    def run(started, targets):
        meta = {"started_at": started, "targets_run": sorted(targets)}
        return {"meta": meta, "config": dict(config), "plan": dict(p), "targets": targets}

    first = tmp_path / "first.json"
    first.write_text(json.dumps(run("10:00", {"eventlet": {"hold": {"sockets": 1}}})))
    second = run("11:00", {})
    assert capacity.add_earlier_run(second, str(first)) is None
    second["targets"]["node"] = {"hold": {"sockets": 2}}
    second_path = tmp_path / "second.json"
    second_path.write_text(json.dumps(second))

    # A third run measures eventlet again: its own figures win, both earlier
    # runs are named in the order they ran.
    third = run("12:00", {})
    assert capacity.add_earlier_run(third, str(second_path)) is None
    third["targets"]["eventlet"] = {"hold": {"sockets": 3}}
    assert {t: r["hold"]["sockets"] for t, r in third["targets"].items()} == {
        "eventlet": 3,
        "node": 2,
    }
    assert [m["started_at"] for m in third["meta"]["earlier_runs"]] == ["10:00", "11:00"]

    smaller = run("13:00", {})
    smaller["config"]["sockets"] = 20_000
    problem = capacity.add_earlier_run(smaller, str(second_path))
    assert problem and "sockets=100000" in problem and smaller["targets"] == {}
    assert "cannot read" in capacity.add_earlier_run(run("14:00", {}), str(tmp_path / "none"))


def test_make_bench_capacity_runs_every_target_unless_told_otherwise():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def command(*assignments):
        out = subprocess.run(
            ["make", "-n", "-C", root, "bench-capacity", *assignments],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return " ".join(out.split()).split("-m bench.capacity ")[1]

    assert "--targets eventlet,gevent,node " in command()
    assert "--sockets 100000 " in command()
    assert "--targets node --add-to x.json" in command(
        "TARGETS=node", "CAPACITY_ARGS=--add-to x.json"
    )


def test_collections_are_read_by_generation_with_their_cpu():
    """The bench reads the app's own /metrics text: each generation's count,
    wall and CPU seconds, and the bucket that holds the longest."""
    import gc

    from prometheus_client import generate_latest

    from app import metrics

    keep = [[i] for i in range(200_000)]  # something for the full collections to walk
    gc.collect(2)
    gc.collect(2)
    seen = capacity.gc_collections(generate_latest(metrics.registry).decode())
    del keep
    full = seen["2"]
    assert full["count"] >= 2
    assert 0 < full["cpu_seconds"] <= full["seconds"] + 0.001
    assert full["longest_le"] > 0
    assert set(seen) == {"0", "1", "2"}
    # A chat that does not count the CPU (or any collection) reads as zeros.
    assert capacity.gc_collections("") == {
        g: {"count": 0.0, "seconds": 0.0, "cpu_seconds": 0.0, "longest_le": 0.0}
        for g in ("0", "1", "2")
    }


def test_chat_settings_are_name_equals_value(capsys):
    args = capacity.parse_args(["--chat-env", "GC_THRESHOLDS=7000,10,100", "--chat-env", "A_B="])
    assert args.chat_env == ["GC_THRESHOLDS=7000,10,100", "A_B="]
    for bad in ("GC_THRESHOLDS", "=7000", "GC THRESHOLDS=1"):
        try:
            capacity.parse_args(["--chat-env", bad])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{bad!r} was taken")
    assert "is not NAME=VALUE" in capsys.readouterr().err
