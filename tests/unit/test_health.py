"""/healthz, /readyz (on a database built without migrations) and /metrics."""

import gc

from sqlalchemy import text
from unit_helpers import test_config

from app import create_app
from app.extensions import db


def test_healthz_is_200_while_the_process_runs(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_healthz_needs_no_token(client):
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_on_an_unmigrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["detail"]
    assert body["error"]["code"] == "unavailable"


def test_readyz_reports_the_message_queue_check_too(client):
    checks = client.get("/readyz").get_json()["checks"]
    assert checks["message_queue"]["ok"] is True


def test_readyz_is_503_when_the_database_is_at_an_unknown_revision(app, client):
    with app.app_context():
        db.session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        db.session.execute(text("INSERT INTO alembic_version VALUES ('ffffffffffff')"))
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "ffffffffffff" in response.get_json()["checks"]["database"]["detail"]


def test_readyz_is_503_not_500_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        test_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing-dir/t.db")
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["ok"] is False


def test_metrics_is_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text_ = response.get_data(as_text=True)
    assert "# TYPE chat_http_requests_total counter" in text_
    assert "# TYPE chat_messages_sent_total counter" in text_


def test_metrics_content_type_names_the_charset_once(client):
    content_type = client.get("/metrics").headers["Content-Type"]
    assert content_type.count("charset") == 1


def test_metrics_counts_sent_messages(client, make_room, send, alice):
    def sent_total():
        for line in client.get("/metrics").get_data(as_text=True).splitlines():
            if line.startswith("chat_messages_sent_total "):
                return float(line.split()[1])
        raise AssertionError("chat_messages_sent_total missing")

    make_room(alice, "lounge")
    before = sent_total()
    send(alice, "lounge")
    send(alice, "lounge")
    assert sent_total() == before + 2


def test_metrics_counts_http_requests_by_endpoint_and_status(client):
    client.get("/healthz")
    text_ = client.get("/metrics").get_data(as_text=True)
    assert 'chat_http_requests_total{endpoint="health.healthz",method="GET",status="200"}' in text_


def metric_value(client, name):
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing")


def test_metrics_for_the_alert_rules(client, make_room, send, alice):
    """What deploy/prometheus/rules.yml alerts on: send-to-ack time, failed
    logins, the queue being live, and the readiness checks at scrape time."""
    make_room(alice, "metered")
    before = metric_value(client, "chat_message_send_seconds_count")
    send(alice, "metered")
    assert metric_value(client, "chat_message_send_seconds_count") == before + 1
    failed = 'chat_logins_total{outcome="failed"}'
    before = metric_value(client, failed) if failed in client.get("/metrics").text else 0
    response = client.post("/api/auth/login", json={"username": "alice", "password": "nope-nope"})
    assert response.status_code == 401
    assert metric_value(client, failed) == before + 1
    assert metric_value(client, "chat_queue_live") == 1  # the in-process queue
    checks = client.get("/readyz").get_json()["checks"]  # the same checks as /readyz
    for check in ("database", "message_queue"):
        expected = 1 if checks[check]["ok"] else 0
        assert metric_value(client, f'chat_readiness_check{{check="{check}"}}') == expected
    text_ = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE chat_message_delivery_lag_seconds histogram" in text_


def test_delivery_lag_is_observed_for_messages_from_the_queue():
    import datetime

    from app import metrics

    def count():
        return metrics.DELIVERY_LAG._sum.get(), sum(b.get() for b in metrics.DELIVERY_LAG._buckets)

    before = count()
    created = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=2)
    stamp = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    metrics.observe_delivery_lag({"event": "message", "data": {"created_at": stamp}})
    metrics.observe_delivery_lag({"event": "typing", "data": {}})  # not a message
    metrics.observe_delivery_lag({"event": "message", "data": {}})  # no time: ignored
    total, observed = count()
    assert observed == before[1] + 1
    assert 1.9 < total - before[0] < 5


def test_garbage_collections_are_timed_by_generation(client):
    """chat_gc_pause_seconds: each collection's length, by generation, since a
    full collection holds every socket of the process while it runs."""
    name = 'chat_gc_pause_seconds_count{{generation="{}"}}'
    before = [metric_value(client, name.format(g)) for g in range(3)]
    gc.collect(0)
    gc.collect(2)
    after = [metric_value(client, name.format(g)) for g in range(3)]
    assert after[0] >= before[0] + 1
    assert after[2] >= before[2] + 1
    text_ = client.get("/metrics").get_data(as_text=True)
    assert 'chat_gc_pause_seconds_bucket{generation="2",le="0.001"}' in text_
    assert 'python_gc_objects_collected_total{generation="2"}' in text_


def test_garbage_collector_thresholds_are_shown(client):
    before = gc.get_threshold()
    try:
        gc.set_threshold(7000, 10, 100)
        name = 'chat_gc_threshold{{generation="{}"}}'
        assert [metric_value(client, name.format(g)) for g in range(3)] == [7000, 10, 100]
    finally:
        gc.set_threshold(*before)


def test_garbage_collections_cpu_is_counted_by_generation(client):
    """chat_gc_cpu_seconds: the CPU each generation's collections took, which on
    a busy machine is less than their wall time (chat_gc_pause_seconds)."""
    cpu = 'chat_gc_cpu_seconds_total{{generation="{}"}}'
    wall = 'chat_gc_pause_seconds_sum{{generation="{}"}}'
    before = [metric_value(client, cpu.format(g)) for g in range(3)]
    before_wall = metric_value(client, wall.format(2))
    keep = [[i] for i in range(300_000)]  # a full collection has these to walk
    for _ in range(3):
        gc.collect(2)
    after = [metric_value(client, cpu.format(g)) for g in range(3)]
    spent = after[2] - before[2]
    assert spent > 0.001, f"3 full collections of 300,000 lists took {spent} s of CPU"
    # The thread's CPU clock cannot run faster than the wall clock around it.
    assert spent <= metric_value(client, wall.format(2)) - before_wall + 0.001
    assert after[0] >= before[0] and after[1] >= before[1]
    del keep
