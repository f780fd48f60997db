"""The rooms of each socket, kept beside python-socketio's rooms of each namespace.

python-socketio's base Manager keeps one map per namespace: room -> sockets.
It has no map the other way, so a disconnect (`basic_disconnect`) and
`get_rooms` look at every room of the namespace to find the socket's. On an
instance every socket has two rooms of its own (its sid's and its user's
channel) besides the chat rooms, so with 12,500 sockets a single disconnect
copied and searched some 35,000 rooms: about a third of a survivor's CPU in a
reconnect storm, where every client that gives up waiting closes a socket.

RoomIndex overrides the Manager's `basic_enter_room`, `basic_leave_room`,
`basic_disconnect` and `get_rooms` (python-socketio is pinned in
requirements.txt) to keep socket -> rooms as well, so a disconnect leaves just
its socket's rooms. Every change to the rooms goes through `basic_enter_room`
and `basic_leave_room` (the Manager's `basic_close_room` and the queues'
remote enter and leave call them too), so the two maps cannot drift apart.
The Manager also keeps the sockets of a namespace whose connect handler has
not returned yet (and those whose disconnect is under way) in a list, which
`is_connected` searches for every event: in a storm a survivor holds thousands
of connects waiting for their turn (app/realtime/gate.py), and each search
walked them all. `pre_connect` and `pre_disconnect` (and the sharded queue's
own `pre_connect`) give the Manager a SidSet instead: the list's append and
remove, and a sid found without a search.

ChatManager is the in-process manager (no REDIS_URL) with the index;
redis_queue's and classic_redis_queue's managers put RoomIndex first in their
bases. tests/unit/test_room_index.py checks it against the Manager's own
answers.
"""

from typing import Any

from socketio.manager import Manager


class SidSet(dict[str, None]):
    """The sids python-socketio keeps in a list per namespace: the list's
    `append` and `remove` (the Manager checks `in` first), `in` and `len`
    without a search."""

    def append(self, sid: str) -> None:
        self[sid] = None

    def remove(self, sid: str) -> None:
        del self[sid]


class RoomIndex:
    """socket -> rooms beside the Manager's room -> sockets, per namespace."""

    rooms: dict[str, dict[Any, Any]]  # the Manager's
    callbacks: dict[str, Any]
    pending_connect: dict[str, Any]
    pending_disconnect: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # (namespace, sid) -> its rooms, in the order it entered them (a dict as
        # an ordered set: the room None, its sid's room, then the others).
        self.rooms_of: dict[tuple[str, str], dict[Any, None]] = {}
        super().__init__(*args, **kwargs)

    def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        self.pending_connect.setdefault(namespace, SidSet())
        return super().pre_connect(eio_sid, namespace)  # type: ignore[misc]

    def pre_disconnect(self, sid: str, namespace: str) -> str | None:
        self.pending_disconnect.setdefault(namespace, SidSet())
        return super().pre_disconnect(sid, namespace)  # type: ignore[misc]

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self.rooms_of.setdefault((namespace, sid), {})[room] = None

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        rooms = self.rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self.rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """As the Manager's, leaving only the socket's own rooms."""
        if namespace not in self.rooms:
            return
        rooms = self.rooms_of.pop((namespace, sid), {})
        # The room None last: it maps the sid to its Engine.IO session, which a
        # subclass's leave may still look up.
        for room in [r for r in rooms if r is not None]:
            self.basic_leave_room(sid, namespace, room)
        if None in rooms:
            self.basic_leave_room(sid, namespace, None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        """The rooms a socket is in (not the room None), as the Manager's."""
        return [room for room in self.rooms_of.get((namespace, sid), ()) if room is not None]


class ChatManager(RoomIndex, Manager):
    """python-socketio's in-process manager with the socket -> rooms index."""
