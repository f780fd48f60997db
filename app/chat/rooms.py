"""Rooms and direct messages: who may see a room, who is in it, joining and leaving.

Rules here: a room's name (ROOM_NAME_PATTERN); a private room or DM is
invisible (404) to non-members; members add people to private rooms, people
join public rooms themselves; a DM has exactly two people and the name
`dm-<a>-<b>` (the two usernames sorted), a prefix no other room may take
(usernames have no hyphen, so a DM's name always says who its two people are);
a private room created without a name gets one the server chooses, `p-` and
random characters, a prefix nobody may create a name with either (so that
nobody can probe for such a name or take one first); a member's own settings
(muted) are theirs to change.
"""

import secrets
import string
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError

from app.chat import audit, notify
from app.chat.accounts import find_user, user_named
from app.chat.transactions import add_unique
from app.errors import ApiError
from app.extensions import db
from app.library_hooks import detached
from app.models import Ban, Membership, Message, Room, User
from app.ratelimit import check_allowed

# \Z, not $: "$" also matches before a final line break ("general\n").
ROOM_NAME_PATTERN = r"^[a-z0-9_-]{1,64}\Z"
DM_PREFIX = "dm-"
# A private room named by the server: the prefix and SERVER_NAME_LENGTH characters
# drawn at random from a-z and 0-9, 36**22 (about 2**113) names, too many to guess.
SERVER_NAMED_PREFIX = "p-"
SERVER_NAME_ALPHABET = string.ascii_lowercase + string.digits
SERVER_NAME_LENGTH = 22
# Names nobody may choose (app/schemas.py's NEW_ROOM_NAME refuses them).
RESERVED_PREFIXES = (DM_PREFIX, SERVER_NAMED_PREFIX)


# --- direct message names -----------------------------------------------------


def dm_name(a: User, b: User) -> str:
    first, second = sorted([a.username, b.username])
    return f"{DM_PREFIX}{first}-{second}"


def server_chosen_name() -> str:
    """A new name for a private room named by the server (unguessable)."""
    random_part = "".join(secrets.choice(SERVER_NAME_ALPHABET) for _ in range(SERVER_NAME_LENGTH))
    return SERVER_NAMED_PREFIX + random_part


def dm_peer_from_name(user: User, room: Room) -> User | None:
    """The other person of a DM, read from its name (either may have left)."""
    names = room.name[len(DM_PREFIX) :].split("-")
    return user_named(next((n for n in names if n != user.username), user.username))


# --- seeing rooms -------------------------------------------------------------


def membership(user: User, room: Room) -> Membership | None:
    return db.session.get(Membership, (room.id, user.id))


# Built once, run with each call's values: building the statement cost more
# Python than running it.
_ROOM_AND_MEMBERSHIP = (
    select(Room, Membership)
    .outerjoin(
        Membership, and_(Membership.room_id == Room.id, Membership.user_id == bindparam("user_id"))
    )
    .where(Room.name == bindparam("name"))
)


def _room_row(query: Select, name: str, **values: Any):
    """The first row of a query for the room named `name`, or None."""
    if "\x00" in name:  # a name from the URL may hold NUL, which PostgreSQL refuses
        return None
    return db.session.execute(query, {"name": name, **values}).first()


def _room_and_membership(user: User, name: str):
    """The room named `name` and the user's membership of it (None if not a member),
    in one query."""
    row = _room_row(_ROOM_AND_MEMBERSHIP, name, user_id=user.id)
    return (row[0], row[1]) if row is not None else (None, None)


def _visible(room: Room | None, member: object, name: str):
    if room is None or (room.private and member is None):
        raise ApiError("not_found", f"No room named {name!r}.")
    return room


def visible_room(user: User, name: str) -> Room:
    """The room if the user may see it; 404 for a missing or a foreign private room."""
    room, member = _room_and_membership(user, name)
    return _visible(room, member, name)


def member_room(user: User, name: str) -> tuple[Room, Membership]:
    """The room and the user's membership; 404 as visible_room, 403 for a non-member
    (a send takes the room's lock with the same checks: room_for_send)."""
    room, member = _room_and_membership(user, name)
    return _require_member(room, member, name)


def _require_member(room: Room | None, member: object, name: str, locked: bool = False):
    if member is None:
        visible = room is not None and not room.private
        if locked:
            db.session.rollback()  # no lock held past a refusal
        _visible(room if visible else None, member, name)
        raise ApiError("forbidden", f"Join {name!r} first.")
    return room, member


