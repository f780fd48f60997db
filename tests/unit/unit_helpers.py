"""Helpers the unit tests import: settings, and assertions on the error shape.

(They live here, not in conftest.py: tests/integration has a conftest.py too,
and `from conftest import ...` would find whichever pytest loaded last.)
"""

from flask_socketio.test_client import SocketIOTestClient
from socketio import packet

from app.config import Config

PASSWORD = "correct-horse"


def test_config(tmp_path, **overrides):
    """The unit tests' settings, on a SQLite file in tmp_path."""
    settings = dict(
        APP_ENV="testing",
        SECRET_KEY="test-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/t.db",
        ASYNC_MODE="threading",
        PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        INSTANCE_ID="test-1",
        AUTH_RATE_LIMIT="1000 per minute",
    )
    settings.update(overrides)
    return Config(**settings)


test_config.__test__ = False  # a helper, not a test


def assert_error(response, status, code):
    """The response is the contract's error shape with this status and code."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "fields"}
    if code == "validation_error":
        assert isinstance(error["fields"], dict) and error["fields"]
    else:
        assert "fields" not in error
    return error


def assert_error_ack(ack, code):
    """A Socket.IO ack carrying the contract's error shape."""
    assert isinstance(ack, dict) and set(ack) == {"error"}, ack
    assert ack["error"]["code"] == code, ack
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
    return ack["error"]


class RecordingSocketClient(SocketIOTestClient):
    """Flask-SocketIO's test client, also keeping the data of a refused connect."""

    def connect(self, namespace=None, query_string=None, headers=None, auth=None):
        self.connect_errors = []
        deliver = self.socketio.server._send_packet

        def send_packet(eio_sid, pkt):
            if eio_sid == self.eio_sid and pkt.packet_type == packet.CONNECT_ERROR:
                self.connect_errors.append(pkt.data)
            return deliver(eio_sid, pkt)

        self.socketio.server._send_packet = send_packet
        return super().connect(
            namespace=namespace, query_string=query_string, headers=headers, auth=auth
        )

    def get_received(self, namespace=None):
        """What arrived, also after the server closed the socket (its last words)."""
        if self.is_connected(namespace):
            return super().get_received(namespace)
        namespace = namespace or "/"
        received = [pkt for pkt in self.queue if pkt["namespace"] == namespace]
        self.queue = [pkt for pkt in self.queue if pkt not in received]
        return received

    def events(self, name):
        """Payloads of the received events with this name (consumes the queue)."""
        # The test client unwraps the arguments of "message" events (only those).
        return [
            item["args"] if item["name"] in ("message", "json") else item["args"][0]
            for item in self.get_received()
            if item["name"] == name
        ]
