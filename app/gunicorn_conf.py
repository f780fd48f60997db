"""gunicorn settings, the same for the local cluster, compose and `make run`.

    gunicorn -c python:app.gunicorn_conf wsgi:app

One worker per process: Socket.IO keeps per-connection state in the worker,
so throughput comes from more instances behind nginx, not more workers.
"""
import os

_WORKER_CLASSES = {"eventlet": "eventlet", "gevent": "gevent"}
_mode = os.environ.get("ASYNC_MODE", "eventlet")
if _mode not in _WORKER_CLASSES:
    raise SystemExit(f"ASYNC_MODE={_mode!r} cannot be served by gunicorn; "
                     f"use one of {', '.join(_WORKER_CLASSES)}")

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"
workers = 1
worker_class = _WORKER_CLASSES[_mode]
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "10000"))
# Long-lived sockets: the worker's heartbeat, not a request, is what timeout watches.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG", "-") or None
# gunicorn's default format logs the request line with its query string, where a
# Socket.IO client may carry ?token=: log the path (%(U)s) without the query.
access_log_format = ('%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s '
                     '"%(f)s" "%(a)s" %(M)sms')
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = f"chat-{os.environ.get('INSTANCE_ID', 'app')}"
# gunicorn 25's control socket has one default path per user: several
# instances on one host (the local cluster) would fight over it. Unused here.
control_socket_disable = True


def post_worker_init(worker):
    """Start presence heartbeats, and drain on SIGTERM: gunicorn stops accepting;
    the app then closes its sockets so clients reconnect elsewhere instead of
    hanging until graceful_timeout."""
    import signal
    import sys

    from app.realtime.events import start_heartbeat
    from app.realtime.lifecycle import start_drain

    flask_app = sys.modules["wsgi"].app
    start_heartbeat(flask_app)
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        worker.log.info("SIGTERM: draining (no new connections; closing sockets)")
        start_drain(flask_app)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
