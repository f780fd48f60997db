"""Rooms run by their own people, on a local cluster (scripts/cluster.py: 3
instances behind nginx, Redis, PostgreSQL, started once for the module):

- the permission table of every new endpoint and event for an owner, an admin,
  a member, a non-member, a banned user and a bot, kept complete against the
  served OpenAPI document;
- a kick through one instance stops delivery to the kicked user's sockets on
  the others before its answer; an owner leaving hands the room on;
- invites used up and expired; a rotated bot token refused on every instance
  and its sockets closed; a webhook post delivered live, its secret in no log;
- `flask users deactivate` ending sessions on every instance;
- a 200,000-message export in constant memory.
"""

import glob
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc

import psutil
import psycopg2
import pytest
import requests
from socket_clients import register, unique_name

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_ENV = {
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "100000 per minute",
    "SEND_RATE_LIMIT": "1000 per second",
    "ROOM_CREATE_RATE_LIMIT": "100000 per hour",
    "SOCKET_EVENT_RATE_LIMIT": "1000 per second",
    "CONNECT_RATE_LIMIT": "10000 per minute",
}
SETTLE = 0.5  # seconds to wait for an event that must NOT arrive
ROLES = ("owner", "admin", "member", "outsider", "banned", "bot")


@pytest.fixture(scope="module")
def cluster_options():
    return {"instances": 3, "async_mode": "eventlet", "extra_env": CLUSTER_ENV, "access_log": True}


def on(cluster, number):
    return cluster.instances[number - 1].url


def named(room):
    return lambda payload: payload.get("name") == room or payload.get("room") == room


class Bot:
    """A bot account: its token, used like a person's."""

    def __init__(self, base_url, owner, username=None):
        self.username = username or unique_name("bot")
        response = owner.request("POST", "/api/bots", json={"username": self.username})
        assert response.status_code == 201, response.text
        self.token = response.json()["token"]
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False

    def request(self, method, path, base_url=None, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 10)
        return self.session.request(
            method, (base_url or self.base_url) + path, headers=headers, **kwargs
        )


# --- the permission table ---------------------------------------------------------------

# (method, path template, body, {role: status}). A fresh room per row and role
# (scenario below): {room}, {victim} (a plain member), {banned}, {msg} (a
# message of the room), {hook} (a webhook id), {invite} (an open invite's
# token), {own_bot} (a bot of the caller's), {owners_bot} (a bot of the
# room owner's, made for this row), {new_bot} (a fresh username).
M, F, N = "member", 403, 404
MODERATORS = {"owner": 1, "admin": 1}


def table(ok, member=F, outsider=F, banned=F, bot=None, owner=None, admin=None):
    """Statuses by role: `ok` for owner and admin unless given."""
    return {
        "owner": owner or ok,
        "admin": admin or ok,
        "member": member,
        "outsider": outsider,
        "banned": banned,
        "bot": bot or member,
    }


PUBLIC_TABLE = [
    ("PATCH", "/api/rooms/{room}", {"topic": "new"}, table(200)),
    ("PUT", "/api/rooms/{room}/members/{victim}", {"role": "admin"}, table(200, admin=F)),
    ("DELETE", "/api/rooms/{room}/members/{victim}", None, table(204)),
    ("GET", "/api/rooms/{room}/bans", None, table(200)),
    ("PUT", "/api/rooms/{room}/bans/{victim}", None, table(204)),
    ("DELETE", "/api/rooms/{room}/bans/{banned}", None, table(204)),
    ("GET", "/api/rooms/{room}/pins", None, table(200, member=200)),
    ("PUT", "/api/rooms/{room}/pins/{msg}", None, table(200)),
    ("DELETE", "/api/rooms/{room}/pins/{msg}", None, table(200)),
    ("GET", "/api/rooms/{room}/audit", None, table(200)),
    ("GET", "/api/rooms/{room}/export", None, table(200, member=200)),
    ("POST", "/api/rooms/{room}/webhooks", {"bot": "{own_bot}"}, table(201)),
    ("GET", "/api/rooms/{room}/webhooks", None, table(200)),
    ("DELETE", "/api/rooms/{room}/webhooks/{hook}", None, table(204)),
    ("DELETE", "/api/messages/{msg}", None, table(200)),  # someone else's message
]
PRIVATE_TABLE = [
    ("POST", "/api/rooms/{room}/invites", {"max_uses": 5}, table(201, outsider=N, banned=N)),
    ("GET", "/api/rooms/{room}/invites", None, table(200, outsider=N, banned=N)),
    ("DELETE", "/api/rooms/{room}/invites/{invite}", None, table(204, outsider=N, banned=N)),
    ("POST", "/api/invites/{invite}", None, table(200, member=200, outsider=200, banned=F)),
]
ACCOUNT_TABLE = [
    (
        "POST",
        "/api/bots",
        {"username": "{new_bot}"},
        table(201, member=201, outsider=201, banned=201, bot=F),
    ),
    ("GET", "/api/bots", None, table(200, member=200, outsider=200, banned=200, bot=200)),
    (
        "DELETE",
        "/api/bots/{owners_bot}",
        None,
        table(204, admin=N, member=N, outsider=N, banned=N, bot=N),
    ),
    (
        "POST",
        "/api/bots/{owners_bot}/token",
        None,
        table(200, admin=N, member=N, outsider=N, banned=N, bot=N),
    ),
]
ROWS = [("public", *row) for row in PUBLIC_TABLE] + [("private", *row) for row in PRIVATE_TABLE]
ROWS += [("public", *row) for row in ACCOUNT_TABLE]
# The new operations, by the OpenAPI tags of their blueprints.
NEW_TAGS = {"moderation", "invites", "bots", "export"}


