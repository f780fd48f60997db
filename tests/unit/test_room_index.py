"""The managers' socket -> rooms index (app/library_hooks/room_index.py), against
python-socketio's own Manager driven through the same steps, on real Socket.IO
servers."""

import random

import pytest
import socketio
from socketio.manager import Manager

from app.library_hooks.room_index import ChatManager


def server_with(manager):
    socketio.Server(client_manager=manager)  # sets the manager's server
    return manager


def rooms_of(manager, namespace):
    """room -> {sid: eio_sid}, as plain dicts to compare."""
    return {room: dict(sids) for room, sids in manager.rooms.get(namespace, {}).items()}


def test_a_random_walk_leaves_the_same_rooms_as_the_library_manager():
    ours, theirs = server_with(ChatManager()), server_with(Manager())
    rng = random.Random(7)
    namespaces = ["/", "/other"]
    sockets: dict[tuple[str, str], tuple[str, str]] = {}  # (ns, eio_sid) -> (our sid, theirs)
    rooms = [f"room-{i}" for i in range(12)]
    for step in range(3000):
        ns = rng.choice(namespaces)
        action = rng.random()
        live = [key for key in sockets if key[0] == ns]
        if action < 0.25 or not live:
            eio_sid = f"eio-{step}"
            sockets[(ns, eio_sid)] = (ours.connect(eio_sid, ns), theirs.connect(eio_sid, ns))
        elif action < 0.6:
            mine, other = sockets[rng.choice(live)]
            room = rng.choice(rooms)
            ours.enter_room(mine, ns, room)
            theirs.enter_room(other, ns, room)
        elif action < 0.85:
            mine, other = sockets[rng.choice(live)]
            room = rng.choice(rooms)  # often a room the socket is not in
            ours.leave_room(mine, ns, room)
            theirs.leave_room(other, ns, room)
        elif action < 0.9:
            room = rng.choice(rooms)
            ours.close_room(room, ns)
            theirs.close_room(room, ns)
        else:
            key = rng.choice(live)
            mine, other = sockets.pop(key)
            ours.disconnect(mine, ns)
            theirs.disconnect(other, ns)
        for n in namespaces:
            # The two managers name sockets differently: compare through eio sids.
            by_eio = {
                room: sorted(sids.values())
                for room, sids in rooms_of(ours, n).items()
                if room is None or room in rooms
            }
            want = {
                room: sorted(sids.values())
                for room, sids in rooms_of(theirs, n).items()
                if room is None or room in rooms
            }
            assert by_eio == want, f"step {step}"
        for (n, _eio), (mine, other) in sockets.items():
            assert sorted(r for r in ours.get_rooms(mine, n) if r != mine) == sorted(
                r for r in theirs.get_rooms(other, n) if r != other
            )
            assert ours.get_rooms(mine, n)[0] == mine  # its own room first
    for n in namespaces:
        for (m, _eio), (mine, _other) in list(sockets.items()):
            if m == n:
                ours.disconnect(mine, n)
    assert ours.rooms == {} and ours.rooms_of == {}


class NoScans(dict):
    """A namespace's rooms that fail any walk over them."""

    def _walked(self, *args, **kwargs):
        raise AssertionError("the namespace's rooms were walked")

    copy = items = keys = values = __iter__ = _walked


@pytest.mark.parametrize("queue", ["in-process", "sharded", "classic"])
def test_a_disconnect_leaves_its_own_rooms_without_walking_the_others(queue):
    from app import library_hooks

    url = None if queue == "in-process" else "redis://127.0.0.1:1/0"  # never connected
    manager = server_with(library_hooks.queue_manager(url, queue if url else "sharded"))
    sids = [manager.connect(f"eio-{i}", "/") for i in range(50)]
    for i, sid in enumerate(sids):
        manager.enter_room(sid, "/", f"user:{i}")
        manager.enter_room(sid, "/", "lobby")
    manager.rooms["/"] = NoScans(manager.rooms["/"])
    manager.callbacks[sids[0]] = {1: print}
    manager.disconnect(sids[0], "/", ignore_queue=True)
    assert "user:0" not in manager.rooms["/"]
    assert sids[0] not in manager.rooms["/"]["lobby"] and len(manager.rooms["/"]["lobby"]) == 49
    assert manager.eio_sid_from_sid(sids[0], "/") is None
    assert sids[0] not in manager.callbacks
    assert manager.get_rooms(sids[1], "/") == [sids[1], "user:1", "lobby"]


@pytest.mark.parametrize("queue", ["in-process", "sharded", "classic"])
def test_sockets_whose_connect_is_under_way_are_found_without_a_search(queue):
    """Thousands of connects wait for their turn in a storm, and every event asks
    whether its socket is connected: the Manager's own list of them was searched
    each time; a SidSet is a dict."""
    from app import library_hooks

    url = None if queue == "in-process" else "redis://127.0.0.1:1/0"  # never connected
    manager = server_with(library_hooks.queue_manager(url, queue if url else "sharded"))
    pending = [manager.pre_connect(f"eio-{i}", "/") for i in range(50)]
    connected = manager.connect("eio-x", "/")
    assert isinstance(manager.pending_connect["/"], dict)
    assert not manager.is_connected(pending[7], "/")
    assert manager.is_pre_connected(pending[7], "/")
    assert manager.is_connected(connected, "/")
    manager.connect(pending[7], "/")  # its connect handler accepted it
    assert manager.is_connected(pending[7], "/")
    assert pending[7] not in manager.pending_connect["/"]
    assert len(manager.pending_connect["/"]) == 49
    manager.pre_disconnect(connected, "/")
    assert isinstance(manager.pending_disconnect["/"], dict)
    assert not manager.is_connected(connected, "/")
    manager.disconnect(connected, "/", ignore_queue=True)
    assert "/" not in manager.pending_disconnect
    for sid in pending:  # refused or gone before their connect ended
        manager.disconnect(sid, "/", ignore_queue=True)
    assert "/" not in manager.pending_connect
