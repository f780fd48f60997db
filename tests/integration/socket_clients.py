"""Clients for the cluster tests: REST calls and Socket.IO clients, optionally
bound to a source address.

Every 127.x.y.z address is loopback on Linux, so a client bound to 127.0.5.1
reaches nginx on 127.0.0.1 "from" another /24; nginx's ip_hash then picks an
instance for that /24. Binding has to cover both transports of a Socket.IO
client: the requests session used by long-polling (an HTTPAdapter whose pools
bind their sockets) and the WebSocket (websocket-client takes a pre-connected
socket, made fresh for every connection by SourceBoundWebSocketOptions).

Over https:// (the container tests), set TLS_CA_FILE to the certificate
authority that signed the server's certificate: sessions verify against it,
and a bound WebSocket is wrapped in TLS verified the same way (wss://).
"""

import collections.abc
import itertools
import socket
import ssl
import threading
import time
import urllib.parse
import uuid

import requests
import socketio
from requests.adapters import HTTPAdapter

PASSWORD = "password123"
# The CA file that https:// servers are verified against (None: the system's).
TLS_CA_FILE = None
_names = itertools.count(1)


def unique_name(prefix):
    """A name no other test (or earlier run against the same database) uses."""
    return f"{prefix}_{next(_names)}_{uuid.uuid4().hex[:6]}"


# --- HTTP -------------------------------------------------------------------


class SourceAddressAdapter(HTTPAdapter):
    """Opens every connection from `source` (an IPv4 address; any free port)."""

    def __init__(self, source, **kwargs):
        self.source = source
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def http_session(source=None):
    """A requests session; with `source`, all its connections come from that address.

    Every response's X-Instance is appended to `session.instances`, so a test can
    tell which app instances served it (the Socket.IO polling requests included).
    """
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and nginx
    if TLS_CA_FILE:
        session.verify = TLS_CA_FILE
    if source is not None:
        adapter = SourceAddressAdapter(source)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    session.instances = []
    session.hooks["response"].append(
        lambda response, *args, **kwargs: session.instances.append(
            response.headers.get("X-Instance")
        )
    )
    return session


class Account:
    """A logged-in user: the REST session, the token, the user object."""

    def __init__(self, base_url, user, token, session):
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.username = user["username"]
        self.token = token
        self.session = session

    def request(self, method, path, base_url=None, **kwargs):
        """A REST call with the token, to `base_url` (default: the one logged in at)."""
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 10)
        return self.session.request(
            method, (base_url or self.base_url).rstrip("/") + path, headers=headers, **kwargs
        )

    def create_room(self, name, private=False):
        response = self.request("POST", "/api/rooms", json={"name": name, "private": private})
        assert response.status_code == 201, response.text
        return response.json()

    def join_room(self, name):
        response = self.request("POST", f"/api/rooms/{name}/members")
        assert response.status_code == 200, response.text
        return response.json()

    def add_member(self, room, username):
        response = self.request("POST", f"/api/rooms/{room}/members", json={"username": username})
        assert response.status_code == 200, response.text
        return response.json()

    def post_message(self, room, body, client_id=None, base_url=None):
        payload = {"body": body, **({"client_id": client_id} if client_id else {})}
        response = self.request(
            "POST", f"/api/rooms/{room}/messages", base_url=base_url, json=payload
        )
        assert response.status_code == 201, response.text
        return response

    def members(self, room, base_url=None):
        """{username: online} from GET /api/rooms/{room}/members."""
        response = self.request("GET", f"/api/rooms/{room}/members", base_url=base_url)
        assert response.status_code == 200, response.text
        return {m["user"]["username"]: m["online"] for m in response.json()["members"]}


