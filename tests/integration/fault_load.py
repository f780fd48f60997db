"""A steady chat load for the fault tests, an audit of what it delivered, and
the figures file the tests write (tests/artifacts/reliability.json).

The load is one public room and its members, each a Socket.IO client that
reaches nginx from its own loopback address (127.0.N.1, so ip_hash spreads
them over the instances) and, when its socket drops, reconnects through nginx
from the same address, joins again and `sync`s from a little before the newest
message it has (Member.sync_start, as the page does) — what a browser tab does.
A few members also send, at a steady modest rate, each message with a fresh
client_id; a failed send is retried with the same client_id until it is
acknowledged, so a retry can never store a duplicate.

Everything is bounded: senders give up on one message after GIVE_UP seconds,
a member stops trying to reconnect after RECONNECT_DEADLINE, every call has a
timeout, and the threads stop when the test stops them.
"""

import collections
import datetime
import json
import os
import threading
import time
import uuid

import requests
import socketio
from socket_clients import ChatClient, http_session, register, unique_name, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACT = os.path.join(ROOT, "tests", "artifacts", "reliability.json")
SOURCES = [f"127.0.{n}.1" for n in range(1, 17)]  # 16 /24s for nginx's ip_hash

CALL_TIMEOUT = 5  # seconds for one Socket.IO call or REST request
RETRY_DELAY = 0.25  # between two tries of one send
GIVE_UP = 60  # seconds a sender keeps retrying one message
RECONNECT_DELAY = 0.25  # between two reconnection attempts
RECONNECT_DEADLINE = 60  # seconds a member keeps trying to come back
SYNC_OVERLAP = 20  # newest messages a catch-up asks for again (as the page)

# The failure tests run on each kind of Redis the service supports: one Redis
# server (the default queue) and a local 3-master Redis Cluster (the sharded
# queue on SSUBSCRIBE/SPUBLISH; the classic queue is refused there).
REDIS_KINDS = ["redis", "redis-cluster"]


def fault_cluster_options(kind, instances, async_mode, extra_env):
    """Cluster(**options) for a failure-test module on Redis of `kind`."""
    if kind == "redis":
        return {"instances": instances, "async_mode": async_mode, "extra_env": extra_env}
    return {
        "instances": instances,
        "async_mode": async_mode,
        "redis_cluster": True,
        "extra_env": {**extra_env, "QUEUE_MODE": "sharded"},
    }


def scenario_name(cluster, name):
    """The figures' scenario name, marked when the cluster's Redis is a Redis Cluster."""
    return f"{name}@redis_cluster" if cluster.redis_cluster else name


def running(service):
    """Whether a local service (or every node of a Redis Cluster) is running."""
    return all(
        node.proc is not None and node.proc.poll() is None
        for node in getattr(service, "nodes", [service])
    )


