"""The chat's rules, which REST (app/api) and Socket.IO (app/realtime) both call.

A module per subject, each owning its constants and checks:
  accounts        usernames, registering, logging in, finding users
  rooms           rooms and direct messages: visibility, membership, the DM name
  room_summaries  a room as one user sees it (counts, unread, DM peer)
  messages        history, sending (idempotent, ordered, rate limited), edit, delete
  threads         replies: what a reply may name, its parent's thread size
  mentions        @username in a body: who is mentioned, and telling them
  reactions       emoji on messages
  search          full-text search over the rooms a user may read
  files           uploads: storing, attaching, who reads them, removal
  images          what an upload's bytes are; an image's size and thumbnail
  reads           read markers and typing
  notify          the one way out: what happened, told to the realtime layer
  transactions    unique rows under races, commits that keep what is loaded
  moderation      roles, title and topic, kicks, bans, pins
  audit           the room's audit log of what owners and admins did
  invites         invite links to private rooms
  bots            bots, their API tokens, incoming webhooks
  export          a room's whole history, streamed

Each operation authorises, changes state, commits, and then announces the
result through notify, so a change made through REST reaches Socket.IO
clients exactly as one made through Socket.IO does. The handlers call the
operations through this package (`chat.send_message(...)`).
"""

from app.chat.accounts import change_password, find_user, login, logout, register, search_users
from app.chat.files import clean_up as clean_up_files
from app.chat.files import readable_file, upload
from app.chat.messages import (
    delete_message,
    edit_message,
    history,
    history_around,
    messages_page,
    send_message,
    sync,
    thread,
)
from app.chat.reactions import react
from app.chat.reads import mark_read, set_typing
from app.chat.room_summaries import (
    list_rooms,
    member_view,
    room_public_view,
    room_view,
    room_views,
)
from app.chat.rooms import (
    add_member,
    create_room,
    get_or_create_dm,
    join_room,
    leave_room,
    list_members,
    member_room,
    membership,
    room_names_of,
    small_room_names_of,
    update_settings,
    visible_room,
)
from app.chat.search import search

__all__ = [
    "add_member",
    "change_password",
    "clean_up_files",
    "create_room",
    "delete_message",
    "edit_message",
    "find_user",
    "get_or_create_dm",
    "history",
    "history_around",
    "join_room",
    "leave_room",
    "list_members",
    "list_rooms",
    "login",
    "logout",
    "mark_read",
    "member_room",
    "membership",
    "messages_page",
    "react",
    "readable_file",
    "register",
    "room_names_of",
    "small_room_names_of",
    "room_public_view",
    "member_view",
    "room_view",
    "room_views",
    "search",
    "search_users",
    "send_message",
    "set_typing",
    "sync",
    "thread",
    "update_settings",
    "upload",
    "visible_room",
]
