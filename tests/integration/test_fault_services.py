"""The backing services failing under a steady chat load (scripts/cluster.py, 4
instances, eventlet), and the send limit shared by every instance; each module
cluster runs once on one Redis server and once on a local 3-master Redis
Cluster with the sharded queue (fault_load.REDIS_KINDS).

- Redis stopped and started again on the same port: sends keep being stored
  and acknowledged (the rate limiter counts in memory, presence errors are
  logged), cross-instance delivery resumes within 5 s of Redis being back
  without restarting anything, and what was missed comes back through `sync`.
- PostgreSQL stopped and started again on the same port and data directory:
  while it is down sends fail with `unavailable` (REST 503 in the error shape,
  Socket.IO error ack), never a 500, never an ack for something not stored;
  afterwards every instance recovers by itself.

The load is fault_load.ChatLoad (see test_fault_instance.py). Figures go to
tests/artifacts/reliability.json.
"""

import collections
import concurrent.futures
import time
import types
import uuid

import pytest
import requests
from fault_load import (
    CALL_TIMEOUT,
    REDIS_KINDS,
    RestSender,
    SocketSender,
    fault_cluster_options,
    record_figures,
    rounded,
    running,
    scenario_name,
    wait_until,
)
from socket_clients import ChatClient, assert_error_shape, http_session, register, unique_name

pytestmark = pytest.mark.integration

ASYNC_MODE = "eventlet"
INSTANCES = 4
PRESENCE_TTL = 9
PRESENCE_BOUND = PRESENCE_TTL / 3 + 3  # one heartbeat + slack
CLUSTER_ENV = {
    "PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
    # Cheap hashing and a generous login limit: the tests register many users.
    # SEND_RATE_LIMIT keeps its default ("20 per 2 seconds"): the load stays
    # under it, and the rate limit test is about it.
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "10000 per minute",
}
WARMUP = 3  # seconds of load before the fault
OUTAGE = 4  # seconds the service stays down
AFTER = 2  # seconds of load after recovery
RESUME_BOUND = 5  # seconds from Redis back to cross-instance delivery
RECOVERY_BOUND = 10  # seconds from PostgreSQL back to every instance storing again
SEND_LIMIT, SEND_WINDOW = 20, 2  # the default SEND_RATE_LIMIT


@pytest.fixture(scope="module", params=REDIS_KINDS)
def cluster_options(request):
    return fault_cluster_options(request.param, INSTANCES, ASYNC_MODE, CLUSTER_ENV)


@pytest.fixture(autouse=True)
def services_up(cluster, request):
    """Every test starts with Redis, PostgreSQL and every instance up, even after
    a failed test."""
    for service in (cluster.redis, cluster.postgres):
        if not running(service):
            service.start()
    request.getfixturevalue("all_instances_up")


@pytest.fixture
def closing():
    """closing(thing) -> thing; its close()/disconnect()/stop() runs after the test."""
    things = []

    def keep(thing):
        things.append(thing)
        return thing

    yield keep
    for thing in reversed(things):
        for name in ("stop", "disconnect", "close"):
            if hasattr(thing, name):
                getattr(thing, name)()
                break
        if hasattr(thing, "session") and hasattr(thing.session, "close"):
            thing.session.close()


def assert_nothing_lost(figures):
    assert figures["gave_up"] == 0, figures
    assert figures["acked_not_stored"] == [], figures
    assert figures["stored_not_acked"] == [], figures
    assert figures["duplicated_stored"] == 0, figures
    assert figures["lost"] == 0, (figures["missing_by_member"], figures["loss_detail"])
    assert figures["delivered"] == figures["expected_deliveries"], figures
    assert figures["duplicated_live"] == 0, figures


def get_unavailable(chat, path):
    """A GET through nginx by the load's first person, during an outage: a 503 in
    the error shape."""
    account = chat.accounts[0]
    response = account.session.get(
        f"{chat.cluster.url}{path}",
        timeout=CALL_TIMEOUT,
        headers={"Authorization": f"Bearer {account.token}"},
    )
    assert response.status_code == 503, response.text
    assert_error_shape(response.json(), "unavailable")
    return response


def readyz(instance):
    try:
        response = requests.get(instance.url + "/readyz", timeout=CALL_TIMEOUT)
    except requests.RequestException as exc:
        return 0, {"error": type(exc).__name__}
    return response.status_code, response.json()


# --- the send limit -------------------------------------------------------------


