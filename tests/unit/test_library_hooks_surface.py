"""The package's surface: importing it loads no library, every exported name
resolves, the queue picker, and the webargs JSON hook through webargs' own
parse() (the other hooks are served for real in
tests/integration/test_library_hooks.py)."""

import json
import os
import subprocess
import sys

import pytest
from flask import Flask
from marshmallow import fields
from werkzeug.exceptions import BadRequest

from app import jsonlimits, library_hooks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_importing_the_package_loads_no_library():
    script = "import json, sys; import app.library_hooks; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    )
    libraries = ("socketio", "engineio", "redis", "eventlet", "gevent", "gunicorn", "webargs")
    assert [m for m in loaded if m.split(".")[0] in libraries + ("sqlalchemy",)] == []


@pytest.mark.parametrize("name", library_hooks.__all__)
def test_every_exported_name_resolves(name):
    assert getattr(library_hooks, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        library_hooks.nothing_of_the_kind  # noqa: B018


def test_the_queue_picker():
    from app.library_hooks.classic_redis_queue import ChatRedisManager
    from app.library_hooks.redis_queue import ShardedRedisManager
    from app.library_hooks.room_index import ChatManager, RoomIndex

    assert isinstance(library_hooks.queue_manager(None), ChatManager)
    sharded = library_hooks.queue_manager("redis://127.0.0.1:1/0")
    assert isinstance(sharded, ShardedRedisManager) and sharded.channel == "chat"
    classic = library_hooks.queue_manager("redis://127.0.0.1:1/0", "classic", write_only=True)
    assert isinstance(classic, ChatRedisManager) and classic.channel == "chat-socketio"
    assert classic.write_only
    assert isinstance(sharded, RoomIndex) and isinstance(classic, RoomIndex)


@pytest.fixture
def parse():
    parser = library_hooks.JsonBodyParser(jsonlimits.loads)
    app = Flask(__name__)

    def parse(body, content_type="application/json"):
        with app.test_request_context("/", method="POST", data=body, content_type=content_type):
            from flask import request

            return parser.parse({"a": fields.Raw()}, request, location="json")

    return parse


def test_the_json_parser_decodes_a_body_with_the_given_loads(parse):
    assert parse(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}


def test_the_json_parser_refuses_nesting_past_the_limit(parse):
    deep = "[" * (jsonlimits.MAX_DEPTH + 1) + "]" * (jsonlimits.MAX_DEPTH + 1)
    with pytest.raises(BadRequest) as raised:
        parse(json.dumps({"a": json.loads(deep)}).encode())
    assert raised.value.data["messages"] == {"json": ["Invalid JSON body."]}
    assert isinstance(raised.value.exc, jsonlimits.TooDeep)
    with pytest.raises(BadRequest):
        parse(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")  # no RecursionError


def test_the_json_parser_keeps_webargs_answer_for_bytes_that_are_not_utf8(parse):
    with pytest.raises(BadRequest) as raised:
        parse(b'{"a": "\xff"}')
    assert raised.value.data["messages"] == {"json": ["Invalid JSON body."]}
    assert not isinstance(raised.value.exc, jsonlimits.TooDeep)