# A send's first statement: the room's columns, whether the user is a member, the
# id of the message the same author already sent there with the same client_id,
# if any, and the room's row locked until the transaction ends, so that sends to
# one room serialise on it (ids follow commit order).
# Plain columns, not entities: loading a Room and a Membership through the ORM
# cost more Python than the statement itself.
_ROOMS, _MEMBERS = Room.__table__, Membership.__table__
_EARLIER = Message.__table__.alias("earlier")
_ROOM_FOR_SEND = (
    select(*_ROOMS.c, _MEMBERS.c.user_id.label("member_id"), _EARLIER.c.id.label("earlier_id"))
    .select_from(
        _ROOMS.outerjoin(
            _MEMBERS,
            and_(_MEMBERS.c.room_id == _ROOMS.c.id, _MEMBERS.c.user_id == bindparam("user_id")),
        ).outerjoin(
            _EARLIER,
            and_(
                _EARLIER.c.room_id == _ROOMS.c.id,
                _EARLIER.c.author_id == bindparam("user_id"),
                _EARLIER.c.client_id == bindparam("client_id"),
            ),
        )
    )
    .where(_ROOMS.c.name == bindparam("name"))
    .with_for_update(of=_ROOMS)
)
_ROOM_COLUMNS = tuple(column.key for column in _ROOMS.c)


def room_for_send(user: User, name: str, client_id: str | None) -> tuple[Any, int | None]:
    """(room, id of the earlier send with this client_id or None), the room's row
    locked; refused as member_room. The room is built from the row, outside the
    session (nothing of it is read later). The earlier send is looked up in the
    statement's snapshot: one committed by a send that held the lock while this
    one waited is not seen, and the INSERT's unique key then finds it
    (app/chat/messages.py)."""
    row = _room_row(_ROOM_FOR_SEND, name, user_id=user.id, client_id=client_id)
    room = None if row is None else detached(Room, dict(zip(_ROOM_COLUMNS, row)))
    _require_member(room, None if row is None else row.member_id, name, locked=True)
    return room, row.earlier_id


def is_moderator(user: User, room: Any) -> bool:
    """An owner or admin of the room (a DM has none)."""
    if room.kind == "dm":
        return False
    member = membership(user, room)
    return member is not None and member.role in audit.MODERATOR_ROLES


def is_banned(user: User, room: Any) -> bool:
    return db.session.get(Ban, (room.id, user.id)) is not None


def refuse_if_banned(user: User, room: Any) -> None:
    if is_banned(user, room):
        raise ApiError("forbidden", f"{user.username!r} is banned from {room.name!r}.")


def lock_room(room: Any) -> None:
    """Takes the room's row lock until the transaction ends: role changes, removals
    and an owner's succession serialise on it (as sends do)."""
    db.session.execute(select(Room.id).where(Room.id == room.id).with_for_update())


def visible_rooms(user: User) -> Sequence[Room]:
    """Public rooms and the rooms the user is in, by name."""
    mine = select(Membership.room_id).where(Membership.user_id == user.id)
    return db.session.scalars(
        select(Room).where(or_(Room.kind == "public", Room.id.in_(mine))).order_by(Room.name)
    ).all()


# Built once, of plain columns: every Socket.IO connect and disconnect runs it
# (presence).
_ROOM_NAMES_OF = (
    select(_ROOMS.c.name)
    .join(_MEMBERS, _MEMBERS.c.room_id == _ROOMS.c.id)
    .where(_MEMBERS.c.user_id == bindparam("user_id"))
)


def room_names_of(user_id: int) -> Sequence[str]:
    """The names of the rooms a user is a member of."""
    return db.session.scalars(_ROOM_NAMES_OF, {"user_id": user_id}).all()


# A room's members counted up to one past the limit at most: a room of 10,000
# costs the same look as a room of limit + 1.
_COUNTED = _MEMBERS.alias("counted")
_FIRST_MEMBERS = (
    select(_COUNTED.c.user_id)
    .where(_COUNTED.c.room_id == _ROOMS.c.id)
    .limit(bindparam("over"))
    .correlate(_ROOMS)
    .subquery()
)
_SMALL_ROOM_NAMES_OF = _ROOM_NAMES_OF.where(
    select(func.count()).select_from(_FIRST_MEMBERS).scalar_subquery() <= bindparam("most")
)


def small_room_names_of(user_id: int, most: int) -> Sequence[str]:
    """The names of the rooms a user is a member of that have at most `most`
    members (all of them when `most` is 0)."""
    if most <= 0:
        return room_names_of(user_id)
    return db.session.scalars(
        _SMALL_ROOM_NAMES_OF, {"user_id": user_id, "over": most + 1, "most": most}
    ).all()


