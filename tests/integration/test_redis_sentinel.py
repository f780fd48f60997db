"""Redis watched by Sentinel (scripts/cluster.py --redis-sentinel: a primary, a
replica and three sentinels, real processes on loopback; the app on a
redis+sentinel:// URL, app/library_hooks/redis_urls.py): the primary is killed under a
steady chat load. The sentinels promote the replica; every instance follows
by itself (its queue listener, publisher, presence, revocations and rate
limits ask the sentinels for the new primary): every socket hears
`delivery {live: false}` then `{live: true}`, cross-instance delivery resumes,
every instance is ready again, and nothing acknowledged is lost (what was
missed comes back through `sync`). The figures go to
tests/artifacts/reliability.json (docs/reliability.md quotes them)."""

import time
import uuid

import pytest
import requests
from fault_load import (
    CALL_TIMEOUT,
    record_figures,
    rounded,
    wait_until,
)
from socket_clients import ChatClient, register, unique_name

pytestmark = pytest.mark.integration

INSTANCES = 3
WARMUP = 3  # seconds of load before the fault
AFTER = 2  # seconds of load after recovery
# From the kill: the sentinels' down-after (1 s), their vote and the promotion,
# then each instance's next reconnect (its back-off is at most a few seconds).
RECOVERY_BOUND = 15


@pytest.fixture(scope="module")
def cluster_options():
    return {
        "instances": INSTANCES,
        "redis_sentinel": True,
        "extra_env": {
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "AUTH_RATE_LIMIT": "10000 per minute",
        },
    }


@pytest.fixture
def closing():
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


def readyz(instance):
    try:
        response = requests.get(instance.url + "/readyz", timeout=CALL_TIMEOUT)
    except requests.RequestException:
        return 0
    return response.status_code


def delivery_states(client):
    return [payload["live"] for event, payload in list(client.events) if event == "delivery"]


def test_primary_killed_under_load_sentinels_promote_and_every_instance_follows(
    cluster, load, closing
):
    chat = load("sentinel")
    probe_room = unique_name("sentinel_probe")
    prober = closing(register(cluster.url))
    prober.create_room(probe_room)
    receivers = []
    for instance in cluster.instances[1:]:
        account = closing(register(cluster.url))
        receiver = closing(ChatClient(instance.url, account.token, name=f"probe@{instance.id}"))
        receiver.connect().join(probe_room)
        receivers.append(receiver)

    def probe(n):
        """A message through instance 1; True if every other instance delivered it in 0.3 s."""
        message = prober.post_message(
            probe_room, f"probe {n}", client_id=uuid.uuid4().hex, base_url=cluster.instances[0].url
        ).json()
        try:
            for receiver in receivers:
                receiver.wait_for("message", lambda p: p["id"] == message["id"], timeout=0.3)
            return True
        except AssertionError:
            return False

    assert probe(0), "delivery across instances before the failover"
    time.sleep(WARMUP)
    sync_from = {m.name: m.sync_start() for m in chat.members}
    old_primary = cluster.redis.primary()
    killed_at = time.monotonic()
    cluster.redis.kill_primary()

    promoted_at = wait_until(
        lambda: cluster.redis.primary() not in (None, old_primary) and time.monotonic(),
        timeout=RECOVERY_BOUND,
        interval=0.1,
        message="the sentinels promote the replica",
    )
    n = 1
    while not probe(n):
        n += 1
        assert time.monotonic() - killed_at < RECOVERY_BOUND, "delivery did not resume"
    resumed_at = time.monotonic()
    ready_at = wait_until(
        lambda: all(readyz(i) == 200 for i in cluster.instances) and time.monotonic(),
        timeout=RECOVERY_BOUND,
        message="every instance ready on the new primary",
    )
    # Every socket heard the queue go and come back.
    sockets = [m.client for m in chat.members] + receivers
    live_again_at = wait_until(
        lambda: all(delivery_states(c)[-1:] == [True] for c in sockets) and time.monotonic(),
        timeout=RECOVERY_BOUND,
        message="every socket told delivery is live again",
    )
    for client in sockets:
        assert delivery_states(client)[:2] == [False, True], (client.name, client.events[-5:])
    instances_with_members = {m.instance() for m in chat.members}

    for member in chat.members:
        member.sync(after=sync_from[member.name])
    time.sleep(AFTER)
    chat.stop_senders()
    chat.wait_delivered()
    figures = chat.audit()
    figures.update(
        {
            "what": "the Redis primary killed (SIGKILL) under load; three sentinels "
            "(down-after 1 s, quorum 2) promote the replica; members sync from a "
            "little before the newest message they had before the failover",
            "instances": INSTANCES,
            "instances_with_members": len(instances_with_members),
            "promoted_s": rounded(promoted_at - killed_at),
            "cross_instance_delivery_resumed_s": rounded(resumed_at - killed_at),
            "all_instances_ready_s": rounded(ready_at - killed_at),
            "every_socket_live_again_s": rounded(live_again_at - killed_at),
            "recovery_bound_s": RECOVERY_BOUND,
        }
    )
    record_figures("redis_sentinel_failover", figures)

    assert len(instances_with_members) == INSTANCES, instances_with_members
    assert figures["failures_by_kind"] == {}, figures["failures_by_kind"]
    assert figures["reconnects"] == 0, "sockets stayed up through the failover"
    assert figures["gave_up"] == 0, figures
    assert figures["acked_not_stored"] == [], figures
    assert figures["stored_not_acked"] == [], figures
    assert figures["duplicated_stored"] == 0, figures
    assert figures["lost"] == 0, (figures["missing_by_member"], figures["loss_detail"])
    assert figures["delivered"] == figures["expected_deliveries"], figures
    assert figures["duplicated_live"] == 0, figures
    # The new primary serves the instances: presence is written there again.
    new_primary = cluster.redis.primary()
    assert new_primary is not old_primary