def test_send_rate_limit_holds_across_instances_and_spares_other_users(cluster, closing):
    room = unique_name("limit")
    spreader = closing(register(cluster.url))
    spreader.create_room(room)
    bystander = closing(register(cluster.url))
    bystander.join_room(room)
    socket = closing(ChatClient(cluster.instances[1].url, spreader.token, name="spreader"))
    socket.connect().join(room)
    sessions = [closing(http_session()) for _ in range(8)]
    headers = {"Authorization": f"Bearer {spreader.token}"}

    def rest_send(n):
        instance = cluster.instances[n % INSTANCES]
        response = sessions[n % len(sessions)].post(
            f"{instance.url}/api/rooms/{room}/messages",
            headers=headers,
            timeout=CALL_TIMEOUT,
            json={"body": f"burst {n}", "client_id": uuid.uuid4().hex},
        )
        return instance.id, "rest", response.status_code, response.json(), response.headers

    def socket_sends():
        results = []
        for n in range(4):
            ack = socket.call(
                "send", {"room": room, "body": f"socket burst {n}", "client_id": uuid.uuid4().hex}
            )
            results.append(("api-2", "socket", 201 if ack.get("ok") else 429, ack, {}))
        return results

    # 36 REST sends spread over the four instances' own ports and 4 over a
    # socket on instance 2, all at once: 40 in well under the 2 s window.
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=9) as pool:
        socket_future = pool.submit(socket_sends)
        results = list(pool.map(rest_send, range(36))) + socket_future.result()
    elapsed = time.monotonic() - started

    accepted = [r for r in results if r[2] == 201]
    refused = [r for r in results if r[2] != 201]
    by_instance = collections.Counter(r[0] for r in accepted)
    bystander_statuses = {
        instance.id: bystander.post_message(
            room, "not limited", base_url=instance.url, client_id=uuid.uuid4().hex
        ).status_code
        for instance in cluster.instances
    }
    stored = int(
        cluster.postgres.psql(
            "SELECT count(*) FROM messages m JOIN rooms r ON r.id = m.room_id JOIN users u "
            f"ON u.id = m.author_id WHERE r.name = '{room}' AND u.username = "
            f"'{spreader.username}'",
            "chat",
        ).strip()
    )

    record_figures(
        scenario_name(cluster, "rate_limit"),
        {
            "what": f"one user sends 40 messages at once: 36 over REST spread over the {INSTANCES} "
            "instances' own ports, 4 over a socket on one instance "
            f"(SEND_RATE_LIMIT default: {SEND_LIMIT} per {SEND_WINDOW} s)",
            "sent": len(results),
            "accepted": len(accepted),
            "refused": len(refused),
            "accepted_by_instance": dict(by_instance),
            "stored": stored,
            "burst_seconds": rounded(elapsed),
            "per_instance_limit_would_accept": min(len(results), SEND_LIMIT * INSTANCES),
            "other_user_sends_accepted": sum(s == 201 for s in bystander_statuses.values()),
        },
    )

    assert elapsed < SEND_WINDOW, f"the burst took {elapsed:.2f} s; the test needs < 2 s"
    assert len(accepted) == SEND_LIMIT, (len(accepted), dict(by_instance))
    assert stored == SEND_LIMIT
    assert len(by_instance) > 1, by_instance  # accepted on several instances, limited once
    for instance_id, kind, status, body, response_headers in refused:
        assert status == 429, (instance_id, kind, status, body)
        assert_error_shape(body, "rate_limited")
        if kind == "rest":
            assert int(response_headers["Retry-After"]) >= 1
    assert bystander_statuses == {i.id: 201 for i in cluster.instances}


# --- Redis ----------------------------------------------------------------------


