"""Request and response schemas, shared by REST and Socket.IO.

The same schema validates a REST body and the matching Socket.IO payload, and
the same schema shapes an object for a REST response and a broadcast. The
limits they check are the domain's (app/chat/); schemas only apply them.
"""

import re
import sys
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from app.chat.accounts import USERNAME_PATTERN
from app.chat.files import MAX_ATTACHMENTS
from app.chat.messages import BODY_MAX, HISTORY_PAGE, ID_MAX, PAGE_MAX, SYNC_PAGE
from app.chat.reactions import EMOJI_MAX, emoji_problem
from app.chat.rooms import (
    DM_PREFIX,
    RESERVED_PREFIXES,
    ROOM_NAME_PATTERN,
    SERVER_NAME_LENGTH,
    SERVER_NAMED_PREFIX,
)
from app.chat.search import Q_MAX, SEARCH_PAGE, SEARCH_PAGE_MAX
from app.chat.threads import EXCERPT_CHARS, reply_fields
from app.errors import ApiError, validation_error
from app.models import Message

USERNAME = validate.Regexp(USERNAME_PATTERN, error="3 to 32 characters of a-z, 0-9 and _.")
ROOM_NAME = validate.Regexp(ROOM_NAME_PATTERN, error="1 to 64 characters of a-z, 0-9, - and _.")


class UTCDateTime(fields.DateTime):
    """ISO 8601 in UTC with a Z."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StrictInt(fields.Integer):
    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)


class StrictBool(fields.Boolean):
    """JSON true or false only (a set of {True} would also hold 1, since 1 == True)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


# Control characters: none at all in a one-line text (display name, title);
# in a body, line breaks and tabs only.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class WholeRegexp(validate.Regexp):
    """validate.Regexp matching the whole value (re.fullmatch), so that a pattern can
    end in `$` and read the same in Python and in the OpenAPI document (ECMA-262
    has no `\\Z`; Python's `$` alone also matches before a final line break)."""

    def __call__(self, value: str) -> str:  # type: ignore[override]  # str only
        if self.regex.fullmatch(value) is None:  # type: ignore[call-overload]
            raise ValidationError(self.error.format(input=value, regex=self.regex.pattern))
        return value


def _category_class(category: str) -> str:
    """The characters of a Unicode category as regex class ranges (literal characters,
    so that the pattern reads the same in Python and in an OpenAPI document)."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) == category:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


# A display name shows who wrote: no control character (C0, DEL, C1) and no format
# character (Unicode category Cf: bidirectional overrides, zero-width spaces and
# joiners, soft hyphens...), which could make one name look like another.
DISPLAY_NAME_FORBIDDEN = "\x00-\x1f\x7f-\x9f" + _category_class("Cf")
# The length is in the pattern, not a minLength/maxLength beside it: schemathesis
# folds those into the pattern by rewriting it, which its own regex engine then
# cannot read (the class's characters beyond U+FFFF come out as \\U escapes).
DISPLAY_NAME = WholeRegexp(
    f"^(?=.{{1,64}}$)[^\\S{DISPLAY_NAME_FORBIDDEN}]*[^\\s{DISPLAY_NAME_FORBIDDEN}][^{DISPLAY_NAME_FORBIDDEN}]*$",
    error="1 to 64 characters, not blank, with no control or format character "
    "(e.g. U+202E, U+200B, U+0085).",
)


# The rules below as regular expressions, for the OpenAPI document (the checks
# above and in app/chat/ are the server's; schemathesis compares the two in
# tests/integration/test_bad_input.py).
_BODY_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
# Whitespace a body may start or end with (strip() takes it off): not \x0b, \x0c
# or \x1c-\x1f, which are control characters a body may not hold.
_BODY_SPACE = "[^\\S\x0b\x0c\x1c-\x1f]"
BODY_PATTERN = (
    f"^{_BODY_SPACE}*[^\\s{_BODY_CONTROL}]"
    f"(?:[^{_BODY_CONTROL}]{{0,{BODY_MAX - 2}}}[^\\s{_BODY_CONTROL}])?{_BODY_SPACE}*$"
)
NO_NUL_PATTERN = "^[^\x00]*$"
EMOJI_PATTERN = f"^[^\\s\x00-\x1f\x7f-\x9f]{{1,{EMOJI_MAX}}}$"
ONE_LINE = WholeRegexp(
    "^[^\x00-\x1f\x7f]*$", error="Must not contain control characters or line breaks."
)
RESERVED_NAME_RULE = (
    f"not starting with {DM_PREFIX!r} (reserved for direct messages) or "
    f"{SERVER_NAMED_PREFIX!r} (reserved for private rooms named by the server)"
)
NEW_ROOM_NAME = WholeRegexp(
    f"^(?!{'|'.join(RESERVED_PREFIXES)}){ROOM_NAME_PATTERN[1:].replace(chr(92) + 'Z', '$')}",
    error=f"1 to 64 characters of a-z, 0-9, - and _, {RESERVED_NAME_RULE}.",
)


def no_control_characters(value: str) -> None:
    if CONTROL.search(value):
        raise ValidationError("Must not contain control characters or line breaks.")


class BodyField(fields.String):
    """A message body: trimmed, then 1 to BODY_MAX characters, line breaks and tabs
    the only control characters (BODY_PATTERN says the same in the OpenAPI document)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": BODY_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError("The message is empty.")
        if len(text) > BODY_MAX:
            raise ValidationError(f"At most {BODY_MAX} characters.")
        if BODY_CONTROL.search(text):
            raise ValidationError(
                "Must not contain control characters other than line breaks and tabs."
            )
        return text


