"""How the domain says what happened: the one way out of app/chat.

Each operation commits, then announces the change here (a message created,
edited or deleted; a thread's size; a member's own room settings; a member added or gone; a read marker moved; someone
typing) and asks here who is online. The domain never talks to sockets, Redis
or presence itself: create_app() installs the realtime layer's listener
(app/realtime/broadcast.py) for its app; an app without one tells nobody.
"""

from collections.abc import Collection
from typing import Any

from flask import Flask, current_app

from app.models import Message, Room, User

EXTENSION_KEY = "chat.listener"


class Listener:
    """What the domain announces and asks; this base tells nobody and sees no one online."""

    def message_created(
        self, message: Message, repeat: bool = False, shaped: dict[str, Any] | None = None
    ) -> bool:
        """A new message was stored; or, with `repeat`, a send repeated with its
        client_id found it stored, and it goes out now only if its first
        announcement never did (its instance died in between). Returns whether
        it went out. `shaped`: the message as the sender's reply shows it (None:
        not shaped yet), for the listener to send as it is."""
        return not repeat

    def message_edited(self, message: Message) -> None:
        """Its author changed a message's body."""

    def message_deleted(self, message: Message) -> None:
        """Its author deleted a message (it keeps its id, with an empty body)."""

    def member_added(self, room: Room, user: User) -> None:
        """A user became a member of a room (created or joined it, was added, a DM
        was opened)."""

    def member_left(self, room: Room, user: User) -> None:
        """A user left a room."""

    def member_removed(self, room: Room, user: User, reason: str) -> None:
        """An owner or admin removed a user from a room (`reason`: kicked or
        banned). Returns once the user's sockets on every instance have stopped
        getting the room's events."""

    def room_updated(self, room: Room, user: User | None = None) -> None:
        """The room's title or topic changed (user None: told to its members), or
        `user`'s own role in it did (told to that user)."""

    def pinned(self, message: Message) -> None:
        """A message was pinned or unpinned (message.pinned says which)."""

    def sessions_ended(self, user: User, reason: str) -> None:
        """Every token of the user issued so far stopped working (a bot's token
        rotated or the bot deleted, a user deactivated): close their sockets on
        every instance now."""

    def mentioned(self, user: User, message: Message, shaped: dict[str, Any] | None = None) -> None:
        """A message (new, or edited) newly mentions a user who may read its room
        (`shaped`, as in message_created)."""

    def reactions_changed(self, message: Message) -> None:
        """A message's reactions changed (one was added or taken back)."""

    def thread_changed(self, parent: Message) -> None:
        """A message's thread changed: a reply was sent or one was deleted
        (`parent.thread` is its new size and newest reply time, None once empty)."""

    def settings_changed(self, room: Room, user: User) -> None:
        """A member changed their own settings for a room (muted)."""

    def read(self, room: Room, user: User, message_id: int) -> None:
        """A user's read marker moved forward to message_id."""

    def typing(self, room: Room, user: User, typing: bool, origin: str | None = None) -> None:
        """A user started or stopped typing; `origin`, the socket that said so, is not told."""

    def online_user_ids(self, user_ids: Collection[int]) -> set[int]:
        """Those of user_ids online anywhere; may raise ApiError(unavailable)."""
        return set()


_NOBODY = Listener()


def init_app(app: Flask, listener: Listener) -> None:
    """Installs the listener the app's domain operations announce to."""
    app.extensions[EXTENSION_KEY] = listener


def listener() -> Listener:
    """The listener of the current app, or one that tells nobody."""
    return current_app.extensions.get(EXTENSION_KEY) or _NOBODY
