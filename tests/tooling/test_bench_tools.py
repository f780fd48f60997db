"""The bench's own parsing and statistics code (bench/): no services, no timing.
(The repository root is on sys.path through tests/conftest.py.)"""

import pytest

from bench import search
from bench.httpclient import parse_head
from bench.sio import (
    decode_packet,
    encode_connect,
    encode_event,
    find_string_field,
    parse_frames,
    ws_frame,
)
from bench.stats import delivery_counts, percentile, slope, summarize


def test_percentile_interpolates_between_ranks():
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert percentile(values, 0) == 1
    assert percentile(values, 50) == 5.5
    assert percentile(values, 100) == 10
    assert percentile(values, 90) == pytest.approx(9.1)


def test_percentile_of_one_value_and_of_none():
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None


def test_percentile_rejects_out_of_range():
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_summarize_scales_and_sorts():
    summary = summarize([3_000_000, 1_000_000, 2_000_000], scale=1e-6)
    assert summary == {"n": 3, "p50": 2.0, "p95": 2.9, "p99": 2.98, "max": 3.0, "mean": 2.0}
    assert summarize([])["p99"] is None


def test_slope_of_a_line_and_of_a_point():
    assert slope([0, 100, 200], [1000, 1500, 2000]) == pytest.approx(5.0)
    assert slope([1], [1]) is None


def test_delivery_counts_finds_lost_and_duplicated():
    receivers = 3
    counts = bytearray(4 * receivers)
    for seq in range(4):
        for r in range(receivers):
            counts[seq * receivers + r] = 1
    counts[1 * receivers + 2] = 0  # message 1 never reached receiver 2
    counts[2 * receivers + 0] = 3  # message 2 reached receiver 0 three times
    assert delivery_counts(counts, receivers, [0, 1, 2, 3]) == (1, 2)
    assert delivery_counts(counts, receivers, [0, 3]) == (0, 0)


def test_encode_event_with_and_without_ack():
    assert encode_event("join", {"room": "a"}) == '42["join",{"room":"a"}]'
    assert encode_event("send", {"body": "é"}, ack_id=12) == '4212["send",{"body":"é"}]'
    assert encode_connect({"token": "t"}) == '40{"token":"t"}'
    assert encode_connect() == "40"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            '0{"sid":"x","pingInterval":20000}',
            (0, None, None, None, {"sid": "x", "pingInterval": 20000}),
        ),
        ("2", (2, None, None, None, None)),
        ('40{"sid":"abc"}', (4, 0, "/", None, {"sid": "abc"})),
        ('4312[{"ok":true}]', (4, 3, "/", 12, [{"ok": True}])),
        ('42["message",{"id":1}]', (4, 2, "/", None, ["message", {"id": 1}])),
        ('42/chat,7["x"]', (4, 2, "/chat", 7, ["x"])),
        ('44{"message":"no"}', (4, 4, "/", None, {"message": "no"})),
    ],
)
def test_decode_packet(text, expected):
    assert decode_packet(text) == expected


def test_decode_round_trips_the_encoder():
    assert decode_packet(encode_event("send", {"room": "r", "n": [1, 2]}, 5)) == (
        4,
        2,
        "/",
        5,
        ["send", {"room": "r", "n": [1, 2]}],
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'42["message",{"id": 3, "client_id": "f1-7:123", "body": "b"}]',  # Python's json
        b'42["message",{"id":3,"client_id":"f1-7:123","body":"b"}]',  # Node's JSON
    ],
)
def test_find_string_field_reads_both_servers_spacing(raw):
    assert find_string_field(raw, b"client_id") == b"f1-7:123"


def test_find_string_field_absent_or_not_a_string():
    assert find_string_field(b'{"id": 3}', b"client_id") is None
    assert find_string_field(b'{"client_id": null}', b"client_id") is None


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_ws_frames_round_trip_through_the_parser(size):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = ws_frame(payload, opcode=0x2, mask=b"\x01\x02\x03\x04")
    assert frame[1] & 0x80  # client frames are masked
    buf = bytearray(frame + b"\x81")  # plus the first byte of a next frame
    assert parse_frames(buf) == [(True, 0x2, payload)]
    assert buf == bytearray(b"\x81")


def test_parse_frames_waits_for_a_whole_frame():
    frame = bytes((0x81, 5)) + b"hello"  # an unmasked server frame
    buf = bytearray(frame[:4])
    assert parse_frames(buf) == []
    buf += frame[4:] + frame
    assert parse_frames(buf) == [(True, 1, b"hello"), (True, 1, b"hello")]
    assert buf == bytearray()


