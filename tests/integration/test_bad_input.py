"""Bad input against a running instance (scripts/cluster.py with one instance
behind nginx, on PostgreSQL and Redis):

- schemathesis generates requests for every operation of /api/openapi.json,
  valid and invalid ones, with a seeded user's token: no 5xx, every status
  documented, every body and content type matching the document;
- hypothesis generates Socket.IO events (known and unknown names, wrong types,
  missing fields, huge and odd Unicode strings) sent through a real client:
  each gets an ack, {"ok": true, ...} or the error shape, never a 500-like one,
  and the instance keeps serving;
- malformed JSON gets 400 and a body over 64 KiB gets 413, straight to the
  instance and through nginx.

The number of generated cases goes to tests/artifacts/reliability.json.
"""

import collections
import json
import socket
import time
import uuid

import pytest
import requests
import schemathesis
import socketio
from fault_load import record_figures, rounded
from hypothesis import HealthCheck, Phase, assume, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS as SCHEMATHESIS_CHECKS
from schemathesis.checks import load_all_checks
from socket_clients import ChatClient, assert_error_shape, login, register, unique_name

pytestmark = pytest.mark.integration

CLUSTER_ENV = {
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    # Generous limits, so that generated requests reach the handlers rather
    # than stopping at 429 (which is documented, and would pass, but tests less).
    "AUTH_RATE_LIMIT": "100000 per minute",
    "SEND_RATE_LIMIT": "100000 per second",
    "ROOM_CREATE_RATE_LIMIT": "100000 per hour",
    "SOCKET_EVENT_RATE_LIMIT": "100000 per second",
    "SOCKET_PACKET_RATE_LIMIT": "100000 per second",
    "CONNECT_RATE_LIMIT": "100000 per minute",
    "REACT_RATE_LIMIT": "100000 per second",
    "SEARCH_RATE_LIMIT": "100000 per second",
    "UPLOAD_RATE_LIMIT": "100000 per minute",
}
# Every check schemathesis has (`--checks all`): among them positive_data_acceptance,
# so the document states every rule the server enforces (a request valid by the
# document is not refused with 400 or 422), and negative_data_rejection, the other
# way round.
load_all_checks()
CHECKS = SCHEMATHESIS_CHECKS.get_all()
EXAMPLES_PER_OPERATION_AND_MODE = 45  # x (16 positive + 10 negative): > 1000 cases
# Seeded: the same cases on every run (the seed of an operation is SEED + its index).
SEED = 20240601
# The whole run must end within this (about 2 minutes on 2 busy cores).
FUZZ_BUDGET_SECONDS = 600
SOCKET_EXAMPLES = 300
MAX_BODY = 64 * 1024
CODES = {
    "bad_request",
    "validation_error",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "unavailable",
}  # not internal_error
EVENTS = ["join", "leave", "send", "typing", "read", "sync", "react"]

