"""The domain operations REST and Socket.IO both call: one place for the rules.

Each operation authorises, changes state, commits, and then hands the result
to the broadcast helpers, so a change made through REST reaches Socket.IO
clients exactly as one made through Socket.IO does.
"""
from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from app import auth, metrics
from app.errors import ApiError
from app.extensions import db
from app.models import Membership, Message, Room, User, utcnow
from app.ratelimit import check_send_allowed
from app.realtime import broadcast
from app.realtime.presence import presence
from app.schemas import DM_PREFIX, ID_MAX

USER_SEARCH_LIMIT = 20


# --- users ------------------------------------------------------------------

def _add_unique(obj, taken, conflict_message):
    """Adds and commits a row with a unique name, or raises conflict (also on a race)."""
    if db.session.scalar(taken) is not None:
        raise ApiError("conflict", conflict_message)
    db.session.add(obj)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError("conflict", conflict_message) from None
    return obj


def register(username, password, display_name=None):
    user = User(username=username, display_name=(display_name or username).strip(),
                password_hash=auth.hash_password(password))
    _add_unique(user, select(User.id).where(User.username == username),
                f"The username {username!r} is taken.")
    return user, auth.issue_token(user)


def login(username, password):
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if not auth.password_matches(user, password):
        raise ApiError("unauthorized", "Wrong username or password.")
    return user, auth.issue_token(user)


