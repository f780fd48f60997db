"""Prometheus metrics for this process, served at /metrics."""

import datetime
import gc
import time
from collections.abc import Callable, Iterator

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.gc_collector import GCCollector

from app import collector, library_hooks

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
    "WebSocket connections written from the sending thread (app/library_hooks/engineio_sockets.py)",
    registry=registry,
)
DIRECT_WEBSOCKETS.set_function(lambda: library_hooks.socket_stats()["open"])
DEFERRED_FRAMES = Gauge(
    "chat_socketio_deferred_frames",
    "WebSocket frames that waited for a slow socket since the process started "
    "(app/library_hooks/engineio_sockets.py)",
    registry=registry,
)
DEFERRED_FRAMES.set_function(lambda: library_hooks.socket_stats()["deferred"])
DROPPED_BEHIND = Gauge(
    "chat_socketio_dropped_behind",
    "Sockets dropped since the process started for having more than "
    "SOCKET_MAX_UNSENT_BYTES waiting for a client that does not read "
    "(app/library_hooks/engineio_sockets.py)",
    registry=registry,
)
DROPPED_BEHIND.set_function(lambda: library_hooks.socket_stats()["dropped_behind"])


class _SocketRefusals:
    """chat_socketio_refused_total{reason}: what the Socket.IO edge refused since
    the process started (app/library_hooks/socketio_packets.py and engineio_sockets.py)."""

    def describe(self) -> Iterator[CounterMetricFamily]:
        """The family without samples: what the registry learns at registration
        (prometheus_client otherwise collects once to find the names)."""
        yield self._family()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = self._family()
        stats = library_hooks.socket_stats()
        counts = dict(library_hooks.SOCKET_REFUSED, too_large=stats["too_large"])
        counts["undecodable"] += stats["undecodable"]  # Engine.IO's
        for reason, count in counts.items():
            family.add_metric([reason], count)
        yield family

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "chat_socketio_refused",
            "Socket.IO packets and connections refused: undecodable, binary, "
            "over_budget (the per-socket budget), connect_timeout (no Socket.IO "
            "connect in time), too_large (a WebSocket message over the limit)",
            labels=["reason"],
        )