@pytest.fixture(scope="module")
def people(cluster):
    """One account per role (the bot is the owner's, and made a member per room),
    and a bot of each person for the webhook rows."""
    accounts = {role: register(cluster.url) for role in ROLES if role != "bot"}
    accounts["bot"] = Bot(cluster.url, accounts["owner"])
    own_bots = {role: Bot(cluster.url, accounts[role]).username for role in ROLES if role != "bot"}
    own_bots["bot"] = accounts["bot"].username  # not its own: a bot owns none
    return accounts, own_bots


def scenario(cluster, people, kind):
    """A fresh room of `kind` with the six roles in place, a victim member, a
    message by the victim, a webhook and an invite."""
    accounts, _ = people
    owner = accounts["owner"]
    room = unique_name("perm")
    owner.create_room(room, private=kind == "private")
    victim = register(cluster.url)
    members = [accounts["admin"], accounts["member"], accounts["bot"], victim]
    for account in members:
        if kind == "private":
            owner.add_member(room, account.username)
        else:
            response = account.request("POST", f"/api/rooms/{room}/members")
            assert response.status_code == 200, response.text
    response = owner.request(
        "PUT", f"/api/rooms/{room}/members/{accounts['admin'].username}", json={"role": "admin"}
    )
    assert response.status_code == 200, response.text
    response = owner.request("PUT", f"/api/rooms/{room}/bans/{accounts['banned'].username}")
    assert response.status_code == 204, response.text
    message = victim.post_message(room, "a message").json()
    hook = owner.request("POST", f"/api/rooms/{room}/webhooks", json={"bot": people[1]["owner"]})
    assert hook.status_code == 201, hook.text
    values = {
        "room": room,
        "victim": victim.username,
        "banned": accounts["banned"].username,
        "msg": message["id"],
        "hook": hook.json()["id"],
        "new_bot": unique_name("nb"),
    }
    if kind == "private":
        invite = owner.request("POST", f"/api/rooms/{room}/invites", json={})
        assert invite.status_code == 201, invite.text
        values["invite"] = invite.json()["token"]
    return values


def fill(template, values):
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    return template


def test_the_table_covers_every_new_operation_of_the_openapi_document(cluster):
    spec = requests.get(cluster.url + "/api/openapi.json", timeout=10).json()
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and NEW_TAGS & set(operation.get("tags", []))
    }
    renames = {
        "{room}": "{name}",
        "{victim}": "{username}",
        "{banned}": "{username}",
        "{msg}": "{message_id}",
        "{hook}": "{webhook_id}",
        "{invite}": "{token}",
        "{owners_bot}": "{username}",
    }
    tabled = set()
    for _, method, path, _, _ in ROWS:
        for old, new in renames.items():
            path = path.replace(old, new)
        tabled.add((method, path))
    tabled.discard(("DELETE", "/api/messages/{message_id}"))  # an older operation, widened
    assert documented == tabled
    # Each is documented with the statuses the table expects of it.
    for _, method, path, _, statuses in ROWS:
        for old, new in renames.items():
            path = path.replace(old, new)
        responses = spec["paths"][path][method.lower()]["responses"]
        for status in set(statuses.values()):
            assert str(status) in responses, (method, path, status)


