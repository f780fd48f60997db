"""Socket.IO: event handlers, presence, and the broadcast helpers REST uses too."""


def room_channel(room):
    """The Socket.IO room a chat room's live events go to."""
    return f"room:{room.name}"


def user_channel(user_id):
    return f"user:{user_id}"