def _unstorable(text: str):
    """Why a string cannot be stored as text (NUL, a lone UTF-16 surrogate), or None."""
    if "\x00" in text:
        return "Must not contain NUL (U+0000) characters."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Must not contain lone UTF-16 surrogates."
    return None


class EmojiField(fields.String):
    """A reaction's emoji (the rule is app/chat/reactions.py's)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = emoji_problem(text)
        if problem:
            raise ValidationError(problem)
        return text


class Text(fields.String):
    """A string input field, its OpenAPI document saying that it holds no NUL (which
    InputSchema refuses in every string field)."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"pattern": NO_NUL_PATTERN}, **kwargs)


class InputSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    @pre_load
    def refuse_unstorable_text(self, data: Any, **kwargs: Any) -> Any:
        """PostgreSQL cannot store U+0000 in text (psycopg2 raises before the query)
        and no database can store a lone surrogate (JSON's "\\ud800" decodes to
        one; UTF-8 cannot encode it), so a string field holding either is
        invalid input, not a server error."""
        if hasattr(data, "get"):
            bad = {}
            for name, field in self.load_fields.items():
                key = field.data_key or name
                value = data.get(key)
                problem = _unstorable(value) if isinstance(value, str) else None
                if problem:
                    bad[key] = [problem]
            if bad:
                raise ValidationError(bad)
        return data


# --- requests -------------------------------------------------------------


class RegisterSchema(InputSchema):
    username = fields.String(required=True, validate=USERNAME)
    password = Text(required=True, validate=validate.Length(8, 128), load_only=True)
    display_name = fields.String(validate=DISPLAY_NAME, allow_none=True)

    @pre_load
    def lower_username(self, data: Any, **kwargs: Any) -> Any:
        # Lower case only: whitespace around a username is refused, not trimmed.
        if isinstance(data, dict) and isinstance(data.get("username"), str):
            data = {**data, "username": data["username"].lower()}
        return data

    @validates("display_name")
    def display_name_not_blank(self, value: str | None, **kwargs: Any) -> None:
        if value is not None and not value.strip():
            raise ValidationError("Must not be blank.")


class LoginSchema(InputSchema):
    username = Text(required=True, validate=validate.Length(1, 64))
    password = Text(required=True, validate=validate.Length(1, 128), load_only=True)


class PasswordChangeSchema(InputSchema):
    current_password = Text(required=True, validate=validate.Length(1, 128), load_only=True)
    new_password = Text(required=True, validate=validate.Length(8, 128), load_only=True)


