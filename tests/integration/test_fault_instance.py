"""Instances failing under a steady chat load through nginx (scripts/cluster.py,
4 instances, eventlet): one killed outright, then a rolling restart. Both run on
one Redis server and again on a local 3-master Redis Cluster with the sharded
queue (fault_load.REDIS_KINDS).

The load (fault_load.ChatLoad) is 16 members of one room, each a Socket.IO
client reaching nginx from its own loopback /24, reconnecting through nginx and
syncing after its last id when its socket drops; 2 of them send over Socket.IO
and 2 over REST, each a message every 0.3 s with a fresh client_id, retrying a
failed send with the same client_id. Afterwards every acknowledged message
must be stored once and held by every member exactly once, and nothing stored
may be unacknowledged. The measured figures go to tests/artifacts/reliability.json
(docs/reliability.md reports a run).
"""

import signal
import statistics
import time

import pytest
import requests
from fault_load import (
    REDIS_KINDS,
    fault_cluster_options,
    record_figures,
    rounded,
    scenario_name,
    wait_until,
)
from socket_clients import ChatClient, register

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("all_instances_up")]

ASYNC_MODE = "eventlet"
INSTANCES = 4
# Presence expiry shortened (default 30 s) so that forgetting a dead instance's
# sockets takes seconds; a sweep runs every PRESENCE_TTL / 3.
PRESENCE_TTL = 9
PRESENCE_BOUND = PRESENCE_TTL + PRESENCE_TTL / 3 + 3  # expiry + one sweep + slack
GRACEFUL_TIMEOUT = 20
CLUSTER_ENV = {
    "PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
    "GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
    # Cheap hashing and a generous login limit: the tests register many users.
    # The send limit stays at its default; the load stays under it.
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "10000 per minute",
}
WARMUP = 3  # seconds of load before the fault
AFTER = 2  # seconds of load after recovery
RECOVERY_BOUND = 20  # seconds for every client of a lost instance to be back and synced
DRAIN_DISCONNECT_BOUND = 5  # seconds for a draining instance to close its sockets


@pytest.fixture(scope="module", params=REDIS_KINDS)
def cluster_options(request):
    return fault_cluster_options(request.param, INSTANCES, ASYNC_MODE, CLUSTER_ENV)


def assert_nothing_lost(figures):
    assert figures["gave_up"] == 0, figures
    assert figures["acked_not_stored"] == [], figures
    assert figures["stored_not_acked"] == [], figures
    assert figures["duplicated_stored"] == 0, figures
    assert figures["lost"] == 0, figures["missing_by_member"]
    assert figures["delivered"] == figures["expected_deliveries"], figures
    assert figures["duplicated_live"] == 0, figures
    assert not [k for k in figures["failures_by_kind"] if "500" in k or "internal" in k], figures[
        "failures_by_kind"
    ]


def presence_offline(room, username):
    return lambda p: (
        isinstance(p, dict)
        and p.get("room") == room
        and p["user"]["username"] == username
        and p["online"] is False
    )


def test_sigkill_of_an_instance_under_load_loses_no_acknowledged_message(
    cluster, load, redis_client
):
    chat = load("kill")
    time.sleep(WARMUP)
    distribution = chat.distribution()
    # The instance of a Socket.IO sender, so that a sender loses its socket too.
    victim_id = chat.members[0].instance()
    victim = next(i for i in cluster.instances if i.id == victim_id)
    victims = chat.members_on(victim_id)
    watcher = next(m for m in chat.members if m.instance() != victim_id)
    assert victims and len(set(distribution)) > 1, distribution

    # Someone whose only socket is on the victim and who never comes back:
    # presence must forget them once the dead instance's entry expires.
    ghost_account = register(cluster.url)
    ghost_account.join_room(chat.room)
    ghost = ChatClient(victim.url, ghost_account.token, name="ghost").connect()
    try:
        ghost.join(chat.room)
        assert chat.accounts[0].members(chat.room)[ghost_account.username] is True

        killed_at = time.monotonic()
        cluster.kill_instance(victim.index, signal.SIGKILL)

        def victims_back():
            return all(any(r.get("synced") for r in v.reconnects) for v in victims)

        wait_until(
            victims_back,
            timeout=RECOVERY_BOUND,
            interval=0.05,
            message="every client of the killed instance back and synced",
        )
        back_at = time.monotonic()

        def ghost_offline():
            online = chat.accounts[0].members(chat.room)
            return online[ghost_account.username] is False

        wait_until(
            ghost_offline,
            timeout=PRESENCE_BOUND,
            interval=0.2,
            message="the dead instance's socket forgotten by presence",
        )
        ghost_offline_at = time.monotonic()
        wait_until(
            lambda: any(
                c.received("presence", presence_offline(chat.room, ghost_account.username))
                for c in watcher.clients
            ),
            timeout=5,
            message="the offline presence event",
        )
        # Only the dead process's sockets were swept: the reconnected members
        # (and everyone else) are online.
        online = chat.accounts[0].members(chat.room)
        assert all(online[m.account.username] for m in chat.members), online
        assert not list(redis_client.scan_iter(match=f"{{presence}}:sids:{victim_id}#*"))
    finally:
        ghost.disconnect()
        ghost_account.session.close()

    time.sleep(AFTER)
    chat.stop_senders()
    chat.wait_delivered()
    figures = chat.audit()
    entries = [r for v in victims for r in v.reconnects if r["disconnected"] >= killed_at]
    figures.update(
        {
            "what": f"SIGKILL of {victim_id} (of {INSTANCES}, the one a Socket.IO sender is on) "
            f"after {WARMUP} s of load; its {len(victims)} members reconnect through "
            "nginx and sync; one more user, connected only there, never comes back",
            "async_mode": ASYNC_MODE,
            "distribution_before": distribution,
            "members_on_killed_instance": len(victims),
            "moved_to": sorted({r.get("to") for r in entries}),
            "detect_s_max": rounded(max(r["disconnected"] - killed_at for r in entries)),
            "reconnect_s_median": rounded(
                statistics.median(r["connected"] - killed_at for r in entries)
            ),
            "all_back_and_synced_s": rounded(back_at - killed_at),
            "reconnect_attempts_max": max(r["attempts"] for r in entries),
            "presence_forgot_dead_socket_s": rounded(ghost_offline_at - killed_at),
            "presence_bound_s": PRESENCE_BOUND,
            "presence_ttl_s": PRESENCE_TTL,
        }
    )
    restart_started = time.monotonic()
    cluster.restart_instance(victim.index)
    figures["restart_s"] = rounded(time.monotonic() - restart_started)
    record_figures(scenario_name(cluster, "instance_sigkill"), figures)

    assert len(entries) == len(victims)
    assert victim_id not in figures["moved_to"], figures["moved_to"]
    assert figures["all_back_and_synced_s"] <= RECOVERY_BOUND
    assert figures["acked"] > 0
    assert_nothing_lost(figures)


