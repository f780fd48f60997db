"""Runs inside a test client container on the stack's frontend network and talks
to nginx as any client would: https://nginx/ (port 443, the published HTTPS
port's target), verifying nginx's certificate against the CA file the test
copied in (CHAT_TEST_CA_FILE). The container holds addresses in many /24s of that network; each
client binds to one of them, so nginx's ip_hash sees clients from different
networks, as it would in production, and spreads them over the replicas.

    python in_container.py instances SOURCE...        {source: X-Instance}
    python in_container.py contract SOURCE            REST contract checks
    python in_container.py chat SOURCE_A SOURCE_B     Socket.IO across two replicas
    python in_container.py tls SOURCE REDIRECT_PREFIX  HTTPS, its redirect and the origin check
    python in_container.py load SOURCE...             chat load until "stop" on stdin

Each prints one JSON line (`load` prints `STARTED {...}` first and the audit
after "stop"). The clients are the integration tests' (tests/integration,
mounted beside this file): the same Socket.IO members, senders and audit that
the local-cluster fault tests use.
"""

import json
import os
import sys
import time
import uuid

import fault_load
import requests
import socket_clients
import socketio
from socket_clients import ChatClient, http_session, register, unique_name

URL = "https://nginx"
socket_clients.TLS_CA_FILE = os.environ.get("CHAT_TEST_CA_FILE") or None


def emit(obj, prefix=""):
    print(prefix + json.dumps(obj, sort_keys=True), flush=True)


def instances(sources, patience=10.0):
    """Which replica serves each source. An answer without X-Instance is
    nginx's own (every replica it would try was in its `fail_timeout` after
    an error or a 503): asked again for up to `patience` seconds."""
    found = {}
    for source in sources:
        deadline = time.monotonic() + patience
        while True:
            response = http_session(source).get(f"{URL}/healthz", timeout=10)
            found[source] = response.headers.get("X-Instance")
            if found[source] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    emit(found)


class Checks:
    def __init__(self):
        self.results = []

    def check(self, name, condition, detail=""):
        self.results.append(
            {"check": name, "ok": bool(condition), "detail": "" if condition else str(detail)[:300]}
        )


def is_error(response, status, code):
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        response.status_code == status
        and set(body) == {"error"}
        and body["error"].get("code") == code
        and body["error"].get("message")
    )