@pytest.mark.parametrize(
    "kind,method,path,body,statuses", ROWS, ids=[f"{r[1]} {r[2]}" for r in ROWS]
)
def test_the_permission_table(cluster, people, kind, method, path, body, statuses):
    accounts, own_bots = people
    got = {}
    for number, role in enumerate(ROLES):
        values = scenario(cluster, people, kind)
        values["own_bot"] = own_bots[role]
        owners_bot = None
        if "{owners_bot}" in path:
            owners_bot = values["owners_bot"] = Bot(cluster.url, accounts["owner"]).username
        response = accounts[role].request(
            method,
            fill(path, values),
            base_url=on(cluster, number % 3 + 1),
            json=fill(body, values),
        )
        got[role] = response.status_code
        if owners_bot is not None:  # a user has at most 20 bots
            accounts["owner"].request("DELETE", f"/api/bots/{owners_bot}")
        if response.status_code >= 400:
            assert "error" in response.json(), response.text
    assert got == statuses


def test_the_new_events_reach_members_only(cluster, people, connect):
    """room_updated, pinned and member_removed: to the owner, admins, members and
    bots in the room, on whichever instance; never to a non-member or a banned user."""
    accounts, _ = people
    values = scenario(cluster, people, "public")
    room = values["room"]
    sockets = {}
    for number, role in enumerate(ROLES):
        sock = connect(accounts[role], number % 3 + 1)
        sockets[role] = sock
        if role == "outsider":
            continue  # a `join` would join the public room
        ack = sock.call("join", {"room": room})
        assert (ack.get("ok") is True) is (role != "banned"), (role, ack)
    owner = accounts["owner"]
    assert owner.request("PATCH", f"/api/rooms/{room}", json={"topic": "t"}).status_code == 200
    assert owner.request("PUT", f"/api/rooms/{room}/pins/{values['msg']}").status_code == 200
    assert (
        owner.request("DELETE", f"/api/rooms/{room}/members/{values['victim']}").status_code == 204
    )
    for role in ("owner", "admin", "member", "bot"):
        sock = sockets[role]
        assert sock.wait_for("room_updated", named(room))["topic"] == "t"
        assert sock.wait_for("pinned", named(room))["message"]["pinned"] is True
        assert sock.wait_for("member_removed", named(room)) == {
            "room": room,
            "username": values["victim"],
            "reason": "kicked",
        }
    time.sleep(SETTLE)
    for role in ("outsider", "banned"):
        for event in ("room_updated", "pinned", "member_removed"):
            assert sockets[role].received(event, named(room)) == [], (role, event)


# --- kicks reach every instance before the answer ---------------------------------------


@pytest.mark.parametrize("action", ["kick", "ban"])
def test_a_kick_stops_delivery_on_other_instances_before_the_answer(cluster, user, connect, action):
    owner, member = user(), user()
    room = unique_name("kick")
    owner.create_room(room)
    member.join_room(room)
    tabs = {n: connect(member, n) for n in (2, 3)}
    for tab in tabs.values():
        tab.join(room)
    if action == "kick":
        response = owner.request(
            "DELETE", f"/api/rooms/{room}/members/{member.username}", base_url=on(cluster, 1)
        )
    else:
        response = owner.request(
            "PUT", f"/api/rooms/{room}/bans/{member.username}", base_url=on(cluster, 1)
        )
    assert response.status_code == 204
    # At once, through the very instances that hold the kicked user's sockets:
    # a local emit reaches a socket still in the room without any queue delay.
    for n in tabs:
        owner.post_message(room, f"after the {action} via {n}", base_url=on(cluster, n))
    reason = "kicked" if action == "kick" else "banned"
    for tab in tabs.values():
        assert tab.wait_for("room_removed", named(room)) == {"room": room, "reason": reason}
    time.sleep(SETTLE)
    for tab in tabs.values():
        assert tab.received("message") == [], tab.name
    if action == "ban":  # a kicked user may come back to a public room; a banned one not
        ack = tabs[2].call("join", {"room": room})
        assert ack["error"]["code"] == "forbidden"


