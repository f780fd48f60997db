"""gunicorn settings, the same for the local cluster, compose and `make run`.

    gunicorn -c python:app.gunicorn_conf wsgi:app

One worker per process: Socket.IO keeps per-connection state in the worker,
so throughput comes from more instances behind nginx, not more workers.
"""

import os
import socket
from types import FrameType
from typing import TYPE_CHECKING, Any

# Safe before the worker's monkey-patching: app and app.config import only the
# standard library (tests/unit/test_gunicorn_conf.py checks).
from app.config import SERVER_ASYNC_MODES, Config, async_mode, server_setting
from app.library_hooks import install_gunicorn_error_answers  # stdlib and gunicorn only

if TYPE_CHECKING:
    from gunicorn.workers.base import Worker

_mode = async_mode()
if _mode not in SERVER_ASYNC_MODES:
    raise SystemExit(
        f"ASYNC_MODE={_mode!r} cannot be served by gunicorn; "
        f"use one of {', '.join(SERVER_ASYNC_MODES)}"
    )

# What gunicorn answers itself (a request it cannot read) is JSON in the API's
# error shape, not its HTML page (app/library_hooks/gunicorn_errors.py).
install_gunicorn_error_answers()


def _int_setting(name: str) -> int:
    """A server setting declared with a numeric default, as an int."""
    value = server_setting(name)
    assert value is not None, name
    return int(value)


bind = f"{server_setting('HOST')}:{server_setting('PORT')}"
workers = 1
worker_class = _mode  # gunicorn's worker classes are named after the modes
worker_connections = _int_setting("WORKER_CONNECTIONS")
# Connections the kernel completes before the worker accepts them: when an
# instance dies its clients reconnect to the others within a second or two, and
# a connect beyond the queue waits for a SYN retransmit (1 s, then 3 s), past
# nginx's proxy_connect_timeout of 2 s (net.core.somaxconn caps it; 4,096 on
# current kernels). gunicorn's default is 2,048.
backlog = 4096
# Long-lived sockets: the worker's heartbeat, not a request, is what timeout watches.
timeout = _int_setting("GUNICORN_TIMEOUT")
graceful_timeout = _int_setting("GRACEFUL_TIMEOUT")
keepalive = 5
accesslog = server_setting("ACCESS_LOG") or None
# gunicorn's default format logs the request line with its query string, where a
# Socket.IO client may carry ?token=: log the path (%(U)s) without the query.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
)
# A webhook's secret URL path is logged as /hooks/- (app/library_hooks/gunicorn_access.py).
logger_class = "app.library_hooks.gunicorn_access.MaskedLogger"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", Config.LOG_LEVEL).lower()
if (os.environ.get("LOG_FORMAT") or Config.LOG_FORMAT).lower() == "json":
    # gunicorn's own lines (its error and access logs) as JSON objects, like the app's.
    from app.library_hooks.gunicorn_access import MaskedLogger
    from app.logs import JsonFormatter, configure

    _instance = os.environ.get("INSTANCE_ID") or socket.gethostname()
    # The root logger now, before the worker class is imported: a warning it
    # prints (eventlet's deprecation) is a JSON line as well.
    configure(loglevel.upper(), "json", _instance)

    class JsonLogger(MaskedLogger):
        """The access log's webhook paths masked, every line a JSON object."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter(_instance))

    logger_class = JsonLogger  # type: ignore[assignment]
proc_name = f"chat-{os.environ.get('INSTANCE_ID', 'app')}"
# gunicorn 25's control socket has one default path per user: several
# instances on one host (the local cluster) would fight over it. Unused here.
control_socket_disable = True
# Seconds a SIGTERMed worker waits, after the drain, for requests still in flight.
REQUEST_GRACE = 2


def post_worker_init(worker: "Worker") -> None:
    """Listen to the message queue, start presence heartbeats and session
    checks before serving, and drain on SIGTERM: gunicorn stops accepting; the
    app then closes its sockets so clients reconnect elsewhere instead of
    hanging until graceful_timeout."""
    import gc
    import math
    import signal
    import sys

    from app.realtime.lifecycle import (
        CLOSE_DELAY as DRAIN_SECONDS,
    )
    from app.realtime.lifecycle import (
        start_drain,
        start_heartbeat,
        start_queue,
        start_session_checks,
    )

    flask_app = sys.modules["wsgi"].app
    if not start_queue():
        worker.log.error(
            "message queue: not listening yet (Redis unreachable?); serving "
            "anyway, live delivery starts when Redis answers"
        )
    start_heartbeat(flask_app)
    start_session_checks(flask_app)
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        worker.log.info("SIGTERM: draining (no new connections; closing sockets)")
        start_drain(flask_app)
        # The worker then waits for every connection's greenlet, also those
        # blocked in recv() on an idle keep-alive connection (nginx keeps some)
        # or a WebSocket whose client has not hung up yet, for all of
        # graceful_timeout (eventlet joins its pool; gevent polls it). Requests
        # in flight get the drain and REQUEST_GRACE seconds more; then the
        # worker exits and the idle connections close with it.
        worker.cfg.set(
            "graceful_timeout",
            min(worker.cfg.graceful_timeout, math.ceil(DRAIN_SECONDS + REQUEST_GRACE)),
        )
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    # What is loaded by now (modules, the app, its mappers and routes) lives as
    # long as the process: out of the collector's way, so that each full
    # collection walks only what requests and sockets made since.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*flask_app.config["GC_THRESHOLDS"])
    from app import collector

    collector.install(flask_app.config["GC_DEEP_GROWTH"])