def record_figures(scenario, figures):
    """Merges one scenario's figures into tests/artifacts/reliability.json."""
    os.makedirs(os.path.dirname(ARTIFACT), exist_ok=True)
    try:
        with open(ARTIFACT) as f:
            data = json.load(f)
    except (FileNotFoundError, ValueError):
        data = {}
    data.setdefault("scenarios", {})[scenario] = {
        **figures,
        "recorded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    tmp = ARTIFACT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, ARTIFACT)


def instance_of(client):
    """The instance a client's session lives on: X-Instance of its first
    long-polling response (the handshake, which goes through nginx)."""
    return next((i for i in client.session.instances if i), None)


def rounded(seconds):
    return None if seconds is None else round(seconds, 2)


# --- members --------------------------------------------------------------------


class Member:
    """One person in the room: a Socket.IO client through nginx from `source`
    that reconnects (a new client from the same source) when its socket drops,
    joins the room again and syncs after the last message id it has."""

    def __init__(self, base_url, account, source, room, reconnect=True):
        self.base_url = base_url
        self.account = account
        self.source = source
        self.room = room
        self.reconnect = reconnect
        self.name = f"{account.username}@{source}"
        self.clients = []  # every socket this member had, oldest first
        self.synced = {}  # id -> message, from sync acks
        self.sync_overlap = 0  # synced messages the member already had live
        self.reconnects = []  # one dict per lost socket (times are monotonic)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # connection

    def _connect_once(self):
        client = ChatClient(self.base_url, self.account.token, source=self.source, name=self.name)
        try:
            client.connect(timeout=CALL_TIMEOUT)
            ack = client.call("join", {"room": self.room}, timeout=CALL_TIMEOUT)
            if ack.get("ok") is not True:
                raise RuntimeError(f"join refused: {ack}")
        except Exception:
            client.disconnect()
            raise
        return client

    def start(self, attempts=3):
        """Connects and joins, as a client does: a try that times out on a
        machine the tests share is tried again (the load's figures start after)."""
        for attempt in range(1, attempts + 1):
            try:
                client = self._connect_once()
                break
            except Exception:
                if attempt == attempts:
                    raise
                time.sleep(RECONNECT_DELAY)
        self.clients.append(client)
        self._thread = threading.Thread(target=self._supervise, name=self.name, daemon=True)
        self._thread.start()
        return self

    @property
    def client(self):
        with self._lock:
            return self.clients[-1]

    def connected(self):
        client = self.client
        return client.sio.connected and not client.disconnected.is_set()

    def instance(self):
        return instance_of(self.client)

    def _supervise(self):
        while not self._stop.is_set():
            old = self.client
            if not old.disconnected.wait(0.05) or self._stop.is_set():
                continue
            # Sync after what the member had when the socket dropped: the new
            # socket may get newer messages live before its sync is answered.
            entry = {
                "disconnected": time.monotonic(),
                "from": instance_of(old),
                "attempts": 0,
                "errors": collections.Counter(),
                "last_id": self.last_id(),
                "sync_after": self.sync_start(),
            }
            self.reconnects.append(entry)
            old.disconnect()  # closes its HTTP session
            if not self.reconnect:
                return
            deadline = entry["disconnected"] + RECONNECT_DEADLINE
            while not self._stop.is_set() and time.monotonic() < deadline:
                entry["attempts"] += 1
                try:
                    new = self._connect_once()
                except Exception as exc:  # the instance is going away, nginx has not noticed...
                    entry["errors"][type(exc).__name__] += 1
                    self._stop.wait(RECONNECT_DELAY)
                    continue
                entry["connected"] = time.monotonic()
                entry["to"] = instance_of(new)
                with self._lock:
                    self.clients.append(new)
                self._sync_after_reconnect(entry, deadline)
                break

    def _sync_after_reconnect(self, entry, deadline):
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self.sync(after=entry["sync_after"])
                entry["synced"] = time.monotonic()
                return
            except Exception as exc:
                entry["errors"]["sync:" + type(exc).__name__] += 1
                if self.client.disconnected.is_set():
                    return  # the supervisor deals with the new loss
                self._stop.wait(RECONNECT_DELAY)

    def sync(self, after=None):
        """Asks for everything after `after` (default: the last id this member has)."""
        after = self.last_id() if after is None else after
        while True:
            ack = self.client.call(
                "sync", {"room": self.room, "after": after, "limit": 100}, timeout=CALL_TIMEOUT
            )
            if ack.get("ok") is not True:
                raise RuntimeError(f"sync refused: {ack}")
            live = self.live_ids()
            with self._lock:
                for message in ack["messages"]:
                    if message["id"] in live or message["id"] in self.synced:
                        self.sync_overlap += 1
                    self.synced.setdefault(message["id"], message)
            if not ack["has_more"] or not ack["messages"]:
                return
            after = ack["messages"][-1]["id"]

    # what the member has

    def live_ids_per_socket(self):
        with self._lock:
            clients = list(self.clients)
        return [[p["id"] for p in c.received("message") if isinstance(p, dict)] for c in clients]

    def live_ids(self):
        return {i for ids in self.live_ids_per_socket() for i in ids}

    def ids(self):
        with self._lock:
            synced = set(self.synced)
        return self.live_ids() | synced

    def last_id(self):
        return max(self.ids(), default=0)

    def sync_start(self):
        """Where a catch-up starts, as the page's (app/static/js/state.js syncStart):
        before the SYNC_OVERLAP newest messages this member has (before the
        oldest, with fewer). Two messages sent through different instances can
        arrive in the other order; a socket lost between them must not skip
        the older one for good."""
        ids = sorted(self.ids(), reverse=True)
        if len(ids) > SYNC_OVERLAP:
            return ids[SYNC_OVERLAP]
        return ids[-1] - 1 if ids else 0

    def live_duplicates(self):
        """Messages delivered live twice to one socket."""
        return sum(len(ids) - len(set(ids)) for ids in self.live_ids_per_socket())

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            clients = list(self.clients)
        for client in clients:
            client.disconnect()


# --- senders --------------------------------------------------------------------


class Sender(threading.Thread):
    """Sends "<name> #n" every `interval` seconds, each with a new client_id,
    retrying a failed send with the same client_id until it is acknowledged."""

    def __init__(self, name, room, interval, retry=True):
        super().__init__(name=name, daemon=True)
        self.room = room
        self.interval = interval
        self.retry = retry  # False: one try per message, whatever happens
        self.outcomes = []  # (client_id, kind, stored id or None) per try
        self.acked = []  # {id, client_id, body, tries, ...}
        self.gave_up = []  # client_ids never acknowledged
        self.attempts = 0
        self.failures = collections.Counter()  # failure kind -> count
        self.failure_log = []  # (monotonic time, kind)
        self.latencies = []
        self.last_instance = None  # the instance that answered the last try
        self._stopping = threading.Event()

    def stop(self):
        self._stopping.set()

    def run(self):
        n = 0
        next_at = time.monotonic()
        while not self._stopping.is_set():
            n += 1
            self.send_until_acked(f"{self.name} #{n}", uuid.uuid4().hex)
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stopping.wait(delay)
            else:
                next_at = time.monotonic()

    def send_until_acked(self, body, client_id):
        first = time.monotonic()
        tries = 0
        while True:
            tries += 1
            self.attempts += 1
            started = time.monotonic()
            kind, message = self.attempt(body, client_id)
            self.latencies.append(time.monotonic() - started)
            self.outcomes.append((client_id, kind, message["id"] if message else None))
            if kind == "ok":
                self.acked.append(
                    {
                        "id": message["id"],
                        "client_id": client_id,
                        "body": body,
                        "tries": tries,
                        "first_try": first,
                        "acked_at": time.monotonic(),
                        "message": message,
                        "sender": self.name,
                        "via": self.last_instance,
                    }
                )
                return
            self.failures[kind] += 1
            self.failure_log.append((started, kind))
            if not self.retry or time.monotonic() - first > GIVE_UP:
                self.gave_up.append(client_id)
                return
            time.sleep(RETRY_DELAY)

    def attempt(self, body, client_id):
        raise NotImplementedError


class SocketSender(Sender):
    """Sends through a member's current socket (whichever instance it is on)."""

    def __init__(self, member, room, interval, retry=True):
        super().__init__(f"sio-{member.account.username}", room, interval, retry)
        self.member = member

    def attempt(self, body, client_id):
        client = self.member.client
        self.last_instance = instance_of(client)
        if not client.sio.connected or client.disconnected.is_set():
            return "not_connected", None
        try:
            ack = client.call(
                "send",
                {"room": self.room, "body": body, "client_id": client_id},
                timeout=CALL_TIMEOUT,
            )
        except socketio.exceptions.TimeoutError:
            return "timeout", None
        except Exception as exc:  # the socket went away under the call
            return type(exc).__name__, None
        if isinstance(ack, dict) and ack.get("ok") is True:
            return "ok", ack["message"]
        error = ack.get("error", {}) if isinstance(ack, dict) else {}
        return f"ack:{error.get('code', repr(ack)[:40])}", None


class RestSender(Sender):
    """POSTs through nginx (or straight to an instance) from a source address."""

    def __init__(self, account, base_url, room, interval, source=None, retry=True):
        super().__init__(f"rest-{account.username}", room, interval, retry)
        self.account = account
        self.base_url = base_url.rstrip("/")
        self.session = http_session(source)
        self.error_shapes_ok = True  # every error response had the contract's shape
        self.retry_after = collections.Counter()  # status -> responses with Retry-After

    def attempt(self, body, client_id):
        try:
            response = self.session.post(
                f"{self.base_url}/api/rooms/{self.room}/messages",
                json={"body": body, "client_id": client_id},
                timeout=CALL_TIMEOUT,
                headers={"Authorization": f"Bearer {self.account.token}"},
            )
        except requests.Timeout:
            return "timeout", None
        except requests.RequestException as exc:
            return type(exc).__name__, None
        self.last_instance = response.headers.get("X-Instance")
        if response.status_code in (200, 201):
            return "ok", response.json()
        if "Retry-After" in response.headers:
            self.retry_after[response.status_code] += 1
        code = "not-json"
        if response.headers.get("Content-Type", "").startswith("application/json"):
            error = response.json().get("error", {})
            code = error.get("code", "no-code")
            if set(response.json()) != {"error"} or not error.get("message"):
                self.error_shapes_ok = False
        return f"http:{response.status_code}:{code}", None


# --- the load -------------------------------------------------------------------


class ChatLoad:
    """Members in one room, some of them sending; then an audit of what arrived."""

    def __init__(self, cluster, tag, members=16, socket_senders=2, rest_senders=2, interval=0.3):
        self.cluster = cluster
        self.tag = tag
        self.member_count = members
        self.socket_sender_count = socket_senders
        self.rest_sender_count = rest_senders
        self.interval = interval
        self.room = unique_name(tag)
        self.members = []
        self.senders = []
        self.accounts = []
        self.started_at = self.stopped_at = None

    def start(self):
        url = self.cluster.url
        for n in range(self.member_count):
            self.accounts.append(register(url, source=SOURCES[n % len(SOURCES)]))
        self.accounts[0].create_room(self.room)
        for n, account in enumerate(self.accounts):
            self.members.append(Member(url, account, SOURCES[n % len(SOURCES)], self.room).start())
        for member in self.members[: self.socket_sender_count]:
            self.senders.append(SocketSender(member, self.room, self.interval))
        first_rest = self.socket_sender_count
        for n in range(first_rest, first_rest + self.rest_sender_count):
            self.senders.append(
                RestSender(
                    self.accounts[n],
                    url,
                    self.room,
                    self.interval,
                    source=SOURCES[n % len(SOURCES)],
                )
            )
        self.started_at = time.monotonic()
        for sender in self.senders:
            sender.start()
        return self

    def members_on(self, instance_id):
        return [m for m in self.members if m.instance() == instance_id]

    def distribution(self):
        return dict(collections.Counter(m.instance() for m in self.members))

    def all_connected(self):
        return all(m.connected() for m in self.members)

    def stop_senders(self):
        for sender in self.senders:
            sender.stop()
        for sender in self.senders:
            sender.join(GIVE_UP + 2 * CALL_TIMEOUT)
        self.stopped_at = time.monotonic()

    def acked(self):
        """id -> ack record, over every sender."""
        return {a["id"]: a for s in self.senders for a in s.acked}

    def stored(self):
        """[(id, client_id)] of the room's rows in PostgreSQL."""
        rows = self.cluster.postgres.psql(
            "SELECT m.id, coalesce(m.client_id, '') FROM messages m "
            f"JOIN rooms r ON r.id = m.room_id WHERE r.name = '{self.room}' ORDER BY m.id",
            "chat",
        ).split()
        return [(int(i), c) for i, c in (row.split("|", 1) for row in rows)]

    def wait_delivered(self, timeout=20):
        """Waits until every member is connected and has every acknowledged message."""
        acked = set(self.acked())
        try:
            wait_until(
                lambda: self.all_connected() and all(acked <= m.ids() for m in self.members),
                timeout=timeout,
                interval=0.1,
                message="every ack delivered",
            )
        except AssertionError:
            pass  # the audit reports what is missing

    def audit(self):
        """The counts for the report; the tests assert on them."""
        acked = self.acked()
        stored = self.stored()
        stored_ids = [i for i, _ in stored]
        client_ids = [c for _, c in stored if c]
        missing = {m.name: sorted(set(acked) - m.ids()) for m in self.members}
        reconnects = [r for m in self.members for r in m.reconnects]
        failures = collections.Counter()
        for sender in self.senders:
            failures.update(sender.failures)
        return {
            "members": len(self.members),
            "senders": {
                "socket_io": self.socket_sender_count,
                "rest": self.rest_sender_count,
                "interval_s": self.interval,
            },
            "load_seconds": rounded((self.stopped_at or time.monotonic()) - self.started_at),
            "sent": sum(len(s.acked) + len(s.gave_up) for s in self.senders),
            "attempts": sum(s.attempts for s in self.senders),
            "acked": len(acked),
            "retried_messages": sum(1 for a in acked.values() if a["tries"] > 1),
            "gave_up": sum(len(s.gave_up) for s in self.senders),
            "failures_by_kind": dict(failures),
            "stored": len(stored),
            "stored_not_acked": sorted(set(stored_ids) - set(acked)),
            "acked_not_stored": sorted(set(acked) - set(stored_ids)),
            "duplicated_stored": len(client_ids) - len(set(client_ids)),
            "expected_deliveries": len(acked) * len(self.members),
            "delivered": sum(len(set(acked) & m.ids()) for m in self.members),
            "lost": sum(len(v) for v in missing.values()),
            "missing_by_member": {k: v[:10] for k, v in missing.items() if v},
            "loss_detail": self._loss_detail(acked, missing),
            "duplicated_live": sum(m.live_duplicates() for m in self.members),
            "sync_overlap": sum(m.sync_overlap for m in self.members),
            "reconnects": len(reconnects),
            "max_send_latency_s": rounded(
                max((x for s in self.senders for x in s.latencies), default=0)
            ),
        }

    def _loss_detail(self, acked, missing):
        """For a member that misses messages: when they were acked and what its
        sockets did (seconds since the load started), to tell why."""
        detail = {}
        for member in self.members:
            ids = missing[member.name]
            if not ids:
                continue
            t = self.started_at
            detail[member.name] = {
                "missing_acked_at": [rounded(acked[i]["acked_at"] - t) for i in ids[:10]],
                "missing_sent": [
                    {k: acked[i][k] for k in ("sender", "via", "tries")} for i in ids[:3]
                ],
                "sockets": [instance_of(c) for c in member.clients],
                "socket_now": {
                    "connected": member.connected(),
                    "transport": member.client.sio.transport(),
                    "last_live_ids": member.live_ids_per_socket()[-1][-3:],
                },
                "reconnects": [
                    {
                        k: (
                            rounded(v - t)
                            if isinstance(v, float)
                            else dict(v)
                            if isinstance(v, collections.Counter)
                            else v
                        )
                        for k, v in r.items()
                    }
                    for r in member.reconnects
                ],
            }
        return detail

    def close(self):
        for sender in self.senders:
            sender.stop()
        for member in self.members:
            member.stop()
        for account in self.accounts:
            account.session.close()
        for sender in self.senders:
            if isinstance(sender, RestSender):
                sender.session.close()
