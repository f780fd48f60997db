"""The gate in front of Socket.IO handlers (app/realtime/gate.py): at most
SOCKET_HANDLERS_AT_ONCE at work, the rest waiting their turn in order, the
events of connected sockets before connects (but not all of them), and the
newest connect first once the line is long."""

import threading
import time

import pytest
from unit_helpers import assert_error_ack

from app import metrics
from app.realtime.gate import EVENTS_IN_A_ROW, LONG_WAIT, Gate


def test_no_more_than_the_limit_work_at_once_and_the_waiting_are_counted():
    gate = Gate(2)
    at_work, most, lock = [0], [0], threading.Lock()
    waiting_seen = []

    def handler():
        with gate.turn():
            with lock:
                at_work[0] += 1
                most[0] = max(most[0], at_work[0])
            waiting_seen.append(metrics.SOCKET_HANDLERS_WAITING._value.get())
            time.sleep(0.05)
            with lock:
                at_work[0] -= 1

    threads = [threading.Thread(target=handler) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert most[0] == 2
    assert max(waiting_seen) >= 1
    assert metrics.SOCKET_HANDLERS_WAITING._value.get() == 0


def _waiting(gate, what, order):
    """Starts a thread that waits for a turn (a connect's or an event's) and
    notes `what` when it gets it; returns once it waits."""
    before = metrics.SOCKET_HANDLERS_WAITING._value.get()

    def handler():
        with gate.turn(connect=what.startswith("connect")):
            order.append(what)

    connects = metrics.SOCKET_CONNECTS_WAITING._value.get()
    thread = threading.Thread(target=handler)
    thread.start()
    deadline = time.monotonic() + 5
    while metrics.SOCKET_HANDLERS_WAITING._value.get() == before:
        assert time.monotonic() < deadline, "it never waited"
        time.sleep(0.005)
    assert metrics.SOCKET_CONNECTS_WAITING._value.get() == connects + what.startswith("connect")
    return thread


def test_a_free_turn_goes_to_the_oldest_event_before_any_connect():
    """Connects that came first still go after every waiting event: in a storm the
    `join` and `sync` of a client that is in must not wait behind the connects."""
    gate = Gate(1)
    order = []
    gate.acquire()
    threads = [
        _waiting(gate, what, order) for what in ["connect 1", "event 1", "connect 2", "event 2"]
    ]
    gate.release()
    for t in threads:
        t.join(5)
    assert order == ["event 1", "event 2", "connect 1", "connect 2"]
    assert metrics.SOCKET_HANDLERS_WAITING._value.get() == 0
    assert metrics.SOCKET_CONNECTS_WAITING._value.get() == 0
    # every turn came back: both can be taken again at once with no wait
    gate.acquire()
    assert gate._free == 0
    gate.release()
    assert gate._free == 1


def test_connects_still_get_a_turn_while_events_keep_coming():
    """While connects wait, at most EVENTS_IN_A_ROW events go before one of them:
    the other clients' sends alone must not keep every connect out."""
    gate = Gate(1)
    order = []
    gate.acquire()
    threads = [_waiting(gate, "connect 1", order)]
    events = [f"event {i}" for i in range(1, EVENTS_IN_A_ROW + 3)]
    threads += [_waiting(gate, what, order) for what in events]
    gate.release()
    for t in threads:
        t.join(5)
    assert order == [*events[:EVENTS_IN_A_ROW], "connect 1", *events[EVENTS_IN_A_ROW:]]


def test_the_newest_connect_goes_first_once_the_oldest_has_waited_long():
    """A line of connects longer than the clients' timeout would otherwise serve
    only clients that are giving up; under LONG_WAIT it is served in order."""
    now = [0.0]
    gate = Gate(1, clock=lambda: now[0])
    order = []
    gate.acquire()
    threads = []
    for what in ["connect 1", "connect 2", "connect 3"]:
        threads.append(_waiting(gate, what, order))
        now[0] += 1.0
    now[0] = LONG_WAIT  # the oldest has waited LONG_WAIT - 0 seconds
    gate.release()
    for t in threads:
        t.join(5)
    assert order == ["connect 3", "connect 2", "connect 1"]

    order.clear()
    now[0] = 100.0
    gate.acquire()
    threads = []
    for what in ["connect 1", "connect 2", "connect 3"]:
        threads.append(_waiting(gate, what, order))
        now[0] += 1.0
    now[0] = 100.0 + LONG_WAIT - 0.5  # the oldest has not waited that long yet
    gate.release()
    for t in threads:
        t.join(5)
    assert order == ["connect 1", "connect 2", "connect 3"]


def test_zero_means_no_limit():
    gate = Gate(0)
    entered = threading.Barrier(5, timeout=5)

    def handler():
        with gate.turn():
            entered.wait()  # all five inside at once, or the barrier breaks

    threads = [threading.Thread(target=handler) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert not entered.broken


@pytest.fixture
def config_overrides():
    return {"SOCKET_HANDLERS_AT_ONCE": 1}


@pytest.mark.parametrize("what", ["connect", "event"])
def test_connects_and_events_wait_for_the_gate(app, socket_for, alice, what):
    """With the one turn taken, a connect or an event does not run until it is given back."""
    sock = socket_for(alice) if what == "event" else None
    slots = app.extensions["socket_gate"]
    slots.acquire()
    done = threading.Event()
    result = {}

    def client():
        if what == "event":
            result["ack"] = sock.emit("join", {"room": "general-nope"}, callback=True)
        else:
            result["sock"] = socket_for(alice)
        done.set()

    thread = threading.Thread(target=client)
    thread.start()
    try:
        assert not done.wait(0.5), "the handler ran while the gate was shut"
    finally:
        slots.release()
    assert done.wait(5)
    thread.join(5)
    if what == "event":
        assert_error_ack(result["ack"], "not_found")  # the join ran: no such room
    else:
        assert result["sock"].is_connected()


def test_an_event_whose_socket_closed_while_it_waited_does_nothing(
    app, socket_for, make_room, alice, bob, client
):
    make_room(alice, "later")
    sock = socket_for(bob)
    slots = app.extensions["socket_gate"]
    slots.acquire()
    thread = threading.Thread(
        target=lambda: sock.emit("join", {"room": "later"}, callback=True), daemon=True
    )
    thread.start()
    time.sleep(0.3)  # the join waits for the gate
    sock.disconnect()
    slots.release()
    thread.join(5)
    members = client.get("/api/rooms/later/members", headers=alice.headers).get_json()["members"]
    assert [m["user"]["username"] for m in members] == ["alice"]  # bob's join never ran


def test_a_connect_whose_connection_closed_while_it_waited_is_refused_and_leaves_nothing(
    app, socket_for, alice
):
    from app.realtime import sessions
    from app.realtime.presence import presence
    from app.realtime.server import socketio

    server = socketio.server
    before = set(server.environ)
    slots = app.extensions["socket_gate"]
    slots.acquire()
    result = {}
    thread = threading.Thread(target=lambda: result.update(sock=socket_for(alice)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not set(server.environ) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    [eio_sid] = set(server.environ) - before  # the connect waiting at the gate
    time.sleep(0.1)
    server._handle_eio_disconnect(eio_sid, "transport close")  # its connection closes
    slots.release()
    thread.join(5)
    assert not result["sock"].is_connected()
    with app.app_context():
        assert presence.online_user_ids([alice.user["id"]]) == set()
    assert not [uid for uid, _ in sessions._open.values() if uid == alice.user["id"]]
