"""The worker's life: the message queue listening before the worker serves,
the presence heartbeat started once per process, and
draining on SIGTERM (stop being ready, then close every socket so that clients
reconnect through nginx to another instance, and forget this instance's
presence at once rather than after the expiry).

gunicorn calls these from app/gunicorn_conf.py when the worker boots; outside
gunicorn, the first connection starts the queue (python-socketio) and the
heartbeat (app/realtime/events.py).
"""

import logging

from flask import Flask

from app.realtime.presence import heartbeat_loop, presence
from app.realtime.server import socketio
from app.realtime.sessions import session_check_loop

log = logging.getLogger(__name__)

# Seconds between refusing new connections and closing the open sockets, so
# that reconnecting clients find the listening socket closed and move on.
CLOSE_DELAY = 1.5
# Seconds a starting worker waits for the message queue before serving anyway.
QUEUE_START_TIMEOUT = 10.0
_heartbeat_started = False


def start_queue(timeout: float = QUEUE_START_TIMEOUT) -> bool:
    """Initialise the Socket.IO manager now (python-socketio would wait for the
    first connection) and wait until it listens; False if Redis did not answer.
    Without it, a fresh instance missed whatever other instances sent its
    sockets' rooms before its first connection, and control messages for it."""
    server = socketio.server
    if not server.manager_initialized:
        server.manager_initialized = True
        server.manager.initialize()
    wait_live = getattr(server.manager, "wait_live", None)
    return wait_live(timeout) if wait_live else True


def start_heartbeat(app: Flask) -> None:
    """Keep this instance's presence alive and sweep dead instances' (once per process)."""
    global _heartbeat_started
    if not _heartbeat_started:
        _heartbeat_started = True
        socketio.start_background_task(heartbeat_loop, app)


def start_session_checks(app: Flask) -> None:
    """Close this worker's sockets whose session ended, every SESSION_CHECK_SECONDS.
    Started by gunicorn when the worker boots (a server has one app per process;
    tests call app.realtime.sessions.check_open_sockets themselves)."""
    socketio.start_background_task(session_check_loop, app)


def local_sids(namespace: str = "/") -> list[str]:
    """The sockets connected to this instance (room None holds them all)."""
    return [sid for sid, _ in socketio.server.manager.get_participants(namespace, None)]


def drain(app: Flask) -> None:
    app.config["DRAINING"] = True
    socketio.sleep(CLOSE_DELAY)
    sids = local_sids()
    log.info("draining: closing %d sockets", len(sids))
    for sid in sids:
        try:
            socketio.server.disconnect(sid, namespace="/")
        except Exception:
            log.exception("draining: could not close socket %s", sid)
    try:
        with app.app_context():
            presence.forget_instance()
    except Exception:
        log.exception("draining: could not clear presence")


def start_drain(app: Flask) -> None:
    """Called from the worker's SIGTERM handler: do the work outside the handler."""
    # Set here, not in drain(): the worker gets SIGTERM twice (from the signal to
    # the process group and from gunicorn's master), and two drains racing to
    # close the same sockets could keep the worker alive until graceful_timeout.
    if not app.config.get("DRAINING"):
        app.config["DRAINING"] = True
        socketio.start_background_task(drain, app)
