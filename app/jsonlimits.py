"""JSON input with a bound on nesting, for REST bodies and Socket.IO packets.

Python's json module recurses once per level: a 60 KB body of `[[[...` raises
RecursionError, which would surface as a 500 (REST) or an exception inside the
Socket.IO server. Here anything nested deeper than MAX_DEPTH is invalid JSON
(a ValueError), which REST answers with `bad_request` and Socket.IO with a
`bad_request` ack (app/library_hooks/socketio_packets.py), and so is an
integer longer than Python converts.
"""

import json
from typing import Any

MAX_DEPTH = 32


class TooDeep(json.JSONDecodeError):
    def __init__(self, doc: str) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels", doc, 0)


def depth(value: Any) -> int:
    """Levels of arrays and objects in a decoded value (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """json.loads, refusing nesting deeper than MAX_DEPTH with a JSONDecodeError."""
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise TooDeep(text if isinstance(text, str) else "") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer longer than int() converts (4,300 digits)
        raise json.JSONDecodeError(str(exc), text if isinstance(text, str) else "", 0) from None
    if depth(value) > MAX_DEPTH:
        raise TooDeep(text if isinstance(text, str) else "")
    return value


class SocketJSON:
    """The json module Engine.IO and Socket.IO decode packets with (SocketIO(json=...)).
    Engine.IO takes a ValueError as "not JSON" and keeps the text as it is."""

    dumps = staticmethod(json.dumps)
    loads = staticmethod(loads)
