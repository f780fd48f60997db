"""How the domain says what happened: the one way out of app/chat.

Each operation commits, then announces the change here (a message created,
edited or deleted; a member added or gone; a read marker moved; someone
typing) and asks here who is online. The domain never talks to sockets, Redis
or presence itself: create_app() installs the realtime layer's listener
(app/realtime/broadcast.py) for its app; an app without one tells nobody.
"""

from flask import current_app

EXTENSION_KEY = "chat.listener"


class Listener:
    """What the domain announces and asks; this base tells nobody and sees no one online."""

    def message_created(self, message, repeat=False, shaped=None):
        """A new message was stored; or, with `repeat`, a send repeated with its
        client_id found it stored, and it goes out now only if its first
        announcement never did (its instance died in between). Returns whether
        it went out. `shaped`: the message as the sender's reply shows it (None:
        not shaped yet), for the listener to send as it is."""
        return not repeat

    def message_edited(self, message):
        """Its author changed a message's body."""

    def message_deleted(self, message):
        """Its author deleted a message (it keeps its id, with an empty body)."""

    def member_added(self, room, user):
        """A user became a member of a room (created or joined it, was added, a DM
        was opened)."""

    def member_left(self, room, user):
        """A user left a room."""

    def mentioned(self, user, message, shaped=None):
        """A message (new, or edited) newly mentions a user who may read its room
        (`shaped`, as in message_created)."""

    def reactions_changed(self, message):
        """A message's reactions changed (one was added or taken back)."""

    def read(self, room, user, message_id):
        """A user's read marker moved forward to message_id."""

    def typing(self, room, user, typing, origin=None):
        """A user started or stopped typing; `origin`, the socket that said so, is not told."""

    def online_user_ids(self, user_ids):
        """Those of user_ids online anywhere; may raise ApiError(unavailable)."""
        return set()


_NOBODY = Listener()


def init_app(app, listener):
    """Installs the listener the app's domain operations announce to."""
    app.extensions[EXTENSION_KEY] = listener


def listener():
    """The listener of the current app, or one that tells nobody."""
    return current_app.extensions.get(EXTENSION_KEY) or _NOBODY