def probe_draining(instance, started, session, timeout=10):
    """Polls the instance's /readyz until it refuses connections; returns when
    each state was first seen (seconds after `started`).

    The first request goes over `session`'s connection, opened before the
    signal: the worker still answers on a connection it holds, and a fresh
    connection is refused once its acceptor stops (at the worker's next
    one-second tick, so a fresh connection may see the draining answer or
    may not). The draining answer closes the connection; the polls after it
    open fresh ones."""
    seen = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and instance.alive():
        try:
            response = session.get(instance.url + "/readyz", timeout=1)
            state = f"{response.status_code}:{response.json().get('status')}"
        except requests.ConnectionError:
            state = "refused"
        except requests.RequestException as exc:
            state = type(exc).__name__
        seen.setdefault(state, time.monotonic() - started)
        if state == "refused":
            break
        time.sleep(0.02)
    return seen


def test_rolling_restart_under_load_drains_each_instance_and_loses_nothing(cluster, load):
    chat = load("rolling")
    time.sleep(WARMUP)
    steps = []
    for instance in cluster.instances:
        victims = chat.members_on(instance.id)
        probe = requests.Session()
        assert probe.get(instance.url + "/readyz", timeout=5).ok
        started = time.monotonic()
        step = {
            "instance": instance.id,
            "members": len(victims),
            "at_load_s": rounded(started - chat.started_at),
        }
        cluster.kill_instance(instance.index, signal.SIGTERM, wait=False)
        seen = probe_draining(instance, started, probe)
        probe.close()
        step["readyz"] = {k: rounded(v) for k, v in seen.items()}

        def moved(started=started, victims=victims):
            return all(
                any(r.get("synced") and r["disconnected"] >= started for r in v.reconnects)
                for v in victims
            )

        wait_until(
            moved,
            timeout=RECOVERY_BOUND,
            interval=0.05,
            message=f"{instance.id}'s clients back elsewhere and synced",
        )
        entries = [r for v in victims for r in v.reconnects if r["disconnected"] >= started]
        step["clients_disconnected_s_max"] = rounded(
            max((r["disconnected"] - started for r in entries), default=None)
        )
        step["clients_back_s_max"] = rounded(
            max((r["synced"] - started for r in entries), default=None)
        )
        step["moved_to"] = sorted({r.get("to") for r in entries})
        instance.proc.wait(GRACEFUL_TIMEOUT + 10)
        step["exited_s"] = rounded(time.monotonic() - started)
        restart_started = time.monotonic()
        cluster.restart_instance(instance.index)
        step["restart_s"] = rounded(time.monotonic() - restart_started)
        step["back_at_load_s"] = rounded(time.monotonic() - chat.started_at)
        steps.append(step)
        time.sleep(1)  # some load on the full cluster between two restarts

    time.sleep(AFTER)
    chat.stop_senders()
    chat.wait_delivered()
    figures = chat.audit()
    figures.update(
        {
            "what": f"SIGTERM to each of {INSTANCES} instances in turn under load; each drains, "
            "exits, and is started again (GRACEFUL_TIMEOUT "
            f"{GRACEFUL_TIMEOUT} s) before the next",
            "async_mode": ASYNC_MODE,
            "steps": steps,
        }
    )
    record_figures(scenario_name(cluster, "rolling_restart"), figures)

    for step in steps:
        readyz = step["readyz"]
        assert step["members"] > 0, step
        assert "503:draining" in readyz, step  # says it is draining...
        assert "refused" in readyz, step  # ...then takes no connection...
        assert readyz["refused"] < step["exited_s"], step  # ...while still shutting down
        assert step["clients_disconnected_s_max"] <= DRAIN_DISCONNECT_BOUND, step
        # Gone within gunicorn's bound. (Usually in 2-5 s; an instance holding many
        # sockets sometimes waits out GRACEFUL_TIMEOUT: see docs/reliability.md.)
        assert step["exited_s"] <= GRACEFUL_TIMEOUT + 5, step
        assert step["instance"] not in step["moved_to"], step
    assert_nothing_lost(figures)