def test_a_kick_answers_only_once_the_other_instance_has_taken_the_socket_out(
    cluster, user, connect
):
    """The instance holding the kicked user's socket is frozen (SIGSTOP) while the
    kick goes through another: the answer waits for it, and once it has come,
    a message sent through the frozen instance's own process reaches no socket
    of the kicked user."""
    owner, member = user(), user()
    room = unique_name("frozen")
    owner.create_room(room)
    member.join_room(room)
    tab = connect(member, 2)
    tab.join(room)
    [worker] = psutil.Process(cluster.instances[1].pid).children()
    answered = threading.Event()
    result = {}

    def kick():
        result["response"] = owner.request(
            "DELETE", f"/api/rooms/{room}/members/{member.username}", base_url=on(cluster, 1)
        )
        answered.set()

    worker.suspend()
    try:
        thread = threading.Thread(target=kick, daemon=True)
        thread.start()
        early = answered.wait(1.0)
    finally:
        worker.resume()
    thread.join(15)
    assert not early, "the kick answered while the socket's instance could not have acted"
    assert result["response"].status_code == 204
    owner.post_message(room, "after the frozen kick", base_url=on(cluster, 2))
    assert tab.wait_for("room_removed", named(room)) == {"room": room, "reason": "kicked"}
    time.sleep(SETTLE)
    assert tab.received("message") == []


def test_an_owner_leaving_hands_the_room_to_the_longest_standing_admin(cluster, user, connect):
    owner, first, admin = user(), user(), user()
    room = unique_name("heir")
    owner.create_room(room)
    first.join_room(room)  # the longest-standing member, but not an admin
    admin.join_room(room)
    response = owner.request(
        "PUT", f"/api/rooms/{room}/members/{admin.username}", json={"role": "admin"}
    )
    assert response.status_code == 200
    tab = connect(admin, 2)
    response = owner.request("DELETE", f"/api/rooms/{room}/members/me", base_url=on(cluster, 1))
    assert response.status_code == 204
    assert tab.wait_for("room_updated", named(room))["role"] == "owner"
    for n in (1, 2, 3):
        seen = admin.request("GET", f"/api/rooms/{room}", base_url=on(cluster, n)).json()
        assert seen["role"] == "owner"
    assert first.request("GET", f"/api/rooms/{room}").json()["role"] == "member"
    # ...and with no admin left, the longest-standing member is next.
    assert admin.request("DELETE", f"/api/rooms/{room}/members/me").status_code == 204
    assert first.request("GET", f"/api/rooms/{room}").json()["role"] == "owner"


# --- invites ------------------------------------------------------------------------------


def test_an_invite_used_up_and_one_expired(cluster, user):
    owner, first, second = user(), user(), user()
    room = unique_name("inv")
    owner.create_room(room, private=True)
    once = owner.request(
        "POST", f"/api/rooms/{room}/invites", json={"max_uses": 1}, base_url=on(cluster, 1)
    ).json()
    joined = first.request("POST", f"/api/invites/{once['token']}", base_url=on(cluster, 2))
    assert joined.status_code == 200 and joined.json()["member"] is True
    late = second.request("POST", f"/api/invites/{once['token']}", base_url=on(cluster, 3))
    assert late.status_code == 404 and late.json()["error"]["code"] == "not_found"

    soon = owner.request("POST", f"/api/rooms/{room}/invites", json={"expires_in": 60}).json()
    with psycopg2.connect(cluster.database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE invites SET expires_at = now() - interval '1 second' WHERE token = %s",
            (soon["token"],),
        )
    expired = second.request("POST", f"/api/invites/{soon['token']}")
    assert expired.status_code == 404
    assert second.request("GET", f"/api/rooms/{room}").status_code == 404


# --- bots -----------------------------------------------------------------------------------


def test_a_rotated_bot_token_is_refused_everywhere_and_its_sockets_close(cluster, user, connect):
    owner = user()
    bot = Bot(cluster.url, owner)
    room = unique_name("botroom")
    owner.create_room(room)
    assert bot.request("POST", f"/api/rooms/{room}/members").status_code == 200
    sockets = [connect(bot, n) for n in (2, 3)]
    for sock in sockets:
        sock.join(room)
    old = bot.token
    rotated = owner.request("POST", f"/api/bots/{bot.username}/token", base_url=on(cluster, 1))
    assert rotated.status_code == 200
    for n in (1, 2, 3):
        refused = bot.request("GET", "/api/me", base_url=on(cluster, n))
        assert refused.status_code == 401, n
    for sock in sockets:
        assert sock.disconnected.wait(10), sock.name
        assert sock.received("session_ended")
    bot.token = rotated.json()["token"]
    assert old != bot.token
    for n in (1, 2, 3):
        assert bot.request("GET", "/api/me", base_url=on(cluster, n)).status_code == 200
    # The new token sends over Socket.IO as well as REST.
    fresh = connect(bot, 1)
    fresh.join(room)
    ack = fresh.call("send", {"room": room, "body": "over the socket", "client_id": "b-1"})
    assert ack["ok"] is True and ack["message"]["author"]["username"] == bot.username
    # Its owner's logout leaves the bot's token working.
    assert owner.request("POST", "/api/auth/logout").status_code == 204
    assert (
        bot.request("POST", f"/api/rooms/{room}/messages", json={"body": "still here"}).status_code
        == 201
    )
    login = requests.post(
        cluster.url + "/api/auth/login",
        json={"username": bot.username, "password": "x" * 8},
        timeout=10,
    )
    assert login.status_code == 401