registry.register(_SocketRefusals())
FROZEN_OBJECTS = Gauge(
    "chat_gc_frozen_objects",
    "Objects out of the garbage collector's way: what the worker loaded at start "
    "(app/gunicorn_conf.py), and with GC_DEEP_GROWTH above 0 each full collection's "
    "survivors, as last counted (app/collector.py)",
    registry=registry,
)
FROZEN_OBJECTS.set_function(collector.frozen_objects)  # a count walks them all
DEEP_COLLECTIONS = Gauge(
    "chat_gc_deep_collections",
    "Full collections that walked every object again since the worker started "
    "(the others walk only what survived since the last; app/collector.py)",
    registry=registry,
)
DEEP_COLLECTIONS.set_function(collector.deep_collections)
DEEP_GROWTH = Gauge(
    "chat_gc_deep_growth",
    "GC_DEEP_GROWTH as the worker installed it (app/collector.py); 0: the "
    "interpreter's own collections",
    registry=registry,
)
DEEP_GROWTH.set_function(collector.deep_growth)
GC_PAUSE = Histogram(
    "chat_gc_pause_seconds",
    "Garbage collections of this process by generation (2: a full one), each from its "
    "start to its end: while one runs, nothing else in the process does",
    ["generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=registry,
)
GC_CPU = Counter(
    "chat_gc_cpu_seconds",
    "CPU time of garbage collections by generation (the collecting thread's CPU "
    "clock from start to end). chat_gc_pause_seconds is wall time and also counts "
    "the time the process waited for a core mid-collection; this does not",
    ["generation"],
    registry=registry,
)
GC_THRESHOLD = Gauge(
    "chat_gc_threshold",
    "The garbage collector's thresholds (gc.get_threshold; a gunicorn worker sets "
    "them from GC_THRESHOLDS): 0: new objects before a young collection; 1, 2: "
    "collections of the generation below before one of this generation",
    ["generation"],
    registry=registry,
)


def _threshold(generation: int) -> Callable[[], float]:
    return lambda: gc.get_threshold()[generation]


for _generation in range(3):
    GC_THRESHOLD.labels(str(_generation)).set_function(_threshold(_generation))
_gc_pauses = [GC_PAUSE.labels(str(generation)) for generation in range(3)]
_gc_cpu = [GC_CPU.labels(str(generation)) for generation in range(3)]
_gc_started = [0.0, 0.0]  # wall clock, thread CPU clock


def _time_collection(phase: str, info: dict) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
        _gc_started[1] = time.thread_time()
    else:
        generation = info["generation"]
        _gc_cpu[generation].inc(time.thread_time() - _gc_started[1])
        _gc_pauses[generation].observe(time.perf_counter() - _gc_started[0])


gc.callbacks.append(_time_collection)
# python_gc_collections_total, python_gc_objects_collected_total{generation}: how
# many collections ran, and how much cyclic garbage each generation found.
GCCollector(registry=registry)
SOCKET_HANDLERS_WAITING = Gauge(
    "chat_socketio_handlers_waiting",
    "Socket.IO events and connects waiting for a turn (SOCKET_HANDLERS_AT_ONCE are at work)",
    registry=registry,
)
SOCKET_CONNECTS_WAITING = Gauge(
    "chat_socketio_connects_waiting",
    "Socket.IO connects among chat_socketio_handlers_waiting",
    registry=registry,
)
SOCKET_EVENTS = Counter(
    "chat_socketio_events_total",
    "Socket.IO events handled",
    ["event", "outcome"],
    registry=registry,
)

# For the alert and recording rules in deploy/prometheus/ (docs/compose.md, "Monitoring").
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SEND_SECONDS = Histogram(
    "chat_message_send_seconds",
    "From a send reaching this instance to its acknowledgement (stored and handed to "
    "the queue), new messages only, REST and Socket.IO",
    buckets=LATENCY_BUCKETS,
    registry=registry,
)
DELIVERY_LAG = Histogram(
    "chat_message_delivery_lag_seconds",
    "From a message's created_at (the storing instance's clock) to this instance "
    "handing it to its sockets, for messages from other instances through the queue",
    buckets=LATENCY_BUCKETS,
    registry=registry,
)
QUEUE_LIVE = Gauge(
    "chat_queue_live",
    "1 while this instance receives from the message queue (its sockets were told "
    "delivery {live: true}), else 0",
    registry=registry,
)
READINESS = Gauge(
    "chat_readiness_check",
    "1 if the readiness check passes at scrape time (database: reachable and at the "
    "code's head; message_queue: Redis answers), else 0",
    ["check"],
    registry=registry,
)
LOGINS = Counter(
    "chat_logins_total", "Login attempts by outcome (ok, failed)", ["outcome"], registry=registry
)


def observe_delivery_lag(data: dict) -> None:
    """Records a `message` event's lag as it arrives from the queue (`data`: the
    queue's emit record)."""
    if data.get("event") != "message":
        return
    try:
        created = datetime.datetime.fromisoformat(data["data"]["created_at"])
    except (KeyError, TypeError, ValueError):
        return
    lag = time.time() - created.timestamp()
    DELIVERY_LAG.observe(max(lag, 0.0))


# Label values come from a short known list, never from the client as sent: a made-up
# method or path would otherwise add a label set (memory, /metrics size) per request.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The request's method as a label: a known one, else "other"."""
    return method if method in KNOWN_METHODS else "other"


def endpoint_label(app: Flask, endpoint: str | None) -> str:
    """The Flask endpoint that served the request (a name from the code, one of
    app.view_functions), else "unmatched"."""
    return endpoint if endpoint in app.view_functions else "unmatched"


def status_label(status: int) -> str:
    """The status code (the server chose it), or "other" outside 100-599."""
    return str(status) if 100 <= status <= 599 else "other"


def init_app(app: Flask, readiness: Callable[[], dict[str, bool]] | None = None) -> None:
    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        endpoint = endpoint_label(app, request.endpoint)
        HTTP_REQUESTS.labels(
            method_label(request.method), endpoint, status_label(response.status_code)
        ).inc()
        started = g.get("request_started")
        if started is not None:
            HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics of this instance."""
        if readiness is not None:
            for check, ok in readiness().items():
                READINESS.labels(check).set(1 if ok else 0)
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def watch_queue(manager: object) -> None:
    """chat_queue_live follows the Socket.IO client manager's `live` (1 with no
    Redis: the in-process manager is always live)."""
    QUEUE_LIVE.set_function(lambda: 1.0 if getattr(manager, "live", True) else 0.0)
