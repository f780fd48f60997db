"""Socket.IO packets as the chat takes them, and the guard every packet a
client sends passes first.

`PacketGuard` stands between python-engineio and python-socketio (a hook into
python-socketio 5.x's `Server._handle_eio_connect`, `_handle_eio_message`,
`_handle_eio_disconnect`, `_handle_connect`, `_handle_disconnect`,
`_handle_event`, `_handle_ack` and `_send_packet`, and python-engineio's
`Server.handlers`; tests/integration/test_socket_edge.py and tests/protocol exercise them on a real server):

- a packet that does not decode (not JSON, a 5,000-digit number, no event
  name, an unknown type, an ACK without an id...) is answered with a
  `bad_request` ack when it carries an ack id on a connected socket, and
  dropped otherwise; either way it is counted (REFUSED) and logged at most
  once every LOG_EVERY seconds, never with a traceback;
- a packet with binary attachments is refused the same way (the chat uses
  none): the library would keep it, and every attachment sent after it, until
  the last one came, a million of them if the client said so; a binary
  message no packet waits for is dropped;
- every packet counts against the socket's budget (a burst and a rate, the
  setting SOCKET_PACKET_RATE_LIMIT), in this process, before any handler or
  cluster-wide limit runs: past it an event is answered `rate_limited`
  (anything else is dropped);
- an Engine.IO connection whose Socket.IO connect has not completed within
  `connect_timeout` seconds is closed (one green thread looks every second,
  while there are such connections).
"""

import json
import logging
import time
from typing import Any

import socketio
import socketio.packet


class InvalidPacket(ValueError):
    """A Socket.IO packet that does not decode, or that the chat refuses; `packet`
    holds what was read of it (its type, namespace and ack id, if that far)."""

    def __init__(self, packet: "ChatPacket", reason: str, kind: str = "undecodable") -> None:
        super().__init__(reason)
        self.packet = packet
        self.reason = reason
        self.kind = kind


class ChatPacket(socketio.packet.Packet):
    """Socket.IO packets as the chat takes them: any that does not decode, has a
    shape the server cannot handle, or has binary attachments raises InvalidPacket."""

    def decode(self, encoded_packet: str | bytes) -> int:
        if not encoded_packet:
            raise InvalidPacket(self, "An empty packet.")
        if not isinstance(encoded_packet, str):
            raise InvalidPacket(self, "A binary message with no packet waiting for it.", "binary")
        self.id = None
        try:
            attachments = super().decode(encoded_packet)
        except json.JSONDecodeError as exc:  # JSON too deep or an over-long integer too
            raise InvalidPacket(self, f"The payload is not valid JSON: {exc.msg}.") from None
        except (ValueError, TypeError, IndexError):
            raise InvalidPacket(self, "The packet does not decode.") from None
        if attachments or self.packet_type in _BINARY:
            raise InvalidPacket(self, "Binary attachments are not accepted.", "binary")
        problem = _shape_problem(self)
        if problem:
            raise InvalidPacket(self, problem)
        return 0


def _shape_problem(pkt):
    """What makes a decoded packet one the server cannot handle, or None."""
    kind, data = pkt.packet_type, pkt.data
    if kind == socketio.packet.EVENT:
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            return "An event is a list starting with its name."
        if data[0] == "*":  # Flask-SocketIO's name for its catch-all handler
            return "Unknown event '*'."
    elif kind == socketio.packet.ACK:
        if pkt.id is None or not isinstance(data, list):
            return "An acknowledgement has an id and a list."
    elif kind not in (socketio.packet.CONNECT, socketio.packet.DISCONNECT):
        return "Unknown packet type."
    return None


# What the guard refused since the process started, by reason (for /metrics).
REFUSED = {"undecodable": 0, "binary": 0, "over_budget": 0, "connect_timeout": 0}
LOG_EVERY = 10.0  # seconds: at most one log line per reason in that time

log = logging.getLogger(__name__)


