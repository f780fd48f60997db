"""Prometheus metrics for this process, served at /metrics."""

import gc
import time

from flask import Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

from app import jsonlimits
from app.realtime import direct_socket

registry = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "chat_http_requests_total",
    "HTTP requests served",
    ["method", "endpoint", "status"],
    registry=registry,
)
HTTP_LATENCY = Histogram(
    "chat_http_request_duration_seconds", "HTTP request latency", ["endpoint"], registry=registry
)
MESSAGES_SENT = Counter(
    "chat_messages_sent_total", "Messages stored (REST and Socket.IO)", registry=registry
)
SOCKETS = Gauge(
    "chat_socketio_connections", "Socket.IO connections open on this instance", registry=registry
)
DIRECT_WEBSOCKETS = Gauge(
    "chat_socketio_direct_websockets",
    "WebSocket connections written from the sending thread (app/realtime/direct_socket.py)",
    registry=registry,
)
DIRECT_WEBSOCKETS.set_function(lambda: direct_socket.STATS["open"])
DEFERRED_FRAMES = Gauge(
    "chat_socketio_deferred_frames",
    "WebSocket frames that waited for a slow socket since the process started "
    "(app/realtime/direct_socket.py)",
    registry=registry,
)
DEFERRED_FRAMES.set_function(lambda: direct_socket.STATS["deferred"])
DROPPED_BEHIND = Gauge(
    "chat_socketio_dropped_behind",
    "Sockets dropped since the process started for having more than "
    "SOCKET_MAX_UNSENT_BYTES waiting for a client that does not read "
    "(app/realtime/direct_socket.py)",
    registry=registry,
)
DROPPED_BEHIND.set_function(lambda: direct_socket.STATS["dropped_behind"])


class _SocketRefusals:
    """chat_socketio_refused_total{reason}: what the Socket.IO edge refused since
    the process started (app/jsonlimits.py, app/realtime/direct_socket.py)."""

    def collect(self):
        family = CounterMetricFamily(
            "chat_socketio_refused",
            "Socket.IO packets and connections refused: undecodable, binary, "
            "over_budget (the per-socket budget), connect_timeout (no Socket.IO "
            "connect in time), too_large (a WebSocket message over the limit)",
            labels=["reason"],
        )
        counts = dict(jsonlimits.REFUSED, too_large=direct_socket.STATS["too_large"])
        counts["undecodable"] += direct_socket.STATS["undecodable"]  # Engine.IO's
        for reason, count in counts.items():
            family.add_metric([reason], count)
        yield family


registry.register(_SocketRefusals())
FROZEN_OBJECTS = Gauge(
    "chat_gc_frozen_objects",
    "Objects the worker moved out of the garbage collector's way once it had started "
    "(app/gunicorn_conf.py)",
    registry=registry,
)
FROZEN_OBJECTS.set_function(gc.get_freeze_count)
SOCKET_EVENTS = Counter(
    "chat_socketio_events_total",
    "Socket.IO events handled",
    ["event", "outcome"],
    registry=registry,
)


def init_app(app):
    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def record(response):
        endpoint = request.endpoint or "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, response.status_code).inc()
        started = g.get("request_started")
        if started is not None:
            HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics():
        """Prometheus metrics of this instance."""
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