def contract(source):
    """The REST contract through nginx, with users this run registers."""
    c = Checks()
    http = http_session(source)
    get = lambda path, **kw: http.get(URL + path, timeout=10, **kw)  # noqa: E731

    r = get("/healthz")
    c.check(
        "healthz 200 with X-Instance",
        r.status_code == 200 and r.headers.get("X-Instance"),
        r.status_code,
    )
    for path in ("/metrics", "/readyz", "/metrics/", "/readyz?x=1"):
        r = get(path)
        c.check(
            f"{path} not served to the public (404 error shape)",
            is_error(r, 404, "not_found"),
            f"{r.status_code} {r.text[:100]}",
        )
    r = get("/api/openapi.json")
    c.check("openapi document", r.status_code == 200 and "paths" in r.json(), r.status_code)
    r = get("/")
    c.check(
        "chat page",
        r.status_code == 200 and "text/html" in r.headers["Content-Type"],
        r.status_code,
    )

    alice = register(URL, source=source)
    bob = register(URL, source=source)
    r = http.post(
        URL + "/api/auth/register",
        timeout=10,
        json={"username": alice.username, "password": "password123"},
    )
    c.check("register a taken name: 409 conflict", is_error(r, 409, "conflict"), r.text)
    r = http.post(
        URL + "/api/auth/login",
        timeout=10,
        json={"username": alice.username, "password": "wrong-password"},
    )
    c.check("login with a bad password: 401", is_error(r, 401, "unauthorized"), r.text)
    r = http.post(
        URL + "/api/auth/login",
        timeout=10,
        json={"username": bob.username, "password": "password123"},
    )
    c.check("login", r.status_code == 200 and r.json()["user"]["username"] == bob.username, r.text)
    r = get("/api/me")
    c.check("no token: 401", is_error(r, 401, "unauthorized"), r.text)
    r = alice.request("GET", "/api/me")
    c.check("me", r.status_code == 200 and r.json()["username"] == alice.username, r.text)

    room = unique_name("room")
    r = alice.request("POST", "/api/rooms", json={"name": room})
    c.check("create a room", r.status_code == 201 and r.json()["name"] == room, r.text)
    r = alice.request("POST", "/api/rooms", json={"name": room})
    c.check("create a taken room: 409", is_error(r, 409, "conflict"), r.text)
    r = bob.request("POST", f"/api/rooms/{room}/members")
    c.check("join a public room", r.status_code == 200 and r.json()["member"] is True, r.text)
    client_id = uuid.uuid4().hex
    r = alice.request(
        "POST",
        f"/api/rooms/{room}/messages",
        json={"body": "hello @" + bob.username, "client_id": client_id},
    )
    c.check("send", r.status_code == 201, r.text)
    first = r.json() if r.status_code == 201 else {}
    r = alice.request(
        "POST", f"/api/rooms/{room}/messages", json={"body": "hello again", "client_id": client_id}
    )
    c.check(
        "send with a used client_id: 200, the same message",
        r.status_code == 200 and r.json().get("id") == first.get("id"),
        r.text,
    )
    r = bob.request("GET", f"/api/rooms/{room}/messages")
    msgs = r.json().get("messages", []) if r.status_code == 200 else []
    c.check(
        "history",
        [(m["id"], m["body"]) for m in msgs] == [(first.get("id"), "hello @" + bob.username)],
        r.text,
    )
    r = alice.request("POST", f"/api/rooms/{room}/messages", json={"body": ""})
    c.check("empty body: 422", is_error(r, 422, "validation_error"), r.text)
    r = alice.request(
        "POST",
        f"/api/rooms/{room}/messages",
        data="x" * (70 * 1024),
        headers={"Content-Type": "application/json"},
    )
    c.check("a body over 64 KiB: 413", is_error(r, 413, "payload_too_large"), r.text)

    secret = unique_name("secret")
    r = alice.request("POST", "/api/rooms", json={"name": secret, "private": True})
    c.check("create a private room", r.status_code == 201 and r.json()["private"], r.text)
    r = bob.request("GET", f"/api/rooms/{secret}")
    c.check("a private room is invisible to others: 404", is_error(r, 404, "not_found"), r.text)
    r = alice.request("POST", f"/api/dm/{bob.username}")
    c.check("direct message room", r.status_code == 200 and r.json()["kind"] == "dm", r.text)
    r = bob.request("GET", f"/api/users?q={alice.username}")
    c.check(
        "user search",
        r.status_code == 200 and alice.username in [u["username"] for u in r.json()["users"]],
        r.text,
    )

    # A Socket.IO client that cannot set `auth` passes its token in the query:
    # accepted, and nginx must not write it to its access log (the host checks).
    r = get(f"/socket.io/?EIO=4&transport=polling&token={alice.token}")
    c.check("Socket.IO handshake with ?token=", r.status_code == 200, r.status_code)
    emit({"results": c.results, "query_token": alice.token})


def chat(source_a, source_b):
    """Two users on two replicas: each one's message reaches the other live."""
    alice = register(URL, source=source_a)
    bob = register(URL, source=source_b)
    room = unique_name("cross")
    alice.create_room(room)
    bob.join_room(room)
    a = ChatClient(URL, alice.token, source=source_a, name="a").connect()
    b = ChatClient(URL, bob.token, source=source_b, name="b").connect()
    try:
        a.join(room)
        b.join(room)
        ack = a.call("send", {"room": room, "body": "from a", "client_id": uuid.uuid4().hex})
        assert ack.get("ok") is True, ack
        got_b = b.wait_for("message", lambda m: m["id"] == ack["message"]["id"])
        sent = bob.post_message(room, "from b over REST").json()
        got_a = a.wait_for("message", lambda m: m["id"] == sent["id"])
        # Both upgrade from long-polling to a WebSocket over TLS (wss://).
        deadline = time.monotonic() + 10
        while {a.transport(), b.transport()} != {"websocket"} and time.monotonic() < deadline:
            time.sleep(0.1)
        emit(
            {
                "instances": [fault_load.instance_of(a), fault_load.instance_of(b)],
                "rest_instance_b": bob.session.instances[-1],
                "b_got": got_b["body"],
                "a_got": got_a["body"],
                "transports": [a.transport(), b.transport()],
                "urls": [a.sio.eio.base_url, b.sio.eio.base_url],
            }
        )
    finally:
        a.disconnect()
        b.disconnect()


