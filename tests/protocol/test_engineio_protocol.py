"""Engine.IO v4 on the wire, against the conformance server's bare Engine.IO echo
server (KIND=engineio), under eventlet and gevent, hooked and stock.

Written from the Engine.IO v4 specification (github.com/socketio/engine.io-protocol):
handshake, heartbeat, close, upgrade from polling to WebSocket, plain and binary
packets over both transports, malformed packets and payloads too large. The same
assertions run for every configuration: the project's hooks must not change what
goes over the wire. Where the stock libraries depart from the specification, the
test says so (an xfail with the reason, or an expectation of the actual behaviour
with a comment).
"""

import base64
import json
import time

import pytest
import requests
import websocket
from wire import SEPARATOR, DeflateWebSocket, Polling, WebSocket, split_payload

KIND = "engineio"
pytestmark = pytest.mark.integration

PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000
# How long past pingInterval + pingTimeout a session may live on before the server
# notices its client is gone: the server sweeps its sessions every pingTimeout, and
# the machine may be loaded.
HEARTBEAT_SLACK = 2.0

HANDSHAKE_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


def test_the_configuration_is_what_it_says(server):
    # HOOKS=1 puts the project's socket class in python-engineio's place; HOOKS=0
    # leaves the library's own (otherwise "hooked" would test stock twice).
    socket_class = requests.get(
        f"http://127.0.0.1:{server.port}/conformance/socket-class", timeout=5
    ).text
    if server.hooks:
        assert not socket_class.startswith("engineio."), socket_class
    else:
        assert socket_class == "engineio.socket.Socket"


# --- handshake -------------------------------------------------------------------


def test_polling_handshake(server):
    response = requests.get(server.url, params={"EIO": "4", "transport": "polling"}, timeout=5)
    assert response.status_code == 200
    assert response.text.startswith("0")
    handshake = json.loads(response.text[1:])
    assert set(handshake) == HANDSHAKE_KEYS
    assert isinstance(handshake["sid"], str) and handshake["sid"]
    assert handshake["upgrades"] == ["websocket"]
    assert handshake["pingTimeout"] == 200
    assert handshake["maxPayload"] == MAX_PAYLOAD


def test_websocket_handshake(server):
    ws = WebSocket(server.ws_url)
    handshake = ws.open()
    ws.close()
    assert set(handshake) == HANDSHAKE_KEYS
    assert isinstance(handshake["sid"], str) and handshake["sid"]
    assert handshake["upgrades"] == []  # nothing to upgrade to from WebSocket
    assert handshake["pingTimeout"] == 200
    assert handshake["maxPayload"] == MAX_PAYLOAD


@pytest.mark.xfail(
    strict=True,
    reason="python-engineio 4.x writes int(ping_interval + grace) * 1000 into the OPEN "
    "packet, so a ping interval under a second is announced as 0 (it pings every 300 ms)",
)
def test_handshake_announces_the_ping_interval(server):
    assert Polling(server.url).open()["pingInterval"] == 300


def test_sids_are_distinct(server):
    assert Polling(server.url).open()["sid"] != Polling(server.url).open()["sid"]


@pytest.mark.parametrize(
    "params",
    [
        {"transport": "polling"},  # no EIO
        {"EIO": "abc", "transport": "polling"},
        {"EIO": "3", "transport": "polling"},  # another version of the protocol
        {"EIO": "4", "transport": "abc"},
    ],
    ids=["no-EIO", "EIO-abc", "EIO-3", "transport-abc"],
)
def test_bad_handshake_query_is_400(server, params):
    assert requests.get(server.url, params=params, timeout=5).status_code == 400


@pytest.mark.xfail(
    strict=True,
    reason="python-engineio takes a request without `transport` for polling; the "
    "specification makes the parameter mandatory (HTTP 400 without it)",
)
def test_handshake_without_transport_is_400(server):
    assert requests.get(server.url, params={"EIO": "4"}, timeout=5).status_code == 400