class RoomCreateSchema(InputSchema):
    name = fields.String(
        validate=NEW_ROOM_NAME,
        metadata={
            "description": "Required unless `private` is true: a private room created "
            f"without a name gets one the server chooses ({SERVER_NAMED_PREFIX!r} and "
            f"{SERVER_NAME_LENGTH} random characters of a-z and 0-9), returned in the answer. A name "
            f"starting with {DM_PREFIX!r} or {SERVER_NAMED_PREFIX!r} is `422` for everyone, "
            "whether a room has it or not."
        },
    )
    title = fields.String(validate=[validate.Length(max=120), ONE_LINE], load_default="")
    private = StrictBool(load_default=False)

    # What name_unless_private checks, for the OpenAPI document.
    OPENAPI_EXTRA = {
        "anyOf": [
            {"required": ["name"]},
            {"required": ["private"], "properties": {"private": {"enum": [True]}}},
        ]
    }

    @validates_schema
    def name_unless_private(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("name") is None and not data.get("private"):
            raise ValidationError(
                "Missing data for required field (a public room needs a name).", "name"
            )


class MemberAddSchema(InputSchema):
    username = Text(validate=validate.Length(1, 64))


class HistoryQuerySchema(InputSchema):
    before = fields.Integer(validate=validate.Range(1, ID_MAX))
    after = fields.Integer(validate=validate.Range(0, ID_MAX))
    around = fields.Integer(
        validate=validate.Range(1, ID_MAX),
        metadata={
            "description": "A message id of the room: the page centred on it "
            "(before and after are then not used)."
        },
    )
    limit = fields.Integer(validate=validate.Range(1, PAGE_MAX), load_default=HISTORY_PAGE)


class MessageCreateSchema(InputSchema):
    body = BodyField(
        load_default=None,
        allow_none=False,
        metadata={"description": "Required unless the message has attachments."},
    )
    client_id = Text(validate=validate.Length(1, 64), allow_none=True)
    reply_to = StrictInt(
        validate=validate.Range(1, ID_MAX),
        allow_none=True,
        metadata={"description": "The id of a message of the same room this one replies to."},
    )
    attachments = fields.List(
        StrictInt(validate=validate.Range(1, ID_MAX)),
        validate=validate.Length(max=MAX_ATTACHMENTS),
        metadata={"description": f"Up to {MAX_ATTACHMENTS} ids of my uploads not yet attached."},
    )

    @pre_load
    def empty_body_with_attachments(self, data: Any, **kwargs: Any) -> Any:
        """A blank body is allowed on a message with attachments (it is stored as "")."""
        if (
            isinstance(data, dict)
            and data.get("attachments")
            and isinstance(data.get("body"), str)
            and not data["body"].strip()
        ):
            data = {key: value for key, value in data.items() if key != "body"}
        return data

    # What body_or_attachments checks, for the OpenAPI document.
    OPENAPI_EXTRA = {
        "anyOf": [
            {"required": ["body"]},
            {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
        ]
    }

    @validates_schema
    def body_or_attachments(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("body") is None and not data.get("attachments"):
            raise ValidationError("Missing data for required field.", "body")


class ThreadQuerySchema(InputSchema):
    after = fields.Integer(
        validate=validate.Range(0, ID_MAX),
        metadata={"description": "A reply id: the replies after it (the next page)."},
    )
    limit = fields.Integer(validate=validate.Range(1, PAGE_MAX), load_default=HISTORY_PAGE)


class RoomSettingsSchema(InputSchema):
    muted = StrictBool(
        required=True,
        metadata={"description": "A muted room raises no notifications for me."},
    )


class MessageEditSchema(InputSchema):
    body = BodyField(required=True)


class ReadSchema(InputSchema):
    message_id = StrictInt(required=True, validate=validate.Range(1, ID_MAX))


class ReactionPathSchema(InputSchema):
    emoji = EmojiField(required=True)


class SearchQuerySchema(InputSchema):
    q = Text(required=True, validate=validate.Length(1, Q_MAX))
    room = Text(validate=validate.Length(1, 80))
    before = fields.Integer(validate=validate.Range(1, ID_MAX))
    limit = fields.Integer(validate=validate.Range(1, SEARCH_PAGE_MAX), load_default=SEARCH_PAGE)


class UserQuerySchema(InputSchema):
    q = Text(load_default="", validate=validate.Length(max=32))


class RoomRefSchema(InputSchema):
    room = Text(required=True, validate=validate.Length(1, 80))


class SendEventSchema(RoomRefSchema, MessageCreateSchema):
    pass


class TypingEventSchema(RoomRefSchema):
    typing = StrictBool(required=True)


class ReadEventSchema(RoomRefSchema, ReadSchema):
    pass


class ReactEventSchema(InputSchema):
    message_id = StrictInt(required=True, validate=validate.Range(1, ID_MAX))
    emoji = EmojiField(required=True)
    on = StrictBool(required=True)


class SyncEventSchema(RoomRefSchema):
    after = StrictInt(required=True, validate=validate.Range(0, ID_MAX))
    limit = StrictInt(validate=validate.Range(1, PAGE_MAX), load_default=SYNC_PAGE)


class RoomUpdateSchema(InputSchema):
    title = fields.String(validate=[validate.Length(max=120), ONE_LINE])
    topic = fields.String(validate=[validate.Length(max=250), ONE_LINE])


class RoleSchema(InputSchema):
    role = fields.String(required=True, validate=validate.OneOf(["owner", "admin", "member"]))


class InviteCreateSchema(InputSchema):
    expires_in = StrictInt(
        validate=validate.Range(60, 30 * 24 * 3600),
        load_default=7 * 24 * 3600,
        metadata={"description": "Seconds until it expires (default 7 days, at most 30)."},
    )
    max_uses = StrictInt(
        validate=validate.Range(1, 1000),
        allow_none=True,
        load_default=None,
        metadata={"description": "How many people may accept it (default: no limit)."},
    )


class AuditQuerySchema(InputSchema):
    before = fields.Integer(validate=validate.Range(1, ID_MAX))
    limit = fields.Integer(validate=validate.Range(1, 100), load_default=50)


class BotCreateSchema(InputSchema):
    """A bot has no password."""

    username = fields.String(required=True, validate=USERNAME)
    display_name = fields.String(validate=DISPLAY_NAME, allow_none=True)


class WebhookCreateSchema(InputSchema):
    bot = fields.String(required=True, validate=USERNAME)


class HookPostSchema(InputSchema):
    text = BodyField(required=True)


# --- responses ------------------------------------------------------------


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    created_at = UTCDateTime()
    bot = fields.Boolean(metadata={"description": "A bot: logs in only with its API token."})


class AuthorSchema(Schema):
    username = fields.String()
    display_name = fields.String()


class RoomSchema(Schema):
    """A room as its caller sees it (built by app/chat/room_summaries.py)."""

    id = fields.Integer()
    name = fields.String()
    title = fields.String()
    topic = fields.String()
    private = fields.Boolean()
    kind = fields.String(metadata={"enum": ["public", "private", "dm"]})
    created_at = UTCDateTime()
    member_count = fields.Integer()
    member = fields.Boolean()
    role = fields.String(
        metadata={"enum": ["owner", "admin", "member"], "description": "Only for members."}
    )
    unread = fields.Integer(metadata={"description": "Only for members."})
    last_read_id = fields.Integer(allow_none=True, metadata={"description": "Only for members."})
    mentions = fields.Integer(
        metadata={"description": "Only for members: unread messages that mention the caller."}
    )
    muted = fields.Boolean(
        metadata={"description": "Only for members: my own setting; raises no notifications."}
    )
    peer = fields.Nested(UserSchema, metadata={"description": "Only for direct messages."})


class ReactionSchema(Schema):
    emoji = fields.String()
    usernames = fields.List(fields.String(), metadata={"description": "In the order they reacted."})


class Computed(fields.Nested):
    """A nested object that a function of the whole object returns (None: null)."""

    def __init__(self, nested: type[Schema], function: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(nested, **kwargs)
        self.function = function

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = None) -> Any:
        return self.function(obj)


class ReplyToSchema(Schema):
    id = fields.Integer()
    author = fields.Nested(AuthorSchema)
    excerpt = fields.String(
        metadata={"description": f"The first {EXCERPT_CHARS} characters; empty once deleted."}
    )


class ThreadSchema(Schema):
    replies = fields.Integer(metadata={"description": "Replies not deleted."})
    last_reply_at = UTCDateTime(allow_none=True)


class AttachmentSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    content_type = fields.String(
        metadata={"description": "What the bytes are, sniffed by the server."}
    )
    size = fields.Integer()
    width = fields.Integer(metadata={"description": "Only for images."})
    height = fields.Integer(metadata={"description": "Only for images."})
    url = fields.Function(lambda f: f"/api/files/{f.id}", metadata={"type": "string"})
    thumbnail_url = fields.Function(
        lambda f: f"/api/files/{f.id}/thumbnail",
        metadata={"type": "string", "description": "Only for images."},
    )


def shaped_attachment(stored: Any) -> dict[str, Any]:
    """An attachment as the API shows it (width, height, thumbnail_url only for images)."""
    shaped = {
        "id": stored.id,
        "name": stored.name,
        "content_type": stored.content_type,
        "size": stored.size,
        "url": f"/api/files/{stored.id}",
    }
    if stored.thumbnail_size is not None:
        shaped["width"] = stored.width
        shaped["height"] = stored.height
        shaped["thumbnail_url"] = f"/api/files/{stored.id}/thumbnail"
    return shaped


class MessageSchema(Schema):
    id = fields.Integer()
    room = fields.Function(lambda m: m.room.name)
    author = fields.Function(
        lambda m: {"username": m.author.username, "display_name": m.author.display_name},
        metadata={"type": "object"},
    )
    body = fields.Function(lambda m: "" if m.deleted_at else m.body)
    client_id = fields.String(allow_none=True)
    created_at = UTCDateTime()
    edited_at = UTCDateTime(allow_none=True)
    deleted = fields.Boolean()
    deleted_by = fields.String(
        allow_none=True,
        metadata={"enum": ["author", "moderator", None], "description": "Null unless deleted."},
    )
    pinned = fields.Boolean()
    mentions = fields.List(
        fields.String(),
        attribute="mentioned_usernames",
        metadata={"description": "Usernames the body names as @username who can read the room."},
    )
    reactions = fields.List(
        fields.Nested(ReactionSchema),
        attribute="reaction_list",
        metadata={"description": "In the order each emoji was first used."},
    )
    reply_to = Computed(
        ReplyToSchema,
        reply_fields,
        allow_none=True,
        metadata={"description": "The message this one replies to, or null."},
    )
    thread = fields.Nested(
        ThreadSchema,
        attribute="thread",
        allow_none=True,
        metadata={"description": "For a message with replies, else null."},
    )
    attachments = fields.Function(
        lambda m: [shaped_attachment(f) for f in m.attachment_list],
        metadata={"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}},
    )


class UploadFormSchema(InputSchema):
    file = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "format": "binary",
            "minLength": 1,
            "description": "The file's bytes (not empty).",
        },
    )


class AuthResponseSchema(Schema):
    user = fields.Nested(UserSchema)
    token = fields.String()


class RoomListSchema(Schema):
    rooms = fields.List(fields.Nested(RoomSchema))


class MemberSchema(Schema):
    user = fields.Nested(UserSchema)
    online = fields.Boolean()
    role = fields.String()


class MemberListSchema(Schema):
    members = fields.List(fields.Nested(MemberSchema))


class MessagePageSchema(Schema):
    messages = fields.List(fields.Nested(MessageSchema))
    has_more = fields.Boolean()
    has_newer = fields.Boolean(
        metadata={"description": "Only with around: newer messages remain after the page."}
    )


class UserListSchema(Schema):
    users = fields.List(fields.Nested(UserSchema))


class ThreadEventSchema(Schema):
    room = fields.String()
    message_id = fields.Integer()
    thread = fields.Nested(ThreadSchema, allow_none=True)


class RoleResponseSchema(Schema):
    user = fields.Nested(UserSchema)
    role = fields.String()


class PinnedListSchema(Schema):
    messages = fields.List(
        fields.Nested(MessageSchema), metadata={"description": "Newest pin first."}
    )


class InviteSchema(Schema):
    token = fields.String()
    url = fields.String(metadata={"description": "The page's link that accepts it."})
    expires_at = UTCDateTime()
    max_uses = fields.Integer(allow_none=True)
    uses = fields.Integer()


class InviteListSchema(Schema):
    invites = fields.List(fields.Nested(InviteSchema))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = UTCDateTime()
    actor = fields.String(allow_none=True, metadata={"description": "A username."})
    action = fields.String()
    target = fields.String()


class AuditPageSchema(Schema):
    entries = fields.List(fields.Nested(AuditEntrySchema))
    has_more = fields.Boolean()


class BotListSchema(Schema):
    bots = fields.List(fields.Nested(UserSchema))


class TokenSchema(Schema):
    token = fields.String()


class WebhookSchema(Schema):
    id = fields.Integer()
    url = fields.String(metadata={"description": "Only when created: the secret URL to post to."})
    bot = fields.Nested(UserSchema)
    created_at = UTCDateTime()


class WebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema))


class HookResultSchema(Schema):
    ok = fields.Boolean()
    message_id = fields.Integer()


user_schema = UserSchema()
thread_event_schema = ThreadEventSchema()
author_schema = AuthorSchema()
message_schema = MessageSchema()
room_schema = RoomSchema()


def shaped_message(message: Message) -> dict[str, Any]:
    """A message as the API and the Socket.IO events show it."""
    return message_schema.dump(message)


def load_or_raise(schema: Schema, data: Any) -> Any:
    """Validate a Socket.IO payload (or any dict) the way REST bodies are validated."""
    if not isinstance(data, dict):
        raise ApiError("bad_request", "The payload must be a JSON object.")
    try:
        return schema.load(data)
    except ValidationError as err:
        raise validation_error(err.messages) from None
