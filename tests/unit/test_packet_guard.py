"""Every Socket.IO packet a client sends passes PacketGuard (app/library_hooks/socketio_packets.py):
packets that do not decode, binary attachments, the per-socket budget (through
Flask-SocketIO's test client, which calls the server's handlers as
python-engineio does). The same against real instances, over real sockets and
with the connect deadline: tests/integration/test_socket_edge.py."""

import logging

import pytest
from unit_helpers import assert_error_ack

from app.library_hooks import socketio_packets

BIG = "9" * 5000


def send_raw(socket, text):
    """Hands `text` to the server as one Socket.IO packet; returns the ack's data
    if the packet was answered (its ack id must be the next one)."""
    socket.callback_counter += 1
    socket.acks = None
    socket.socketio.server._handle_eio_message(socket.eio_sid, text)
    ack, socket.acks = socket.acks, None
    return ack and ack["args"][0]


@pytest.mark.parametrize(
    "packet",
    [
        "2{id}abc",
        "2{id}",
        "2{id}" + '["join",{"room":' + BIG + "}]",
        "2{id}[1,2]",
        "2{id}{}",
        '2{id}["*",{}]',
        "5{id}[]",
    ],
)
def test_an_undecodable_event_with_an_ack_id_gets_a_bad_request_ack(alice, socket_for, packet):
    socket = socket_for(alice)
    before = dict(socketio_packets.REFUSED)
    ack = send_raw(socket, packet.replace("{id}", str(socket.callback_counter + 1)))
    assert_error_ack(ack, "bad_request")
    assert sum(socketio_packets.REFUSED.values()) == sum(before.values()) + 1
    assert socket.is_connected()


@pytest.mark.parametrize("packet", ["2abc", "2", "3", "x", "", "4", "7", "0" + BIG, BIG])
def test_an_undecodable_packet_without_an_ack_id_is_dropped_and_counted(
    alice, socket_for, packet, caplog
):
    socket = socket_for(alice)
    before = socketio_packets.REFUSED["undecodable"]
    with caplog.at_level(logging.WARNING):
        assert send_raw(socket, packet) is None
    assert socketio_packets.REFUSED["undecodable"] == before + 1
    assert not any(record.exc_info for record in caplog.records)
    assert socket.emit("join", {"room": "nope"}, callback=True)["error"]["code"] == "not_found"


def test_a_binary_event_is_refused_without_waiting_for_its_attachments(alice, socket_for):
    socket = socket_for(alice)
    before = socketio_packets.REFUSED["binary"]
    next_id = socket.callback_counter + 1
    ack = send_raw(socket, f'51-{next_id}["send",{{"_placeholder":true,"num":0}}]')
    assert_error_ack(ack, "bad_request")
    assert send_raw(socket, b"\x00" * 100) is None  # an attachment nobody waits for
    assert socketio_packets.REFUSED["binary"] == before + 2
    assert not socket.socketio.server._binary_packet


def test_a_first_connect_whose_auth_does_not_decode_is_one_without_auth(app, socket_for):
    socket = socket_for(auth={"token": 1})  # refused: the namespace is not connected
    assert not socket.is_connected()
    before = socketio_packets.REFUSED["undecodable"]
    socket.connect_errors = []
    socket.socketio.server._handle_eio_message(socket.eio_sid, '0{"token":' + BIG + "}")
    assert socketio_packets.REFUSED["undecodable"] == before + 1
    assert not socket.is_connected()
    assert socket.connect_errors[0]["data"]["error"]["code"] == "unauthorized"


def test_past_the_socket_budget_events_are_rate_limited(alice, socket_for, app):
    burst = 60  # SOCKET_PACKET_RATE_LIMIT's default: 60 per 3 seconds
    socket = socket_for(alice)
    codes = []
    for _ in range(burst + 20):
        ack = socket.emit("leave", {"room": "general"}, callback=True)
        codes.append(ack.get("error", {}).get("code", "ok"))
    assert codes.count("rate_limited") >= 15, codes
    assert codes[: burst - 2] == ["ok"] * (burst - 2)
    other = socket_for(alice)  # a budget per socket
    assert other.emit("leave", {"room": "general"}, callback=True) == {"ok": True}
