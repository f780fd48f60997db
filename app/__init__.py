"""The chat application factory.

Keep this module's top-level imports light (no Flask, no extensions):
gunicorn imports app.gunicorn_conf, and so this package, before its eventlet
or gevent worker monkey-patches the standard library; whatever is imported
that early keeps unpatched locks and sockets. Imports go inside create_app().
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from app.config import Config

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask, Response


def called_in_python(wsgi_app: Any) -> WSGIApplication:
    """A WSGI middleware object's bound __call__ (when it is Python code), for the
    layer around it to call: calling the object itself recurses in C (see
    instance_header), calling the bound method does not."""
    call = getattr(type(wsgi_app), "__call__", None)  # noqa: B004 (the class's, not callable())
    return wsgi_app.__call__ if isinstance(call, types.FunctionType) else wsgi_app


def instance_header(wsgi_app: WSGIApplication, instance_id: str) -> WSGIApplication:
    """WSGI middleware: X-Instance and X-Request-ID on every response, Socket.IO's included.

    A function, not a callable object: CPython runs a call to a Python function
    in the same C frame, where an object's __call__ recurses in C, and an idle
    WebSocket's green thread stays parked under every layer of that recursion
    (its C stack is copied to the heap)."""
    from app.logs import REQUEST_ID_HEADER, request_id

    header = ("X-Instance", instance_id)

    def with_instance_header(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        # The request's id too (nginx's X-Request-ID, else a new one: app/logs.py).
        rid = (REQUEST_ID_HEADER, request_id(environ))

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            return start_response(status, [*headers, header, rid], exc_info)

        return wsgi_app(environ, start)

    return with_instance_header


def _async_mode(config: Config):
    """The configured mode if its library has patched the process, else threading.

    Servers (gunicorn's eventlet/gevent workers) patch before the app loads;
    CLI commands do not, and need no cooperative I/O.
    """
    # Only look at a library that is already loaded: importing it here would not
    # patch anything (and eventlet warns on import).
    if config.ASYNC_MODE == "eventlet" and "eventlet.patcher" in sys.modules:
        if sys.modules["eventlet.patcher"].is_monkey_patched("socket"):
            return "eventlet"
    if config.ASYNC_MODE == "gevent" and "gevent.monkey" in sys.modules:
        if sys.modules["gevent.monkey"].is_module_patched("socket"):
            return "gevent"
    return "threading"


def _socket_budget(config: Config) -> tuple[int, int] | None:
    """(burst, per seconds) of SOCKET_PACKET_RATE_LIMIT, or None with rate limits off."""
    if not config.RATELIMIT_ENABLED:
        return None
    from limits import parse

    item = parse(config.SOCKET_PACKET_RATE_LIMIT)
    return item.amount, item.get_expiry()


def create_app(config: Config | None = None) -> Flask:
    from flask import Flask, g
    from werkzeug.middleware.proxy_fix import ProxyFix

    config = config or Config.from_env()
    config.validate()
    app = Flask(__name__)
    app.config.from_mapping(config.as_flask_config())
    from app.cookie_session import CookieSessionInterface

    app.session_interface = CookieSessionInterface()
    from app import logs

    logs.configure(config.LOG_LEVEL, config.LOG_FORMAT, config.INSTANCE_ID)
    for quiet in ("alembic.runtime.plugins", "alembic.runtime.migration"):
        logging.getLogger(quiet).setLevel(logging.WARNING)

    # Extensions
    from app.extensions import SchemaExtrasPlugin, api, db, limiter, migrate
    from app.realtime.presence import presence
    from app.realtime.server import socketio
    from app.schema_state import MIGRATIONS_DIR

    db.init_app(app)
    from app import dbpool

    with app.app_context():
        dbpool.init_engine(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)

    # after_request hooks run in reverse order: registered before the limiter's,
    # this one sees the headers Flask-Limiter adds. It adds the send limit's
    # headers, and drops Retry-After, which Flask-Limiter puts on every response
    # of a limited route but which only means something on a refusal.
    @app.after_request
    def rate_limit_headers(response: Response) -> Response:
        response.headers.update(g.get("rate_limit_headers") or {})
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    limiter.init_app(app)
    presence.init_app(app)
    from app import user_cache

    user_cache.init_app(app)
    # What the domain announces (app/chat/notify.py) goes out as Socket.IO events.
    from app.chat import notify
    from app.realtime.broadcast import SocketIOListener

    notify.init_app(app, SocketIOListener())
    # Handlers must be registered before init_app: Flask-SocketIO hands its list to
    # each new server, but a handler declared after a server exists goes to that
    # server only, and a second app (tests, tools) would get none.
    # Always pass client_manager: Flask-SocketIO keeps options between init_app
    # calls, and None (the in-process manager) must replace an earlier Redis one.
    from app import library_hooks, metrics
    from app.realtime import events, gate  # noqa: F401  (events registers the handlers)

    gate.init_app(app)

    queue = library_hooks.queue_manager(
        config.REDIS_URL, config.QUEUE_MODE, on_emit=metrics.observe_delivery_lag
    )
    metrics.watch_queue(queue)
    from app import security_headers
    from app.jsonlimits import SocketJSON

    mode = _async_mode(config)
    library_hooks.install_socket_hooks(mode, max_unsent_bytes=config.SOCKET_MAX_UNSENT_BYTES)
    socketio.init_app(
        app,
        async_mode=mode,
        client_manager=queue,
        json=SocketJSON,
        serializer=library_hooks.ChatPacket,
        cors_allowed_origins=(
            config.cors_allowed_origins
            if config.cors_allowed_origins is not None
            else security_headers.same_origin
        ),
        ping_interval=20,
        ping_timeout=20,
        max_http_buffer_size=config.MAX_CONTENT_LENGTH,
    )
    library_hooks.PacketGuard(
        socketio.server,
        budget=_socket_budget(config),
        connect_timeout=config.SOCKET_CONNECT_TIMEOUT,
    ).install()
    api.init_app(
        app,
        spec_kwargs={
            "extra_plugins": [SchemaExtrasPlugin()],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    )

    # Blueprints
    from app.api import (
        auth,
        bots,
        export,
        files,
        invites,
        messages,
        moderation,
        reactions,
        rooms,
        search,
        users,
    )
    from app.health import bp as health_bp
    from app.pages import bp as pages_bp

    for module in (
        auth,
        users,
        rooms,
        messages,
        reactions,
        search,
        files,
        moderation,
        invites,
        bots,
    ):
        api.register_blueprint(module.blp)
    api.register_blueprint(export.blp)
    api.register_blueprint(bots.hooks)
    app.register_blueprint(health_bp)
    from app.schema_state import schema_guard

    schema_guard.init_app(app)
    app.register_blueprint(pages_bp)
    from app.health import readiness_checks

    metrics.init_app(app, readiness=readiness_checks)
    security_headers.init_app(app)

    # Errors (registered after the API's own, which they replace)
    from app.errors import register_error_handlers

    register_error_handlers(app)

    # CLI
    from app.cli import register_commands

    register_commands(app)

    wsgi: WSGIApplication = app.wsgi_app
    if config.PROXY_HOPS:
        wsgi = ProxyFix(
            called_in_python(wsgi),
            # One address per proxy hop in X-Forwarded-For; X-Forwarded-Proto and
            # X-Forwarded-Host hold exactly one value, which our nginx sets itself
            # (replacing whatever a client sent): never trust more than that one.
            x_for=config.PROXY_HOPS,
            x_proto=1,
            x_host=1,
        )
    wsgi = instance_header(called_in_python(wsgi), config.INSTANCE_ID)
    if mode == "eventlet":
        wsgi = library_hooks.socket_as_eventlet_input(wsgi)
    # Flask's way to add WSGI middleware, which its type hints do not foresee.
    app.wsgi_app = wsgi  # type: ignore[method-assign,assignment]
    return app