def test_redis_restart_under_load_keeps_sends_acked_and_delivery_resumes(cluster, load, closing):
    chat = load("redis")
    # Probes in a room of their own: a REST sender on instance 1, a receiver on
    # each other instance, to time when delivery across instances resumes.
    probe_room = unique_name("redis_probe")
    prober = closing(register(cluster.url))
    prober.create_room(probe_room)
    receivers = []
    for instance in cluster.instances[1:]:
        account = closing(register(cluster.url))
        receiver = closing(ChatClient(instance.url, account.token, name=f"probe@{instance.id}"))
        receiver.connect().join(probe_room)
        receivers.append(receiver)

    def probe(n):
        """Sends a probe through instance 1; True if every receiver got it within 0.3 s."""
        message = prober.post_message(
            probe_room, f"probe {n}", client_id=uuid.uuid4().hex, base_url=cluster.instances[0].url
        ).json()
        try:
            for receiver in receivers:
                receiver.wait_for("message", lambda p: p["id"] == message["id"], timeout=0.3)
            return True
        except AssertionError:
            return False

    assert probe(0), "delivery across instances before the outage"
    time.sleep(WARMUP)
    sync_from = {m.name: m.sync_start() for m in chat.members}
    stopped_at = time.monotonic()
    cluster.redis.stop(remove=False)
    down_at = time.monotonic()

    # While Redis is down: readiness says so, members (needs presence) is 503,
    # new sockets are still accepted, and the load's sends go on (checked below).
    time.sleep(1)
    status, body = readyz(cluster.instances[2])
    assert status == 503 and body["checks"]["message_queue"]["ok"] is False, body
    get_unavailable(chat, f"/api/rooms/{chat.room}/members")
    late = closing(ChatClient(cluster.instances[3].url, chat.accounts[-1].token, name="late"))
    late.connect().join(chat.room)
    assert not probe(1), "no delivery across instances without the queue"
    time.sleep(max(0, OUTAGE - (time.monotonic() - down_at)))

    restart_started = time.monotonic()
    cluster.redis.start()
    back_at = time.monotonic()
    n = 2
    while not probe(n):
        n += 1
        assert time.monotonic() - back_at < RESUME_BOUND + 5, "delivery did not resume"
    resumed_at = time.monotonic()
    ready_at = wait_until(
        lambda: all(readyz(i)[0] == 200 for i in cluster.instances) and time.monotonic(),
        timeout=10,
        message="every instance ready",
    )
    # Redis came back empty: each instance writes its sockets back at its next
    # heartbeat, so connected people show as online again.
    everyone = {m.account.username for m in chat.members}

    def all_online():
        online = chat.accounts[0].members(chat.room)
        return all(online[name] for name in everyone) and time.monotonic()

    presence_at = wait_until(
        all_online, timeout=PRESENCE_BOUND, interval=0.2, message="connected members online again"
    )

    # What was missed while the queue was down comes back through sync.
    for member in chat.members:
        member.sync(after=sync_from[member.name])
    time.sleep(AFTER)
    chat.stop_senders()
    chat.wait_delivered()
    figures = chat.audit()

    def acked_while_down(kind):
        return sum(
            1
            for s in chat.senders
            if isinstance(s, kind)
            for a in s.acked
            if stopped_at <= a["acked_at"] <= restart_started
        )

    figures.update(
        {
            "what": f"Redis stopped for {OUTAGE} s under load and started again on the same "
            "port (its data is not persisted); members sync from a little before the "
            "newest message they had before the outage",
            "async_mode": ASYNC_MODE,
            "redis_down_s": rounded(back_at - stopped_at),
            "acked_while_down": {
                "socket_io": acked_while_down(SocketSender),
                "rest": acked_while_down(RestSender),
            },
            "cross_instance_delivery_resumed_s": rounded(resumed_at - back_at),
            "resume_bound_s": RESUME_BOUND,
            "all_instances_ready_s": rounded(ready_at - back_at),
            "presence_restored_s": rounded(presence_at - back_at),
            "presence_bound_s": PRESENCE_BOUND,
        }
    )
    record_figures(scenario_name(cluster, "redis_restart"), figures)

    assert figures["failures_by_kind"] == {}, figures["failures_by_kind"]
    assert figures["acked_while_down"]["socket_io"] > 0, figures
    assert figures["acked_while_down"]["rest"] > 0, figures
    assert figures["reconnects"] == 0, "sockets stayed up through the outage"
    assert figures["cross_instance_delivery_resumed_s"] <= RESUME_BOUND, figures
    assert_nothing_lost(figures)


# --- PostgreSQL -------------------------------------------------------------------