def tls(source, redirect_prefix):
    """HTTPS through nginx: plain HTTP redirected, the certificate verified (and
    refused without the CA that signed it), HSTS, and Socket.IO's origin check
    seeing the scheme and host nginx sets, not what a client writes."""
    c = Checks()
    http = http_session(source)
    r = http.get("http://nginx/api/rooms?x=1", timeout=10, allow_redirects=False)
    c.check(
        "plain HTTP: 308 to the same URL over HTTPS",
        r.status_code == 308 and r.headers.get("Location") == redirect_prefix + "/api/rooms?x=1",
        f"{r.status_code} {r.headers.get('Location')}",
    )
    r = http.get(URL + "/healthz", timeout=10)
    c.check(
        "HTTPS verified against the CA, with HSTS",
        r.status_code == 200 and r.headers.get("Strict-Transport-Security") == "max-age=31536000",
        f"{r.status_code} {dict(r.headers)}",
    )
    untrusting = requests.Session()
    untrusting.trust_env = False
    try:
        untrusting.get(URL + "/healthz", timeout=10)
        refused = False
    except requests.exceptions.SSLError:
        refused = True
    c.check("a client without the CA refuses the certificate", refused)

    def handshake(origin, **headers):
        return http.get(
            URL + "/socket.io/?EIO=4&transport=polling",
            headers={"Origin": origin, **headers},
            timeout=10,
        )

    r = handshake("https://nginx")
    c.check("Socket.IO from the page's own https origin", r.status_code == 200, r.text[:200])
    r = handshake("https://nginx", **{"X-Forwarded-Proto": "http"})
    c.check("a client's X-Forwarded-Proto is ignored", r.status_code == 200, r.text[:200])
    r = handshake("http://nginx")
    c.check("the http:// origin is not the page's", r.status_code == 400, r.status_code)
    r = handshake("https://evil.example", **{"X-Forwarded-Host": "evil.example"})
    c.check("a client's X-Forwarded-Host is ignored", r.status_code == 400, r.status_code)
    alice = register(URL, source=source)
    sock = ChatClient(URL, alice.token, source=source, transports=["websocket"])
    started = time.monotonic()
    try:
        sock.connect()
    except socketio.exceptions.ConnectionError as exc:
        waited = time.monotonic() - started
        c.check("Socket.IO over wss://", False, f"{exc!r} after {waited:.1f} s")
    else:
        c.check(
            "Socket.IO over wss://",
            sock.transport() == "websocket" and sock.sio.eio.base_url.startswith("wss://"),
            sock.sio.eio.base_url,
        )
    finally:
        sock.disconnect()
    emit({"results": c.results})


class ContainerChatLoad(fault_load.ChatLoad):
    """The fault tests' load; what was stored is read back over REST (the
    client has no route to the database, which is on the backend network)."""

    def stored(self):
        account = self.accounts[0]
        rows, after = [], 0
        while True:
            r = self._history_page(account, after)
            page = r.json()["messages"]
            rows += [(m["id"], m["client_id"] or "") for m in page]
            if not page or not r.json()["has_more"]:
                return rows
            after = page[-1]["id"]

    def _history_page(self, account, after, attempts=10):
        """One page, retried while nginx has no instance for this client yet
        (its replica was just killed); the audit must not fail on that."""
        for _ in range(attempts):
            r = account.request("GET", f"/api/rooms/{self.room}/messages?after={after}&limit=100")
            if r.status_code not in (502, 503, 504):
                break
            time.sleep(1)
        r.raise_for_status()
        return r


class NginxCluster:
    url = URL


def load(args):
    """The fault tests' load from these source addresses until "stop" on stdin;
    `--give-up=S` first: senders keep retrying one message S seconds (not
    fault_load.GIVE_UP)."""
    sources = list(args)
    if sources and sources[0].startswith("--give-up="):
        fault_load.GIVE_UP = float(sources.pop(0).split("=", 1)[1])
    fault_load.SOURCES = sources
    chat_load = ContainerChatLoad(
        NginxCluster(), "load", members=len(sources), socket_senders=2, rest_senders=2, interval=0.3
    ).start()
    emit(chat_load.distribution(), prefix="STARTED ")
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    chat_load.stop_senders()
    chat_load.wait_delivered(timeout=30)
    figures = chat_load.audit()
    figures["distribution_after"] = chat_load.distribution()
    # Each lost socket's times (time.monotonic(), the kernel's clock, which the
    # test outside the container reads too), to time a fault from outside.
    figures["reconnect_times"] = [
        {
            "member": member.name,
            "from": entry["from"],
            "to": entry.get("to"),
            **{k: entry.get(k) for k in ("disconnected", "connected", "synced")},
        }
        for member in chat_load.members
        for entry in member.reconnects
    ]
    # Each failed try's time (the same clock) and kind, per sender.
    figures["failure_times"] = {
        sender.name: [[round(t, 3), kind] for t, kind in sender.failure_log]
        for sender in chat_load.senders
    }
    for member in chat_load.members:
        member.stop()
    emit(figures, prefix="AUDIT ")


def main(argv):
    command, args = argv[1], argv[2:]
    {
        "instances": lambda: instances(args),
        "contract": lambda: contract(args[0]),
        "chat": lambda: chat(args[0], args[1]),
        "tls": lambda: tls(args[0], args[1]),
        "load": lambda: load(args),
    }[command]()


if __name__ == "__main__":
    main(sys.argv)