def register(base_url, username=None, password=PASSWORD, source=None):
    """Registers a new user through REST; returns its Account."""
    session = http_session(source)
    username = username or unique_name("u")
    response = session.post(
        base_url.rstrip("/") + "/api/auth/register",
        json={"username": username, "password": password},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(base_url, body["user"], body["token"], session)


def login(base_url, username, password=PASSWORD, source=None):
    """Logs an existing user in through REST; returns its Account."""
    session = http_session(source)
    response = session.post(
        base_url.rstrip("/") + "/api/auth/login",
        json={"username": username, "password": password},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(base_url, body["user"], body["token"], session)


# --- Socket.IO ----------------------------------------------------------------


class SourceBoundWebSocketOptions(collections.abc.MutableMapping):
    """websocket_extra_options whose "socket" is a new TCP connection from `source`
    each time engineio opens a WebSocket (websocket-client has no source-address
    option, but uses a socket it is given as is)."""

    def __init__(self, url, source, timeout=10):
        parsed = urllib.parse.urlsplit(url)
        self.secure = parsed.scheme in ("https", "wss")
        self.target = (parsed.hostname, parsed.port or (443 if self.secure else 80))
        self.source = source
        self.timeout = timeout
        self._options = {}

    def _connected_socket(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timeout)
            sock.bind((self.source, 0))
            sock.connect(self.target)
            if self.secure:  # websocket-client uses a socket it is given as is
                context = ssl.create_default_context(cafile=TLS_CA_FILE)
                sock = context.wrap_socket(sock, server_hostname=self.target[0])
        except OSError:
            sock.close()
            raise
        return sock

    def __getitem__(self, key):
        if key == "socket":
            return self._connected_socket()
        return self._options[key]

    def __setitem__(self, key, value):
        self._options[key] = value

    def __delitem__(self, key):
        del self._options[key]

    def __iter__(self):
        return iter(["socket", *self._options])

    def __len__(self):
        return len(self._options) + 1


class ChatClient:
    """A Socket.IO client that records every server event it receives.

    `events` is a list of (event, payload) in arrival order; wait_for() polls it
    with a deadline. The client never reconnects by itself: a test that wants a
    reconnection makes a new client, so what each socket saw stays clear.
    """

    def __init__(self, url, token, source=None, transports=None, name=""):
        self.url = url
        self.token = token
        self.source = source
        self.transports = transports
        self.name = name
        self.session = http_session(source)
        extra = SourceBoundWebSocketOptions(url, source) if source else {}
        self.sio = socketio.Client(
            reconnection=False,
            handle_sigint=False,
            http_session=self.session,
            websocket_extra_options=extra,
            request_timeout=10,
        )
        self.events = []
        self.disconnected = threading.Event()
        self._changed = threading.Condition()
        self.sio.on("*", self._record)
        self.sio.on("disconnect", lambda *reason: self.disconnected.set())

    def __repr__(self):
        return f"<ChatClient {self.name} {self.url} sid={self.sid}>"

    def _record(self, event, *args):
        with self._changed:
            self.events.append((event, args[0] if len(args) == 1 else args))
            self._changed.notify_all()

    def connect(self, timeout=10):
        self.sio.connect(
            self.url, auth={"token": self.token}, transports=self.transports, wait_timeout=timeout
        )
        return self

    @property
    def sid(self):
        return self.sio.get_sid() if self.sio.connected else None

    def transport(self):
        return self.sio.transport()

    def call(self, event, payload, timeout=10):
        """Emits `event` and returns the acknowledgement."""
        return self.sio.call(event, payload, timeout=timeout)

    def join(self, room):
        ack = self.call("join", {"room": room})
        assert ack.get("ok") is True, ack
        return ack

    def clear(self):
        """Forgets the events received so far."""
        with self._changed:
            self.events.clear()

    def received(self, event, predicate=lambda payload: True):
        with self._changed:
            return [p for e, p in self.events if e == event and predicate(p)]

    def wait_for(self, event, predicate=lambda payload: True, timeout=10):
        """The first `event` payload matching `predicate`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for e, p in self.events:
                    if e == event and predicate(p):
                        return p
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.name or self}: no {event!r} event matching within {timeout}s; "
                        f"got {self.events!r}"
                    )
                self._changed.wait(remaining)

    def disconnect(self):
        try:
            self.sio.disconnect()
        except Exception:  # already gone (its instance was killed, say)
            pass
        self.session.close()


def assert_error_shape(body, code):
    """A decoded response body (or ack) in the contract's error shape, with this code."""
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


def wait_until(condition, timeout=10, interval=0.05, message="condition"):
    """Polls `condition` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s")
        time.sleep(interval)
