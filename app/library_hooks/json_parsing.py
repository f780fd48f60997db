"""webargs' Flask parser with a JSON decoder of the app's choosing.

webargs decodes a JSON body in its parser's private `_raw_load_json`;
JsonBodyParser overrides it to decode with `loads` (app/jsonlimits.py's, which
refuses deep nesting), keeping webargs' own error for bytes that are not UTF-8.
tests/unit/test_library_hooks_surface.py checks it through webargs' public parse().
"""

from collections.abc import Callable
from typing import Any

from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request


class JsonBodyParser(FlaskParser):
    """FlaskParser decoding JSON bodies with `loads`."""

    def __init__(self, loads: Callable[[str], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loads = loads

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return core.parse_json(data)  # webargs' own error for bad bytes
        return self.loads(text)