def test_a_webhook_post_is_delivered_live_and_its_secret_is_in_no_log(cluster, user, connect):
    owner, reader = user(), user()
    bot = Bot(cluster.url, owner)
    room = unique_name("hook")
    owner.create_room(room)
    reader.join_room(room)
    tab = connect(reader, 3)
    tab.join(room)
    created = owner.request("POST", f"/api/rooms/{room}/webhooks", json={"bot": bot.username})
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    secret = url.rsplit("/hooks/", 1)[1]
    path = "/hooks/" + secret
    posted = requests.post(cluster.url + path, json={"text": "build passed"}, timeout=10)
    assert posted.status_code == 200, posted.text
    live = tab.wait_for("message", lambda m: m["body"] == "build passed")
    assert live["author"]["username"] == bot.username
    slack = requests.post(
        cluster.url + path, data={"payload": json.dumps({"text": "from slack"})}, timeout=10
    )
    assert slack.status_code == 200, slack.text
    tab.wait_for("message", lambda m: m["body"] == "from slack")
    unknown = requests.post(cluster.url + "/hooks/not-a-secret", json={"text": "x"}, timeout=10)
    assert unknown.status_code == 404
    time.sleep(1)  # the access logs are written after the answer
    logs = glob.glob(os.path.join(cluster.state_dir, "**", "*.log"), recursive=True)
    assert any("hooks/-" in open(p, errors="replace").read() for p in logs), logs
    for log in logs:
        assert secret not in open(log, errors="replace").read(), log


# --- site administration --------------------------------------------------------------------


def test_deactivating_a_user_ends_their_sessions_on_every_instance(cluster, user, connect):
    victim = user()
    sockets = [connect(victim, n) for n in (1, 2, 3)]
    env = {**cluster.env_for(cluster.instances[0]), "INSTANCE_ID": "cli"}
    done = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "flask"),
            "users",
            "deactivate",
            victim.username,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for sock in sockets:
        assert sock.disconnected.wait(10), sock.name
    for n in (1, 2, 3):
        assert victim.request("GET", "/api/me", base_url=on(cluster, n)).status_code == 401
    login = requests.post(
        cluster.url + "/api/auth/login",
        json={"username": victim.username, "password": "password123"},
        timeout=10,
    )
    assert login.status_code == 401


# --- the export -----------------------------------------------------------------------------

EXPORT_ROWS = 200_000


def _worker_rss(instance):
    """The RSS of the instance's gunicorn worker (the master's only child)."""
    [worker] = psutil.Process(instance.pid).children()
    return worker.memory_info().rss


def test_an_export_of_200000_messages_streams_in_constant_memory(cluster, user):
    owner = user()
    room = unique_name("big")
    owner.create_room(room)
    with psycopg2.connect(cluster.database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO messages (room_id, author_id, body, created_at) "
            "SELECT r.id, %s, 'message number ' || g || ' ' || repeat('x', 100), now() "
            "FROM rooms r, generate_series(1, %s) g WHERE r.name = %s",
            (owner.user["id"], EXPORT_ROWS, room),
        )
    instance = cluster.instances[0]
    before = _worker_rss(instance)
    peak = [before]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _worker_rss(instance))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    tracemalloc.start()
    count, last_id, size = 0, 0, 0
    try:
        response = owner.request(
            "GET", f"/api/rooms/{room}/export", base_url=instance.url, stream=True, timeout=300
        )
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        for line in response.iter_lines(chunk_size=65536):
            message = json.loads(line)
            assert message["id"] > last_id
            last_id = message["id"]
            count += 1
            size += len(line)
        _, client_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        done.set()
        watcher.join()
    grown = peak[0] - before
    print(
        f"export: {count} lines, {size / 2**20:.1f} MiB; this process's peak "
        f"{client_peak / 2**20:.2f} MiB; the worker grew {grown / 2**20:.1f} MiB"
    )
    assert count == EXPORT_ROWS
    assert size > 40 * 2**20  # the whole export is far larger than either bound below
    assert client_peak < 8 * 2**20, client_peak
    assert grown < 40 * 2**20, f"the worker grew by {grown / 2**20:.1f} MiB"
