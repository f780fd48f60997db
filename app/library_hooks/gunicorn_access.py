"""gunicorn's access log without webhook secrets.

An incoming webhook's URL is its credential (`/hooks/<secret>`): the access
log writes the path (`%(U)s`, app/gunicorn_conf.py), so the path's secret is
replaced by `-` before gunicorn formats the line. gunicorn's `logger_class`
setting names this class; it changes only `atoms`, the values the access log
format reads (gunicorn>=25.3,<26).
"""

import re
from typing import Any

from gunicorn.glogging import Logger

SECRET = re.compile(r"/hooks/[^/? ]*")


def mask(text: str) -> str:
    """The text with any webhook secret in a path replaced by `-`."""
    return SECRET.sub("/hooks/-", text)


class MaskedLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        """gunicorn's atoms, every one that holds a webhook path masked (the path
        `U`, the request line `r`, the environ's `{raw_uri}e`, `{path_info}e`...)."""
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in list(atoms.items()):
            if isinstance(value, str) and "/hooks/" in value:
                atoms[key] = mask(value)
        return atoms