# --- changing membership --------------------------------------------------------


def create_room(user: User, name: str | None, title: str = "", private: bool = False) -> Room:
    """Create a room; its creator is its owner. Without a name (a private room
    only: RoomCreateSchema refuses a public one), the server chooses it. Two equal
    server-chosen names are as unlikely as guessing one; the second would be a
    409 like any taken name."""
    check_allowed("create_room", user.id)
    if name is None:
        name = server_chosen_name()
    room = Room(name=name, title=title.strip(), kind="private" if private else "public")
    room.memberships.append(Membership(user_id=user.id, role="owner"))
    add_unique(
        room, select(Room.id).where(Room.name == name), f"A room named {name!r} already exists."
    )
    notify.listener().member_added(room, user)
    return room


def _add_member(room: Any, user: User):
    """Adds a membership if missing; True if it was added. Commits."""
    if membership(user, room) is not None:
        return False
    db.session.add(Membership(room_id=room.id, user_id=user.id))
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent join won; the user is a member either way
        db.session.rollback()
        return False
    notify.listener().member_added(room, user)
    return True


def join_room(user: User, name: str) -> Room:
    """Join a public room; for a room the user is already in, nothing changes.

    Whether the user is in it is read once, with the room: a leave committed
    after that read must not be undone by a second look (a private room has no
    member to add; a join racing its user's leave would have put them back)."""
    room, member = _room_and_membership(user, name)
    room = _visible(room, member, name)
    if member is None:  # so a public room: a private one was 404 above
        refuse_if_banned(user, room)
        _add_member(room, user)
    return room


def add_member(user: User, name: str, username: str) -> Room:
    """A member of a private room adds someone to it."""
    room, _ = member_room(user, name)
    if room.kind == "dm":
        raise ApiError("forbidden", "A direct message has exactly two people.")
    if room.kind == "public":
        raise ApiError("forbidden", "People join public rooms themselves.")
    other = find_user(username)
    refuse_if_banned(other, room)
    _add_member(room, other)
    return room


def _next_owner(room: Any) -> Membership | None:
    """The longest-standing admin, else the longest-standing member."""
    return db.session.scalar(
        select(Membership)
        .where(Membership.room_id == room.id)
        .order_by((Membership.role != "admin"), Membership.joined_at, Membership.user_id)
        .limit(1)
    )


def leave_room(user: User, name: str) -> None:
    """Leave a room; when its owner leaves, the longest-standing admin (else
    member) becomes owner, in the same transaction."""
    room = visible_room(user, name)
    lock_room(room)
    member = db.session.get(Membership, (room.id, user.id), populate_existing=True)
    if member is None:
        db.session.rollback()
        return
    successor = None
    db.session.delete(member)
    if member.role == "owner" and room.kind != "dm":
        db.session.flush()
        successor = _next_owner(room)
        if successor is not None:
            successor.role = "owner"
            audit.record(room, user, "owner_left", successor.user.username)
    db.session.commit()
    notify.listener().member_left(room, user)
    if successor is not None:
        notify.listener().room_updated(room, successor.user)


def update_settings(user: User, name: str, muted: bool) -> Room:
    """A member's own settings for a room (muted); announced to that user's
    every socket when something changed."""
    room, member = member_room(user, name)
    if member.muted != muted:
        member.muted = muted
        db.session.commit()
        notify.listener().settings_changed(room, user)
    return room


def list_members(user: User, name: str) -> list[dict[str, Any]]:
    room = visible_room(user, name)
    rows = db.session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room.id)
        .order_by(User.username)
    ).all()
    online = notify.listener().online_user_ids([u.id for u, _ in rows])
    return [{"user": u, "online": u.id in online, "role": r} for u, r in rows]


def get_or_create_dm(user: User, username: str) -> Any:
    other = find_user(username)
    if other.id == user.id:
        raise ApiError("forbidden", "You cannot start a direct message with yourself.")
    name = dm_name(user, other)
    room = db.session.scalar(select(Room).where(Room.name == name))
    if room is None:
        room = Room(name=name, title="", kind="dm")
        room.memberships.extend([Membership(user_id=user.id), Membership(user_id=other.id)])
        db.session.add(room)
        try:
            db.session.commit()
            notify.listener().member_added(room, user)
            notify.listener().member_added(room, other)
            return room
        except IntegrityError:  # created concurrently by the other person
            db.session.rollback()
            room = db.session.scalar(select(Room).where(Room.name == name))
    _add_member(room, user)
    _add_member(room, other)
    return room