def test_post_without_session_is_400(server):
    response = requests.post(
        server.url, params={"EIO": "4", "transport": "polling"}, data="4hello", timeout=5
    )
    assert response.status_code == 400


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_sid_is_400(server, method):
    response = requests.request(
        method,
        server.url,
        params={"EIO": "4", "transport": "polling", "sid": "no-such-session"},
        data="4hello" if method == "POST" else None,
        timeout=5,
    )
    assert response.status_code == 400


def test_websocket_with_unknown_sid_is_refused(server):
    with pytest.raises(Exception):  # noqa: B017  (an HTTP 400 instead of the upgrade)
        WebSocket(server.ws_url, sid="no-such-session").recv(timeout=2)


def test_cors_allows_any_origin(server):
    origin = "https://elsewhere.example"
    response = requests.get(
        server.url,
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": origin},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin


# --- messages ----------------------------------------------------------------------


def test_polling_text_message(server):
    session = Polling(server.url)
    session.open()
    response = session.post("4hello")
    assert response.status_code == 200
    assert response.text.lower() == "ok"
    assert session.receive() == ["4hello"]


def test_polling_payload_of_several_packets(server):
    session = Polling(server.url)
    session.open()
    assert session.post(SEPARATOR.join(["4test1", "4test2", "4test3"])).text.lower() == "ok"
    assert session.receive(3) == ["4test1", "4test2", "4test3"]


def test_polling_binary_packets_are_base64_with_b(server):
    session = Polling(server.url)
    session.open()
    payload = SEPARATOR.join(["4hello", "b" + base64.b64encode(bytes([1, 2, 3, 4])).decode()])
    assert payload == "4hello\x1ebAQIDBA=="
    assert session.post(payload).text.lower() == "ok"
    assert session.receive(2) == ["4hello", "bAQIDBA=="]


def test_polling_utf8_message(server):
    session = Polling(server.url)
    session.open()
    assert session.post("4€ é 😀".encode()).text.lower() == "ok"
    assert session.receive() == ["4€ é 😀"]


def test_websocket_text_message(server):
    ws = WebSocket(server.ws_url)
    ws.open()
    ws.send("4hello")
    assert ws.recv() == "4hello"
    ws.send("4€ é 😀")
    assert ws.recv() == "4€ é 😀"
    ws.close()


def test_websocket_binary_message_is_a_binary_frame(server):
    # v4: a binary frame is a message packet of those bytes, with no type byte.
    ws = WebSocket(server.ws_url)
    ws.open()
    ws.send(bytes([1, 2, 3, 4]))
    assert ws.recv() == bytes([1, 2, 3, 4])
    ws.close()


def test_websocket_messages_keep_their_order(server):
    ws = WebSocket(server.ws_url)
    ws.open()
    sent = [f"4m{n}" for n in range(50)] + [bytes([n]) for n in range(10)]
    for data in sent:
        ws.send(data)
    assert ws.recv_many(len(sent)) == sent
    ws.close()


def test_websocket_large_message_under_max_payload(server):
    ws = WebSocket(server.ws_url)
    ws.open()
    big = "4" + "x" * 300_000
    ws.send(big)
    assert ws.recv() == big
    ws.close()


# --- WebSocket framing (RFC 6455, RFC 7692) under Engine.IO ----------------------


def test_websocket_fragmented_message(server):
    ws = WebSocket(server.ws_url)
    ws.open()
    ABNF = websocket.ABNF
    ws.ws.send_frame(ABNF.create_frame("4hel", ABNF.OPCODE_TEXT, fin=0))
    ws.ws.send_frame(ABNF.create_frame("lo wor", ABNF.OPCODE_CONT, fin=0))
    ws.ws.send_frame(ABNF.create_frame("ld", ABNF.OPCODE_CONT, fin=1))
    assert ws.recv() == "4hello world"
    ws.close()


def test_websocket_ping_frame_gets_a_pong_frame(server):
    # A WebSocket-level ping (not Engine.IO's): the server's WebSocket answers it,
    # in order with the Engine.IO packets around it.
    ws = WebSocket(server.ws_url)
    ws.open()
    ws.send("4before")
    assert ws.recv() == "4before"
    ws.ws.ping("are-you-there")
    ws.ws.settimeout(5)
    while True:
        frame = ws.ws.recv_data_frame(True)[1]
        if frame.opcode == websocket.ABNF.OPCODE_TEXT and frame.data == b"2":
            ws.send("3")
            continue
        break
    assert frame.opcode == websocket.ABNF.OPCODE_PONG
    assert frame.data == b"are-you-there"
    ws.send("4after")
    assert ws.recv() == "4after"
    ws.close()


def test_websocket_permessage_deflate(server):
    # Both workers' WebSockets negotiate permessage-deflate; then the server's
    # messages come compressed, and a client's compressed message is read.
    host, port = "127.0.0.1", server.port
    ws = DeflateWebSocket(host, port, server.path)
    assert "101" in ws.response_head.split("\r\n")[0]
    assert ws.extensions.startswith("permessage-deflate")
    assert ws.recv().startswith('0{"sid":')
    ws.send("4plain")
    assert ws.recv() == "4plain"
    ws.send("4squeezed " + "z" * 5000, compress=True)
    assert ws.recv() == "4squeezed " + "z" * 5000
    assert ws.last_compressed
    ws.close()


# --- heartbeat ---------------------------------------------------------------------


def test_polling_server_pings_and_pong_keeps_the_session(server):
    session = Polling(server.url)
    session.open()
    started = time.monotonic()
    for _ in range(3):
        assert session.receive(answer_pings=False) == ["2"]  # the server pings
        session.pong()
    # Three pings answered: the session outlived pingInterval + pingTimeout.
    assert time.monotonic() - started > PING_INTERVAL + PING_TIMEOUT
    assert session.post("4still-here").text.lower() == "ok"
    assert session.receive() == ["4still-here"]


def test_polling_session_closes_without_pong(server):
    session = Polling(server.url)
    session.open()
    # Long polls that take the pings without answering them, until the session is
    # closed (each returns within pingInterval: a ping, or the session's end).
    deadline = time.monotonic() + PING_INTERVAL + PING_TIMEOUT + HEARTBEAT_SLACK
    while (response := session.get()).status_code == 200:
        # Pings, and at the end the empty payload that ends a poll on a closed session.
        assert set(split_payload(response.text)) <= {"2"}, response.text
        assert time.monotonic() < deadline, "the session outlived its unanswered pings"
    assert response.status_code == 400


def test_websocket_server_pings_and_pong_keeps_the_session(server):
    ws = WebSocket(server.ws_url)
    ws.open()
    since = time.monotonic()
    for _ in range(3):
        assert ws.recv(answer_pings=False) == "2"
        # A ping every pingInterval (counted from the pong, in python-engineio).
        assert 0.9 * PING_INTERVAL < time.monotonic() - since < PING_INTERVAL + HEARTBEAT_SLACK
        ws.send("3")
        since = time.monotonic()
    ws.send("4still-here")
    assert ws.recv() == "4still-here"
    ws.close()


def test_websocket_closes_without_pong(server):
    ws = WebSocket(server.ws_url)
    ws.open()
    # One ping; when the server's sweep finds it unanswered, the connection ends
    # (python-engineio sends no CLOSE packet first).
    assert ws.closed_within(PING_INTERVAL + PING_TIMEOUT + HEARTBEAT_SLACK, answer_pings=False) == [
        "2"
    ]


def test_session_is_gone_after_a_ping_timeout(server):
    ws = WebSocket(server.ws_url)
    sid = ws.open()["sid"]
    ws.closed_within(PING_INTERVAL + PING_TIMEOUT + HEARTBEAT_SLACK, answer_pings=False)
    assert Polling(server.url, sid=sid).get().status_code == 400


def test_websocket_heartbeat_goes_on_after_an_upgrade(server):
    session = Polling(server.url)
    session.open()
    ws = WebSocket(server.ws_url, sid=session.sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert session.receive() == ["6"]
    ws.send("5")
    for _ in range(2):
        assert ws.recv(answer_pings=False, skip_noops=True) == "2"
        ws.send("3")
    ws.send("4alive")
    assert ws.recv(skip_noops=True) == "4alive"
    ws.close()


def test_client_ping_is_not_answered_in_v4(server):
    # v4 reversed the heartbeat: the server pings; a "2" from the client (other than
    # the upgrade's probe) is not answered with a pong.
    ws = WebSocket(server.ws_url)
    ws.open()
    ws.send("2")
    ws.send("4after")
    assert ws.recv() == "4after"
    ws.close()


# --- close -------------------------------------------------------------------------


def test_polling_close_packet_ends_the_session(server):
    session = Polling(server.url)
    session.open()
    pending = session.get_in_background()
    assert session.post("1").text.lower() == "ok"
    # The long poll pending at the close ends at once (with an empty payload here).
    pending_response = pending.result()
    assert pending_response.status_code in (200, 400)
    assert set(p for p in pending_response.text.split(SEPARATOR) if p) <= {"6", "1"}
    assert session.get().status_code == 400


def test_websocket_close_packet_ends_the_connection(server):
    ws = WebSocket(server.ws_url)
    sid = ws.open()["sid"]
    ws.send("1")
    assert ws.closed_within(3) == []
    assert Polling(server.url, sid=sid).get().status_code == 400


def test_websocket_close_frame_ends_the_session(server):
    ws = WebSocket(server.ws_url)
    sid = ws.open()["sid"]
    ws.close()
    deadline = time.monotonic() + 3
    while Polling(server.url, sid=sid).get().status_code != 400:
        assert time.monotonic() < deadline, "the session outlived its WebSocket"
        time.sleep(0.05)


# --- upgrade -----------------------------------------------------------------------


def test_upgrade_from_polling_to_websocket(server):
    session = Polling(server.url)
    session.open()
    ws = WebSocket(server.ws_url, sid=session.sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    # The long poll is ended with a noop, so that the client can pause polling.
    assert session.receive() == ["6"]
    ws.send("5")
    ws.send("4hello")
    # python-engineio also flushes the noop it queued for the poll onto the new
    # transport (as the reference server does): only noops may come first.
    after_upgrade = [ws.recv()]
    while after_upgrade[-1] == "6":
        after_upgrade.append(ws.recv())
    assert after_upgrade[-1] == "4hello"
    ws.send(bytes([9, 8, 7]))
    assert ws.recv() == bytes([9, 8, 7])
    ws.close()


def test_upgrade_keeps_packets_sent_during_the_probe(server):
    session = Polling(server.url)
    session.open()
    ws = WebSocket(server.ws_url, sid=session.sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert session.receive() == ["6"]
    # Sent (over polling) while the upgrade is under way: the echo waits for the
    # new transport and goes out on it, after the upgrade.
    assert session.post("4in-between").text.lower() == "ok"
    ws.send("5")
    assert ws.recv(skip_noops=True) == "4in-between"
    ws.close()


def test_upgrade_delivers_packets_queued_before_it(server):
    session = Polling(server.url)
    session.open()
    # Echoed into the session's queue, never polled: the WebSocket must carry them.
    assert session.post(SEPARATOR.join(["4queued1", "bAQI=", "4queued2"])).text.lower() == "ok"
    ws = WebSocket(server.ws_url, sid=session.sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert session.receive() == ["6"]
    ws.send("5")
    assert [ws.recv(skip_noops=True) for _ in range(3)] == ["4queued1", bytes([1, 2]), "4queued2"]
    ws.send("4then")
    assert ws.recv(skip_noops=True) == "4then"
    ws.close()


def test_polling_after_upgrade_is_refused(server):
    session = Polling(server.url)
    session.open()
    ws = WebSocket(server.ws_url, sid=session.sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert session.receive() == ["6"]
    ws.send("5")
    ws.send("4x")
    assert ws.recv(skip_noops=True) == "4x"
    assert session.post("4late").status_code == 400
    ws.close()


def test_polling_get_after_upgrade_is_refused(server):
    session = Polling(server.url)
    session.open()
    ws = WebSocket(server.ws_url, sid=session.sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert session.receive() == ["6"]
    ws.send("5")
    ws.send("4x")
    assert ws.recv(skip_noops=True) == "4x"
    assert session.get().status_code == 400
    ws.send("4y")  # the WebSocket goes on
    assert ws.recv(skip_noops=True) == "4y"
    ws.close()


def test_failed_probe_leaves_polling_working(server):
    session = Polling(server.url)
    session.open()
    ws = WebSocket(server.ws_url, sid=session.sid)
    ws.send("4not-a-probe")
    assert ws.closed_within(3) == []
    assert session.post("4still-polling").text.lower() == "ok"
    assert session.receive() == ["4still-polling"]


# --- malformed packets and payloads too large -------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="python-engineio logs the decoding error of a POST it cannot read and answers "
    "200 'ok', keeping the session, where the specification closes it (HTTP 400)",
)
def test_polling_invalid_packet_closes_the_session(server):
    session = Polling(server.url)
    session.open()
    assert session.post("abc").status_code == 400


def test_polling_invalid_packet_is_dropped(server):
    # What python-engineio does instead (see the xfail above): the session lives on.
    session = Polling(server.url)
    session.open()
    assert session.post("abc").status_code == 200
    assert session.post("4after").text.lower() == "ok"
    assert session.receive() == ["4after"]


def test_websocket_invalid_packet_ends_the_connection(server, request):
    if not server.hooks:
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                raises=websocket.WebSocketProtocolException,
                reason="stock python-engineio lets the packet's decoding error out of its "
                "WebSocket handler, and the worker writes an HTTP 500 page into the "
                "upgraded stream (no close frame: the client reads garbage frames); the "
                "project's hooks end the connection with a close frame",
            )
        )
    ws = WebSocket(server.ws_url)
    ws.open()
    ws.send("abc")
    assert ws.closed_within(3) == []


@pytest.mark.xfail(
    strict=True,
    reason="python-engineio ignores a packet of an unknown type (UnknownPacketError) "
    "instead of closing the session",
)
def test_websocket_unknown_packet_type_ends_the_connection(server):
    ws = WebSocket(server.ws_url)
    ws.open()
    ws.send("9")
    ws.closed_within(1)


def test_websocket_unknown_packet_type_is_ignored(server):
    # The actual behaviour (see the xfail above).
    ws = WebSocket(server.ws_url)
    ws.open()
    ws.send("9")
    ws.send("4after")
    assert ws.recv() == "4after"
    ws.close()


def test_polling_payload_too_large_is_refused(server):
    # maxPayload is what a POST may carry. python-engineio refuses a longer body
    # with HTTP 400 and closes the session; the long poll a client keeps pending
    # gets the CLOSE packet.
    session = Polling(server.url)
    session.open()
    pending = session.get_in_background()
    response = session.post("4" + "x" * MAX_PAYLOAD)
    assert response.status_code == 400
    polled = pending.result()
    assert polled.status_code == 200
    assert "1" in polled.text.split(SEPARATOR)
    assert session.get().status_code == 400


@pytest.mark.xfail(
    strict=True,
    raises=requests.ReadTimeout,
    reason="python-engineio closes the session with wait=True from the POST's handler: "
    "with no long poll pending to take the queued packets, the POST is never answered "
    "(and its green thread waits for ever)",
)
def test_polling_payload_too_large_without_pending_poll_is_answered(server):
    session = Polling(server.url)
    session.open()
    params = session.query()
    response = requests.post(server.url, params=params, data="4" + "x" * MAX_PAYLOAD, timeout=1)
    assert response.status_code == 400


def test_websocket_message_too_large_ends_the_connection(server):
    ws = WebSocket(server.ws_url)
    ws.open()
    ws.send("4" + "x" * MAX_PAYLOAD)
    assert ws.closed_within(5) == []
