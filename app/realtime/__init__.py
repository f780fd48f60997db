"""Everything about sockets: event handlers (events), what the domain's
announcements become on the wire (broadcast), who is online and its heartbeat
(presence), the Redis message queue (queue), and the worker's start and drain
(lifecycle). The channel names are spelled here only."""


def room_channel(room_name: str) -> str:
    """The Socket.IO room a chat room's live events go to."""
    return f"room:{room_name}"


def user_channel(user_id: int) -> str:
    """The Socket.IO room every socket of one user is in."""
    return f"user:{user_id}"