def find_user(username):
    # A name from the URL may hold NUL, which PostgreSQL refuses in a query; no
    # username has one.
    user = None if "\x00" in username else db.session.scalar(
        select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise ApiError("not_found", f"No user named {username!r}.")
    return user


def search_users(prefix):
    prefix = prefix.strip().lower()
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = select(User).order_by(User.username).limit(USER_SEARCH_LIMIT)
    if prefix:
        query = query.where(User.username.like(escaped + "%", escape="\\"))
    return db.session.scalars(query).all()


# --- rooms ------------------------------------------------------------------

def membership(user, room):
    return db.session.get(Membership, (room.id, user.id))


def visible_room(user, name):
    """The room if the user may see it; 404 for a missing or a foreign private room."""
    room = None if "\x00" in name else db.session.scalar(select(Room).where(Room.name == name))
    if room is None or (room.private and membership(user, room) is None):
        raise ApiError("not_found", f"No room named {name!r}.")
    return room


def member_room(user, name):
    """The room and the user's membership; 404 as visible_room, 403 for a non-member."""
    room = visible_room(user, name)
    member = membership(user, room)
    if member is None:
        raise ApiError("forbidden", f"Join {name!r} first.")
    return room, member


def _member_counts(room_ids):
    rows = db.session.execute(
        select(Membership.room_id, func.count()).where(Membership.room_id.in_(room_ids))
        .group_by(Membership.room_id))
    return dict(rows.all())


def _unread_counts(user, memberships):
    """Messages by others after each membership's last read message, per room."""
    if not memberships:
        return {}
    conditions = [and_(Message.room_id == m.room_id, Message.id > (m.last_read_id or 0))
                  for m in memberships]
    rows = db.session.execute(
        select(Message.room_id, func.count())
        .where(or_(*conditions), Message.author_id != user.id, Message.deleted_at.is_(None))
        .group_by(Message.room_id))
    return dict(rows.all())


def _dm_peers(user, rooms):
    dm_ids = [r.id for r in rooms if r.kind == "dm"]
    if not dm_ids:
        return {}
    rows = db.session.execute(
        select(Membership.room_id, User).join(User, User.id == Membership.user_id)
        .where(Membership.room_id.in_(dm_ids), Membership.user_id != user.id))
    return {room_id: peer for room_id, peer in rows.all()}


def _dm_peer_from_name(user, room):
    # Either member may have left; the name still says who the two people are.
    names = room.name[len(DM_PREFIX):].split("-")
    other = next((n for n in names if n != user.username), user.username)
    return db.session.scalar(select(User).where(User.username == other))


def room_views(user, rooms):
    """Rooms as the user sees them: counts, membership, unread, DM peer."""
    ids = [r.id for r in rooms]
    counts = _member_counts(ids)
    mine = {m.room_id: m for m in db.session.scalars(
        select(Membership).where(Membership.user_id == user.id, Membership.room_id.in_(ids)))}
    unread = _unread_counts(user, list(mine.values()))
    peers = _dm_peers(user, rooms)
    views = []
    for room in rooms:
        view = {"id": room.id, "name": room.name, "title": room.title,
                "private": room.private, "kind": room.kind, "created_at": room.created_at,
                "member_count": counts.get(room.id, 0), "member": room.id in mine}
        if room.id in mine:
            view["unread"] = unread.get(room.id, 0)
            view["last_read_id"] = mine[room.id].last_read_id
        if room.kind == "dm":
            view["peer"] = peers.get(room.id) or _dm_peer_from_name(user, room)
        views.append(view)
    return views


def room_view(user, room):
    return room_views(user, [room])[0]


def list_rooms(user):
    mine = select(Membership.room_id).where(Membership.user_id == user.id)
    rooms = db.session.scalars(
        select(Room).where(or_(Room.kind == "public", Room.id.in_(mine))).order_by(Room.name))
    return room_views(user, rooms.all())


def create_room(user, name, title="", private=False):
    room = Room(name=name, title=title.strip(), kind="private" if private else "public")
    room.memberships.append(Membership(user_id=user.id))
    return _add_unique(room, select(Room.id).where(Room.name == name),
                       f"A room named {name!r} already exists.")


def _add_member(room, user):
    """Adds a membership if missing; True if it was added. Commits."""
    if membership(user, room) is not None:
        return False
    db.session.add(Membership(room_id=room.id, user_id=user.id))
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent join won; the user is a member either way
        db.session.rollback()
        return False
    broadcast.member_added(room, user)
    return True


def join_room(user, name):
    """Join a public room; for a room the user is already in, nothing changes."""
    room = visible_room(user, name)
    _add_member(room, user)
    return room


def add_member(user, name, username):
    """A member of a private room adds someone to it."""
    room, _ = member_room(user, name)
    if room.kind == "dm":
        raise ApiError("forbidden", "A direct message has exactly two people.")
    if room.kind == "public":
        raise ApiError("forbidden", "People join public rooms themselves.")
    other = find_user(username)
    _add_member(room, other)
    return room


def leave_room(user, name):
    room = visible_room(user, name)
    member = membership(user, room)
    if member is not None:
        db.session.delete(member)
        db.session.commit()
        broadcast.member_left(room, user)


def list_members(user, name):
    room = visible_room(user, name)
    users = db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room.id).order_by(User.username)).all()
    try:
        online = presence.online_user_ids([u.id for u in users])
    except RedisError:
        raise ApiError("unavailable", "Presence is unavailable right now; try again shortly.",
                       headers={"Retry-After": "2"}) from None
    return [{"user": u, "online": u.id in online} for u in users]


def dm_name(a, b):
    first, second = sorted([a.username, b.username])
    return f"{DM_PREFIX}{first}-{second}"


def get_or_create_dm(user, username):
    other = find_user(username)
    if other.id == user.id:
        raise ApiError("bad_request", "You cannot start a direct message with yourself.")
    name = dm_name(user, other)
    room = db.session.scalar(select(Room).where(Room.name == name))
    if room is None:
        room = Room(name=name, title="", kind="dm")
        room.memberships.extend([Membership(user_id=user.id), Membership(user_id=other.id)])
        db.session.add(room)
        try:
            db.session.commit()
            broadcast.member_added(room, user)
            broadcast.member_added(room, other)
            return room
        except IntegrityError:  # created concurrently by the other person
            db.session.rollback()
            room = db.session.scalar(select(Room).where(Room.name == name))
    _add_member(room, user)
    _add_member(room, other)
    return room


# --- messages ---------------------------------------------------------------