def test_postgres_restart_under_load_fails_sends_cleanly_and_recovers(cluster, load, closing):
    chat = load("postgres")
    # Senders that try each message once (no retry), in a room of their own: each
    # answer must tell the truth — acked means stored, unavailable means not.
    once_room = unique_name("pg_once")
    # (Three people, so that none of them nears the send limit.)
    once_account, once_rest, once_sio = (closing(register(cluster.url)) for _ in range(3))
    once_account.create_room(once_room)
    once_rest.join_room(once_room)
    once_sio.join_room(once_room)
    once_socket = closing(ChatClient(cluster.instances[2].url, once_sio.token, name="once"))
    once_socket.connect().join(once_room)

    once = [
        closing(RestSender(once_rest, cluster.url, once_room, 0.25, retry=False)),
        closing(
            SocketSender(
                types.SimpleNamespace(client=once_socket, account=once_sio),
                once_room,
                0.25,
                retry=False,
            )
        ),
    ]
    for sender in once:
        sender.start()

    time.sleep(WARMUP)
    stopped_at = time.monotonic()
    cluster.postgres.stop(remove=False)
    down_at = time.monotonic()

    time.sleep(1)
    status, body = readyz(cluster.instances[1])
    assert status == 503 and body["checks"]["database"]["ok"] is False, body
    response = get_unavailable(chat, f"/api/rooms/{chat.room}/messages")
    assert response.headers.get("Retry-After") == "2"
    time.sleep(max(0, OUTAGE - (time.monotonic() - down_at)))

    restart_started = time.monotonic()
    cluster.postgres.start()
    back_at = time.monotonic()

    # Every instance stores again by itself: a send straight to each one.
    recovered = {}
    deadline = back_at + RECOVERY_BOUND + 5
    while len(recovered) < INSTANCES and time.monotonic() < deadline:
        for instance in cluster.instances:
            if instance.id in recovered:
                continue
            try:
                response = once_account.session.post(
                    f"{instance.url}/api/rooms/{once_room}/messages",
                    timeout=CALL_TIMEOUT,
                    headers={"Authorization": f"Bearer {once_account.token}"},
                    json={"body": "recovered?", "client_id": uuid.uuid4().hex},
                )
            except requests.RequestException:
                continue
            assert response.status_code in (201, 503), response.text
            if response.status_code == 201:
                recovered[instance.id] = time.monotonic() - back_at
        time.sleep(0.1)
    ready_at = wait_until(
        lambda: all(readyz(i)[0] == 200 for i in cluster.instances) and time.monotonic(),
        timeout=10,
        message="every instance ready",
    )

    time.sleep(AFTER)
    for sender in once:
        sender.stop()
    for sender in once:
        sender.join(2 * CALL_TIMEOUT)
    chat.stop_senders()
    chat.wait_delivered()
    figures = chat.audit()

    # The single tries: acked <=> stored.
    stored_once = dict(
        row.split("|", 1)[::-1]
        for row in cluster.postgres.psql(
            "SELECT m.id, m.client_id FROM messages m JOIN rooms r ON r.id = m.room_id "
            f"WHERE r.name = '{once_room}' AND m.client_id IS NOT NULL",
            "chat",
        ).split()
    )
    tries = [o for sender in once for o in sender.outcomes]
    acked_tries = [(cid, mid) for cid, kind, mid in tries if kind == "ok"]
    failed_tries = [(cid, kind) for cid, kind, _ in tries if kind != "ok"]
    once_failures = collections.Counter(kind for _, kind in failed_tries)
    all_failures = collections.Counter(figures["failures_by_kind"]) + once_failures

    figures.update(
        {
            "what": f"PostgreSQL stopped (fast shutdown) for {OUTAGE} s under load and started "
            "again on the same port and data directory; senders retry failed sends with "
            "the same client_id, and two more senders try each message once",
            "async_mode": ASYNC_MODE,
            "postgres_down_s": rounded(back_at - stopped_at),
            "postgres_start_s": rounded(back_at - restart_started),
            "instance_recovered_s": {k: rounded(v) for k, v in sorted(recovered.items())},
            "all_instances_ready_s": rounded(ready_at - back_at),
            "single_tries": {
                "sent": len(tries),
                "acked": len(acked_tries),
                "failed": dict(once_failures),
                "acked_and_stored": sum(
                    1 for cid, mid in acked_tries if stored_once.get(cid) == str(mid)
                ),
                "failed_but_stored": sum(1 for cid, _ in failed_tries if cid in stored_once),
            },
            "rest_503_with_retry_after": sum(
                s.retry_after[503] for s in chat.senders + once if isinstance(s, RestSender)
            ),
        }
    )
    record_figures(scenario_name(cluster, "postgres_restart"), figures)

    # While it was down: unavailable, and nothing else (no 500, no time-out).
    assert set(all_failures) <= {"http:503:unavailable", "ack:unavailable"}, all_failures
    assert all_failures["http:503:unavailable"] > 0 and all_failures["ack:unavailable"] > 0, (
        all_failures
    )
    assert all(s.error_shapes_ok for s in chat.senders + once if isinstance(s, RestSender))
    assert figures["rest_503_with_retry_after"] == all_failures["http:503:unavailable"]
    assert figures["max_send_latency_s"] < CALL_TIMEOUT, "a send hung"
    # Afterwards: every instance stores again, by itself.
    assert set(recovered) == {i.id for i in cluster.instances}, recovered
    assert max(recovered.values()) <= RECOVERY_BOUND, recovered
    # An ack means stored; a failure means not stored.
    assert figures["single_tries"]["acked_and_stored"] == len(acked_tries), figures
    assert figures["single_tries"]["failed_but_stored"] == 0, figures
    assert len(stored_once) == len(acked_tries) + len(recovered), (stored_once, acked_tries)
    assert figures["reconnects"] == 0, "sockets stayed up through the outage"
    assert_nothing_lost(figures)