class _Budget:
    """A token bucket: `burst` packets at once, `rate` a second after that."""

    __slots__ = ("tokens", "stamp")

    def __init__(self, burst):
        self.tokens = float(burst)
        self.stamp = time.monotonic()


class PacketGuard:
    """Every packet a client sends, and every Engine.IO connection, as the
    module's docstring says. `budget` is (burst, per_seconds) or None (no budget);
    `connect_timeout` in seconds (0: none)."""

    def __init__(
        self,
        server: socketio.Server,
        budget: tuple[int, int] | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.server = server
        self.burst, per = budget if budget else (0, 1)
        self.rate = self.burst / per
        self.connect_timeout = connect_timeout
        self._budgets: dict[str, _Budget] = {}  # Engine.IO sid -> its budget
        # Engine.IO sid -> the time (monotonic) its Socket.IO connect must be done by
        self._pending: dict[str, float] = {}
        self._sweeping = False
        # reason -> (the time of its last line, the lines not written since)
        self._logged: dict[str, tuple[float, int]] = {}
        self._eio_connect = server._handle_eio_connect
        self._eio_disconnect = server._handle_eio_disconnect

    def install(self) -> "PacketGuard":
        """The guard in front of the server's handlers (for Engine.IO, and for what
        calls the server's methods directly, such as Flask-SocketIO's test client)."""
        server = self.server
        server._handle_eio_connect = self.on_connect
        server._handle_eio_message = self.on_message
        server._handle_eio_disconnect = self.on_disconnect
        server.eio.on("connect", self.on_connect)
        server.eio.on("message", self.on_message)
        server.eio.on("disconnect", self.on_disconnect)
        return self

    # --- Engine.IO events ------------------------------------------------

    def on_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        result = self._eio_connect(eio_sid, environ)
        if result is not False:
            self._arm(eio_sid)
        return result

    def _arm(self, eio_sid):
        """Gives the connection SOCKET_CONNECT_TIMEOUT (from now) to connect."""
        if self.connect_timeout and eio_sid in self.server.eio.sockets:
            self._pending.pop(eio_sid, None)  # to the end: the deadlines stay in order
            self._pending[eio_sid] = time.monotonic() + self.connect_timeout
            if not self._sweeping:
                self._sweeping = True
                self.server.start_background_task(self._sweep)

    def on_disconnect(self, eio_sid: str, *reason: Any) -> Any:
        self._pending.pop(eio_sid, None)
        self._budgets.pop(eio_sid, None)
        return self._eio_disconnect(eio_sid, *reason)

    def on_message(self, eio_sid: str, data: str | bytes) -> None:
        server = self.server
        pkt = server.packet_class()
        try:
            pkt.decode(data)  # (the constructor would not decode an empty packet)
        except InvalidPacket as exc:
            answer = self._spend(eio_sid)
            bad = exc.packet
            self._refuse(eio_sid, bad, exc.kind, "bad_request", exc.reason, answer)
            if (
                answer
                and exc.kind == "undecodable"
                and bad.packet_type == socketio.packet.CONNECT
                and server.manager.sid_from_eio_sid(eio_sid, bad.namespace or "/") is None
            ):
                # A first connect whose auth does not decode is one without auth:
                # refused (`unauthorized`) unless the query string holds a token.
                server._handle_connect(eio_sid, bad.namespace, None)
            return
        if not self._spend(eio_sid):
            self._refuse(
                eio_sid,
                pkt,
                "over_budget",
                "rate_limited",
                f"Too many events on this connection (at most {self.burst} at once, "
                f"{self.rate:g} a second); wait a moment.",
            )
            return
        namespace = pkt.namespace
        kind = pkt.packet_type
        if kind == socketio.packet.EVENT:
            server._handle_event(eio_sid, namespace, pkt.id, pkt.data)
        elif kind == socketio.packet.CONNECT:
            # The deadline is for connections that never ask: one whose connect
            # waits for its turn (a reconnect storm) must not be closed meanwhile.
            # Refused, it has the deadline again.
            self._pending.pop(eio_sid, None)
            server._handle_connect(eio_sid, namespace, pkt.data)
            if not self._connected(eio_sid):
                self._arm(eio_sid)
        elif kind == socketio.packet.DISCONNECT:
            server._handle_disconnect(eio_sid, namespace, server.reason.CLIENT_DISCONNECT)
        else:
            server._handle_ack(eio_sid, namespace, pkt.id, pkt.data)

    # --- the budget --------------------------------------------------------

    def _spend(self, eio_sid):
        """Takes one packet from the socket's budget; False if there is none left."""
        if not self.burst:
            return True
        budget = self._budgets.get(eio_sid)
        if budget is None:
            budget = self._budgets[eio_sid] = _Budget(self.burst)
        now = time.monotonic()
        budget.tokens = min(self.burst, budget.tokens + (now - budget.stamp) * self.rate)
        budget.stamp = now
        if budget.tokens < 1:
            return False
        budget.tokens -= 1
        return True

    # --- refusals ----------------------------------------------------------

    def _refuse(self, eio_sid, pkt, reason, code, message, answer=True):
        """Counts and (now and then) logs a refused packet; with `answer`, answers it
        with an error ack if it is an event with an ack id on a connected namespace."""
        REFUSED[reason] += 1
        self._log(reason, "%s Socket.IO packet from %s: %s", _LOG_WHAT[reason], eio_sid, message)
        if not answer or pkt.id is None or pkt.packet_type not in _ANSWERED:
            return
        namespace = pkt.namespace or "/"
        manager = self.server.manager
        sid = manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not manager.is_connected(sid, namespace):
            return
        error = {"error": {"code": code, "message": message}}
        self.server._send_packet(
            eio_sid,
            self.server.packet_class(
                socketio.packet.ACK, namespace=namespace, id=pkt.id, data=[error]
            ),
        )

    def _log(self, reason, text, *args):
        now = time.monotonic()
        last, skipped = self._logged.get(reason, (-LOG_EVERY, 0))
        if now - last < LOG_EVERY:
            self._logged[reason] = (last, skipped + 1)
            return
        self._logged[reason] = (now, 0)
        if skipped:
            text += " (and %d more not logged in the last %g s)"
            args = (*args, skipped, LOG_EVERY)
        log.warning(text, *args)

    # --- connections that do not connect -----------------------------------

    def _sweep(self):
        """Closes the connections whose Socket.IO connect is overdue, while any wait."""
        server = self.server
        try:
            while self._pending:
                server.sleep(1)
                now = time.monotonic()
                for eio_sid, deadline in list(self._pending.items()):
                    if deadline > now:
                        break  # the rest came later (one timeout for all)
                    del self._pending[eio_sid]
                    try:
                        if not self._connected(eio_sid):
                            self._close_unconnected(eio_sid)
                    except Exception:  # one socket's failure must not end the sweep
                        log.exception("%s: closing a socket without a connect failed", eio_sid)
        finally:
            self._sweeping = False

    def _connected(self, eio_sid):
        manager = self.server.manager
        sid = manager.sid_from_eio_sid(eio_sid, "/")
        return sid is not None and manager.is_connected(sid, "/")

    def _close_unconnected(self, eio_sid):
        REFUSED["connect_timeout"] += 1
        self._log(
            "connect_timeout",
            "%s: closed: no Socket.IO connect within %g s",
            eio_sid,
            self.connect_timeout,
        )
        eio = self.server.eio
        socket = eio.sockets.pop(eio_sid, None)
        if socket is not None:
            # Without waiting (Server.disconnect would wait for a polling client to
            # take the CLOSE packet, and one that is gone never does).
            socket.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)


_BINARY = (socketio.packet.BINARY_EVENT, socketio.packet.BINARY_ACK)
_ANSWERED = (socketio.packet.EVENT, socketio.packet.BINARY_EVENT)
_LOG_WHAT = {
    "undecodable": "undecodable",
    "binary": "refused binary",
    "over_budget": "over-budget",
}