def history(user, name, before=None, after=None, limit=50):
    """A page of messages, oldest first.

    With `after`, the oldest `limit` messages after it (and before `before`, if
    given); has_more says newer ones remain. Otherwise the newest `limit`
    messages before `before` (or the newest of all); has_more says older remain.
    """
    room, _ = member_room(user, name)
    return messages_page(room, before=before, after=after, limit=limit)


def messages_page(room, before=None, after=None, limit=50):
    query = select(Message).where(Message.room_id == room.id)
    if before is not None:
        query = query.where(Message.id < before)
    if after is not None:
        query = query.where(Message.id > after).order_by(Message.id.asc())
    else:
        query = query.order_by(Message.id.desc())
    rows = db.session.scalars(query.limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after is None:
        rows.reverse()
    return rows, has_more


def sync(user, name, after, limit=100):
    room, _ = member_room(user, name)
    return messages_page(room, after=after, limit=limit)


def _lock_room(room):
    """Serialise sends to one room, so ids follow commit order (see DESIGN.md)."""
    db.session.execute(select(Room.id).where(Room.id == room.id).with_for_update())


def _existing_send(user, room, client_id):
    if client_id is None:
        return None
    return db.session.scalar(select(Message).where(
        Message.room_id == room.id, Message.author_id == user.id,
        Message.client_id == client_id))


def _commit_keeping_loaded():
    """Commit without expiring what the session holds.

    The INSERT sets every column of the new message and its room and author are
    loaded already, so the broadcast and the reply are shaped from them as they
    are instead of being read back after the commit: per send, that saves a
    pool checkout with its ping, a BEGIN, three SELECTs and a ROLLBACK
    (docs/performance.md).
    """
    session = db.session()
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous


def send_message(user, name, body, client_id=None):
    """Store a message, then broadcast it. Returns (message, created)."""
    room, _ = member_room(user, name)
    existing = _existing_send(user, room, client_id)
    if existing is not None:
        return existing, False
    check_send_allowed(user.id)
    _lock_room(room)
    existing = _existing_send(user, room, client_id)
    if existing is not None:
        db.session.rollback()
        return existing, False
    message = Message(room_id=room.id, author_id=user.id, body=body, client_id=client_id)
    db.session.add(message)
    try:
        _commit_keeping_loaded()
    except IntegrityError:
        db.session.rollback()
        existing = _existing_send(user, room, client_id)
        if existing is None:
            raise
        return existing, False
    metrics.MESSAGES_SENT.inc()
    broadcast.message_created(message)
    return message, True


def _own_message(user, message_id):
    message = db.session.get(Message, message_id) if message_id <= ID_MAX else None
    if message is None:
        raise ApiError("not_found", f"No message {message_id}.")
    room = message.room
    if room.private and membership(user, room) is None:
        raise ApiError("not_found", f"No message {message_id}.")
    if message.author_id != user.id:
        raise ApiError("forbidden", "Only the author may change a message.")
    return message


def edit_message(user, message_id, body):
    message = _own_message(user, message_id)
    if message.deleted:
        raise ApiError("conflict", "The message was deleted; it cannot be edited.")
    if message.body != body:
        message.body = body
        message.edited_at = utcnow()
        db.session.commit()
        broadcast.message_edited(message)
    return message


def delete_message(user, message_id):
    message = _own_message(user, message_id)
    if not message.deleted:
        message.deleted_at = utcnow()
        message.body = ""
        db.session.commit()
        broadcast.message_deleted(message)
    return message


def mark_read(user, name, message_id):
    """Move the user's read marker forward to message_id (never back)."""
    room, member = member_room(user, name)
    found = db.session.scalar(select(Message.id).where(
        Message.id == message_id, Message.room_id == room.id))
    if found is None:
        raise ApiError("validation_error", "The request has invalid fields.",
                       fields={"message_id": f"No message {message_id} in {name!r}."})
    if member.last_read_id is not None and member.last_read_id >= message_id:
        return False
    member.last_read_id = message_id
    db.session.commit()
    broadcast.read(room, user, message_id)
    return True


def set_typing(user, name, typing, skip_sid=None):
    room, _ = member_room(user, name)
    broadcast.typing(room, user, typing, skip_sid=skip_sid)