FUZZ_SETTINGS = dict(
    deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module")
def cluster_options():
    return {"instances": 1, "extra_env": CLUSTER_ENV}


@pytest.fixture(scope="module")
def instance(cluster):
    return cluster.instances[0]


@pytest.fixture(scope="module")
def alice(cluster):
    """The seeded user alice, logged in."""
    account = login(cluster.url, "alice")
    yield account
    account.session.close()


SESSION_ENDING = {"/api/auth/logout", "/api/me/password"}


def can_be_negated(document, operation):
    """Whether an invalid request can be made for the operation: one with a body,
    query parameters or a non-string path parameter. (Any string is a valid room
    name or username in the path, and the token is always sent.)"""
    item = document["paths"][operation.path]
    definition = item[operation.method.lower()]
    parameters = item.get("parameters", []) + definition.get("parameters", [])
    return "requestBody" in definition or any(
        p["in"] == "query" or p.get("schema", {}).get("type") != "string" for p in parameters
    )


def assert_still_serving(cluster, instance):
    """Health answers, and a normal send is stored and delivered live."""
    assert requests.get(instance.url + "/healthz", timeout=5).status_code == 200
    author = register(cluster.url)
    reader = register(cluster.url)
    room = unique_name("after")
    author.create_room(room)
    reader.join_room(room)
    client = ChatClient(instance.url, reader.token, name="reader").connect()
    try:
        client.join(room)
        message = author.post_message(room, "still here", client_id=uuid.uuid4().hex).json()
        client.wait_for("message", lambda p: p["id"] == message["id"], timeout=10)
    finally:
        client.disconnect()
        author.session.close()
        reader.session.close()


# --- REST: schemathesis -----------------------------------------------------------


def test_generated_requests_get_no_server_error_and_match_the_openapi_document(
    cluster, instance, alice
):
    schema = schemathesis.openapi.from_url(instance.url + "/api/openapi.json", timeout=10)
    headers = {"Authorization": f"Bearer {alice.token}"}
    # Logging out (or, by a lucky guess, changing the password) would end the
    # token every later case and test uses: those two get a user of their own.
    throwaway = register(cluster.url)
    session_ending = {"Authorization": f"Bearer {throwaway.token}"}
    session = requests.Session()
    session.trust_env = False
    cases = collections.Counter()
    statuses = collections.Counter()
    failures = []
    started = time.monotonic()

    operations = [result.ok() for result in schema.get_all_operations()]
    for index, operation in enumerate(operations):
        modes = [schemathesis.GenerationMode.POSITIVE]
        if can_be_negated(schema.raw_schema, operation):
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            label = f"{operation.label} [{mode.value}]"

            @seed(SEED + index)
            @settings(max_examples=EXAMPLES_PER_OPERATION_AND_MODE, **FUZZ_SETTINGS)
            # The token is part of the generated case (not added on top), so that a
            # negative case never counts on dropping it.
            @given(
                case=operation.as_strategy(
                    generation_mode=mode,
                    headers=session_ending if operation.path in SESSION_ENDING else headers,
                )
            )
            def run(case):
                cases[label] += 1  # noqa: B023 (run() is called before label changes)
                response = case.call_and_validate(
                    base_url=instance.url, session=session, checks=CHECKS, timeout=10
                )
                statuses[response.status_code] += 1

            try:
                run()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # keep going: report every operation that fails
                failures.append(f"{label}: {type(exc).__name__}: {exc}"[:3000])
    session.close()
    throwaway.session.close()

    total = sum(cases.values())
    record_figures(
        "openapi_fuzzing",
        {
            "what": "schemathesis, positive and negative cases for every operation of "
            "/api/openapi.json, with a seeded user's token, checks: "
            + ", ".join(c.__name__ for c in CHECKS),
            "operations": len(operations),
            "cases": total,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "failures": [f[:1500] for f in failures[:5]],
            "seconds": rounded(time.monotonic() - started),
        },
    )
    assert len(operations) >= 16
    assert time.monotonic() - started < FUZZ_BUDGET_SECONDS
    assert not failures, "\n\n".join(failures)
    assert total >= 1000, total
    assert not any(status >= 500 for status in statuses), statuses
    assert_still_serving(cluster, instance)


# --- Socket.IO: hypothesis -----------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# Huge and odd strings: long runs of one character (any plane, combining marks,
# right-to-left marks, NUL...), mixed Unicode, and names that look right.
HUGE = st.builds(lambda ch, n: ch * n, st.characters(), st.integers(4001, 10000))
ODD = st.text(st.characters(), min_size=0, max_size=200) | st.sampled_from(
    [
        "\x00",
        "\u202e",
        "\ufeff",
        "\U0001f600" * 50,
        "a\u0301" * 100,
        "<script>",
        "general",
        "random",
        "dm-alice-bob",
        " ",
        "\n" * 10,
    ]
)
VALUES = JSON | HUGE | ODD | st.binary(max_size=32)
FIELDS = ["room", "body", "client_id", "typing", "message_id", "after", "limit", "emoji", "on"]
PAYLOADS = (
    st.fixed_dictionaries({}, optional={name: VALUES for name in FIELDS})
    | st.fixed_dictionaries(
        {"room": st.sampled_from(["general", "random"])},
        optional={name: VALUES for name in FIELDS[1:]},
    )
    | JSON
    | HUGE
    | st.binary(max_size=64)
)
KNOWN = st.sampled_from(EVENTS)
EVENT_NAMES = st.one_of(
    KNOWN,
    KNOWN,
    KNOWN,
    st.text(max_size=30),
    st.sampled_from(["connect", "disconnect", "message", "*", "", "presence", "__proto__"]),
)


def packet_size(event, payload):
    """About the size of the JSON packet python-socketio sends (bytes go apart)."""
    args = payload if isinstance(payload, tuple) else (payload,)
    return len(json.dumps([event, *args], default=lambda b: "")) + 16


def assert_answer(event, ack):
    """{"ok": true, ...} for a known event, else the error shape with a client-side code."""
    assert isinstance(ack, dict), (event, ack)
    if ack.get("ok") is True:
        assert event in EVENTS, (event, ack)
        return "ok"
    assert set(ack) == {"error"}, (event, ack)
    assert ack["error"]["code"] in CODES, (event, ack)
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"], ack
    return ack["error"]["code"]


def test_generated_socketio_events_get_an_ack_and_the_instance_keeps_serving(
    cluster, instance, alice
):
    client = ChatClient(instance.url, alice.token, name="fuzzer").connect()
    outcomes = collections.Counter()
    reconnects = 0
    started = time.monotonic()

    # No shrinking: a failure is reported as generated (each try of a shrink could
    # wait out an ack time-out).
    @settings(max_examples=SOCKET_EXAMPLES, phases=[Phase.generate], **FUZZ_SETTINGS)
    @given(event=EVENT_NAMES, payload=PAYLOADS | st.tuples(PAYLOADS, PAYLOADS))
    def run(event, payload):
        nonlocal client, reconnects
        # Under the 64 KiB packet limit (over it, the server closes the socket:
        # test_socketio_packet_over_the_size_limit_closes_only_that_socket).
        assume(packet_size(event, payload) < MAX_BODY - 1024)
        if not client.sio.connected:
            reconnects += 1
            client.disconnect()
            client = ChatClient(instance.url, alice.token, name="fuzzer").connect()
        try:
            ack = client.call(event, payload, timeout=5)
        except socketio.exceptions.TimeoutError:
            raise AssertionError(f"no ack within 5 s for {event!r} {payload!r:.300}") from None
        outcomes[assert_answer(event, ack)] += 1

    try:
        run()
    finally:
        client.disconnect()
    record_figures(
        "socketio_fuzzing",
        {
            "what": "hypothesis-generated events through a python-socketio client: known and "
            "unknown names (connect/disconnect too), wrong types, missing fields, huge "
            "and odd Unicode strings, binary, several arguments",
            "cases": sum(outcomes.values()),
            "acks": dict(outcomes),
            "reconnects": reconnects,
            "seconds": rounded(time.monotonic() - started),
        },
    )
    assert sum(outcomes.values()) >= SOCKET_EXAMPLES
    assert reconnects == 0  # nothing under 64 KiB made the server drop the socket
    assert_still_serving(cluster, instance)


def test_socketio_lifecycle_event_names_sent_by_a_client_change_nothing(cluster, instance, alice):
    watcher_account = register(cluster.url)
    client = ChatClient(instance.url, alice.token, name="alice").connect()
    try:
        watcher_account.join_room("general")
        for event in ("disconnect", "connect"):
            ack = client.call(event, {"token": watcher_account.token})
            assert assert_answer(event, ack) == "bad_request"
        # alice is still online and still alice.
        assert watcher_account.members("general", base_url=instance.url)["alice"] is True
        ack = client.call("join", {"room": "general"})
        assert ack["ok"] is True, ack
        ack = client.call(
            "send", {"room": "general", "body": "who am I", "client_id": uuid.uuid4().hex}
        )
        assert ack["message"]["author"]["username"] == "alice", ack
    finally:
        client.disconnect()
        watcher_account.session.close()


def test_socketio_packet_over_the_size_limit_closes_only_that_socket(cluster, instance, alice):
    client = ChatClient(instance.url, alice.token, name="big", transports=["websocket"])
    client.connect()
    try:
        client.sio.emit(
            "send", {"room": "general", "body": "x" * (MAX_BODY + 1), "client_id": uuid.uuid4().hex}
        )
        assert client.disconnected.wait(10), "the oversized packet was accepted"
    finally:
        client.disconnect()
    assert_still_serving(cluster, instance)


# --- malformed and oversized bodies -------------------------------------------------

POSTS = [
    "/api/auth/register",
    "/api/auth/login",
    "/api/rooms",
    "/api/rooms/general/messages",
    "/api/rooms/general/read",
]


@pytest.mark.parametrize("via", ["instance", "nginx"])
@pytest.mark.parametrize("path", POSTS)
def test_malformed_json_is_400(cluster, instance, alice, via, path):
    base = instance.url if via == "instance" else cluster.url
    response = requests.post(
        base + path,
        data=b'{"body": "unterminated',
        timeout=10,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {alice.token}"},
    )
    assert response.status_code == 400, response.text
    assert_error_shape(response.json(), "bad_request")


@pytest.mark.parametrize("via", ["instance", "nginx"])
@pytest.mark.parametrize("path", POSTS)
def test_body_over_64_kib_is_413(cluster, instance, alice, via, path):
    base = instance.url if via == "instance" else cluster.url
    body = ('{"body": "' + "x" * MAX_BODY + '"}').encode()
    response = requests.post(
        base + path,
        data=body,
        timeout=10,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {alice.token}"},
    )
    assert response.status_code == 413, response.text
    assert_error_shape(response.json(), "payload_too_large")


@pytest.mark.parametrize("size", [2 * 1024 * 1024])
def test_body_over_nginx_own_limit_is_413_in_the_error_shape(cluster, alice, size):
    response = requests.post(
        cluster.url + "/api/rooms/general/messages",
        data=b"x" * size,
        timeout=10,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {alice.token}"},
    )
    assert response.status_code == 413, response.text
    assert_error_shape(response.json(), "payload_too_large")


def test_no_instance_to_answer_is_503_in_the_error_shape(cluster, alice):
    """With the only instance dead, nginx answers itself: 503 `unavailable` in the
    API's error shape, not its own 502 page. Last in the module: it kills the
    instance, and starts it again afterwards."""
    cluster.kill_instance(1)
    try:
        for method, path in [
            ("GET", "/api/rooms"),
            ("POST", "/api/rooms/general/messages"),
            ("GET", "/socket.io/?EIO=4&transport=polling"),
        ]:
            response = requests.request(
                method,
                cluster.url + path,
                timeout=10,
                json={"body": "x"} if method == "POST" else None,
                headers={"Authorization": f"Bearer {alice.token}"},
            )
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert_error_shape(response.json(), "unavailable")
    finally:
        cluster.restart_instance(1)


def assert_raw_request_is_400_json(port, what, request_bytes):
    """Sends bytes as they are (no HTTP library would send them) and expects a
    400 bad_request in the API's error shape."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_bytes)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    assert lines[0] == "HTTP/1.1 400 Bad Request", (what, lines)
    assert "Content-Type: application/json" in lines, (what, lines)
    assert_error_shape(json.loads(body), "bad_request")


@pytest.mark.parametrize(
    "what, request_bytes",
    [
        (
            "a request line over gunicorn's 4094-byte limit",
            b"GET /api/search?q=" + b"x" * 5000 + b" HTTP/1.1\r\nHost: chat\r\n\r\n",
        ),
        ("a malformed request line", b"GET /api/rooms HTTP/1.1 extra\r\nHost: chat\r\n\r\n"),
        ("a header without a colon", b"GET /api/rooms HTTP/1.1\r\nHost: chat\r\nno colon\r\n\r\n"),
    ],
)
def test_a_request_gunicorn_cannot_read_is_400_in_the_error_shape(instance, what, request_bytes):
    """gunicorn answers these itself, before the app: in the API's error shape
    (app/library_hooks/gunicorn_errors.py), not its HTML page. Fails if gunicorn stops calling
    the hook."""
    assert_raw_request_is_400_json(instance.port, what, request_bytes)


@pytest.mark.parametrize(
    "what, request_bytes",
    [
        (
            "a request line over nginx's 8 KiB buffers",
            b"GET /api/search?q=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: chat\r\n\r\n",
        ),
        (
            "a header over nginx's 8 KiB buffers",
            b"GET /api/rooms HTTP/1.1\r\nHost: chat\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n",
        ),
        ("a malformed request line", b"GET /api/rooms HTTP/1.1 extra\r\nHost: chat\r\n\r\n"),
    ],
)
def test_a_request_nginx_cannot_read_is_400_in_the_error_shape(cluster, what, request_bytes):
    assert_raw_request_is_400_json(cluster.port, what, request_bytes)