def test_parse_head():
    status, headers = parse_head(b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\nX-Instance: api-2")
    assert status == 201
    assert headers == {"content-length": "12", "x-instance": "api-2"}


def test_report_compares_the_chat_with_the_fair_peer_only():
    from bench.report import table

    fan = {
        "steps": [{"lost": 0, "duplicated": 0}],
        "best": {"offered_deliveries_per_s": 4000, "cpu_cores": {"app": 0.4}},
    }
    results = {
        "config": {
            "fanout": {"clients": 200},
            "instances": 4,
            "connections": {"cap_per_instance": 400},
        },
        "targets": {
            "eventlet": {"fanout": fan},
            "node": {
                "fanout": {
                    **fan,
                    "best": {"offered_deliveries_per_s": 8000, "cpu_cores": {"app": 0.4}},
                }
            },
            "node-redis": {"fanout": fan},
        },
    }
    lines = table(results).splitlines()
    assert lines[0] == (
        "| figure | chat (eventlet) | Node peer (PostgreSQL) | "
        "Node peer (Redis only) | eventlet ÷ node |"
    )
    delivery = next(line for line in lines if line.startswith("| fan-out K=200"))
    assert delivery.endswith("| 0.50× |")


def test_search_results_render_as_a_table_per_query_class():
    lat = {"n": 4, "p50": 1.5, "p95": 9.0, "p99": 9.5, "max": 10.0, "mean": 3.0}
    result = {
        "messages": 1_000_000,
        "repeat": 4,
        "gin_index_mb": 70,
        "load_s": 60.0,
        "index_build_s": 30.0,
        "classes": {
            "rare word": {
                "latency_ms": lat,
                "db_cpu_ms_per_query": 0.5,
                "app_cpu_ms_per_query": 2.0,
                "page_filled": 3.0,
            }
        },
        "gin_forced": {"rare word": {"latency_ms": lat}},
    }
    text = search.markdown(result)
    assert "1,000,000 messages" in text
    assert "| rare word | 1.5 | 9.0 | 0.5 | 2.0 | 3.0 |" in text
    assert "| rare word | 1.5 | 9.0 |" in text.split("forced for every word")[1]
    assert search.markdown(None) == ""
    assert "failed" in search.markdown({"error": "boom"})


def test_send_figures_render_and_reach_the_ab_table():
    from bench.ab import headline
    from bench.report import send_markdown

    send = {
        "cpu_ms_per_post": 2.5,
        "fastest_fifth_ms_per_post": 2.1,
        "instructions_per_post": 5_240_000,
        "posts": 4500,
    }
    text = send_markdown(send)
    assert "| app CPU per post, median of the rounds (ms) | 2.500 |" in text
    assert "| instructions per post (valgrind, the same to 1 % run to run) | 5.240 M |" in text
    assert "no valgrind" in send_markdown({"cpu_ms_per_post": 2.5})
    assert send_markdown(None) == ""
    assert "failed" in send_markdown({"error": "boom"})
    figures = headline({"targets": {}, "send": send})
    assert figures == {
        "in-process REST post app CPU ms": 2.5,
        "in-process REST post M instructions": 5.24,
    }


def test_the_sends_rows_give_cpu_per_send_and_less_its_deliveries():
    from bench.ab import headline
    from bench.report import table

    fan = {
        "steps": [{"lost": 0, "duplicated": 0}],
        "best": {"offered_deliveries_per_s": 10000, "cpu_cores": {"app": 0.4}},
    }  # 40 µs
    sends = {
        "idle_cpu_cores": {"app": 0.15},
        "steps": [
            {
                "rate_msgs": 300.0,
                "cpu_cores": {"app": 0.75},
                "lost": 0,
                "duplicated": 0,
                "ack_ms": {"p50": 4.0},
            }
        ],
    }
    results = {
        "config": {
            "fanout": {"clients": 200},
            "instances": 4,
            "sends": {"clients": 8},
            "connections": {"cap_per_instance": 400},
        },
        "targets": {"eventlet": {"fanout": fan, "sends": sends}, "node": {"fanout": fan}},
    }
    lines = table(results).splitlines()
    row = next(line for line in lines if "app CPU per send, with its 8" in line)
    assert row.startswith("|   app CPU per send, with its 8 deliveries, less idle (ms) | 2.00 |"), (
        row
    )
    less = next(line for line in lines if "less 8 deliveries" in line)
    assert "| 1.68 |" in less, less  # 2.00 - 8 × 0.04
    assert headline(results)["eventlet Socket.IO app CPU ms/send (8 deliveries, less idle)"] == 2.0


def _short_run(started, ours_connects, node_connects, post_ms):
    """A run's results holding only the connects row and the in-process post."""
    return {
        "meta": {"started_at": started, "loadavg_before": 1.0},
        "config": {
            "mode": "short",
            "fanout": {"clients": 200},
            "instances": 4,
            "connections": {"cap_per_instance": 400},
        },
        "targets": {
            "eventlet": {"connections": {"connect_per_s": ours_connects}},
            "node": {"connections": {"connect_per_s": node_connects}},
        },
        "send": {"cpu_ms_per_post": post_ms},
    }


def test_several_runs_give_medians_ranges_and_ratios_within_each_run():
    from bench.report import runs_markdown

    runs = [
        _short_run("A", 300, 400, 1.6),  # 0.75×
        _short_run("B", 500, 400, 1.4),  # 1.25×
        _short_run("C", 450, 500, 1.45),  # 0.90×
    ]
    text = runs_markdown(runs)
    row = next(line for line in text.splitlines() if line.startswith("| connections: connects/s"))
    # medians 450 and 400, and the ratio's median taken run by run (not 450 ÷ 400)
    assert row == (
        "| connections: connects/s (through nginx) | 450 (300–500) | 400 (400–500) "
        "| 0.90× (0.75–1.25×) |"
    )
    goal = next(line for line in text.splitlines() if line.startswith("| connects per second"))
    assert goal.endswith("| eventlet | 0.90× (0.75–1.25×) | not met |"), goal
    post = next(line for line in text.splitlines() if "in one process" in line)
    assert post.endswith("| 1.45 (1.40–1.60) | met |"), post
    socketio_send = next(line for line in text.splitlines() if "Socket.IO send" in line)
    assert socketio_send.endswith("| no figure |"), socketio_send
