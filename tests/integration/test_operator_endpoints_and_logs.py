"""What the local cluster's nginx and gunicorn show, and to whom.

- nginx (nginx/cluster.conf.template, rendered by scripts/cluster.py) does not
  serve the operator endpoints /metrics and /readyz; the instances still do.
- Neither nginx's nor gunicorn's access log holds a `?token=` value.
- nginx sends its $request_id to the instance as X-Request-ID (a client's own
  is replaced) and logs it.

nginx runs for real in front of a tiny upstream that records what reaches it;
gunicorn runs the real app (embedded SQLite) with its access log on stdout.
"""

import http.server
import os
import threading
import time

import pytest
import requests
from cluster import CONN_PER_ADDRESS, ROOT, TEMPLATE, render_template
from localservices import Nginx, free_port

pytestmark = pytest.mark.integration

SECRET = "tok3n-that-must-not-be-logged"


class Upstream(http.server.ThreadingHTTPServer):
    """Answers 200 to everything and remembers each request's path and X-Request-ID."""

    def __init__(self):
        self.paths = []
        self.request_ids = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.paths.append(self.path)
                server.request_ids.append(self.headers.get("X-Request-ID"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)


def access_log_holding(access_log, text, timeout=5.0):
    """The access log's text once it holds `text`, or as it stands after `timeout`.

    nginx writes a request's line after it has sent the response, so a client
    can read the log before the line of its own request is there."""
    deadline = time.monotonic() + timeout
    while True:
        with open(access_log) as f:
            log = f.read()
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    upstream = Upstream()
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    nginx_dir = str(tmp_path_factory.mktemp("nginx"))
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(nginx_dir, "tmp", sub), mode=0o777, exist_ok=True)
        os.chmod(os.path.join(nginx_dir, "tmp", sub), 0o777)
    port = free_port()
    access_log = os.path.join(nginx_dir, "access.log")
    with open(TEMPLATE) as f:
        config = render_template(
            f.read(),
            STATE_DIR=nginx_dir,
            PORT=port,
            ACCESS_LOG=f"{access_log} chat",
            UPSTREAM_SERVERS=f"        server 127.0.0.1:{upstream.server_address[1]};",
            STICKY_DIR=os.path.join(ROOT, "nginx", "sticky", "ip_hash"),
            CONN_PER_ADDRESS=CONN_PER_ADDRESS,
        )
    with Nginx(config, nginx_dir, port=port) as nginx:
        yield nginx, upstream, access_log
    upstream.shutdown()


@pytest.mark.parametrize(
    "path", ["/metrics", "/readyz", "/metrics/", "//readyz", "/%6Detrics", "/readyz?x=1"]
)
def test_nginx_does_not_serve_operator_endpoints(proxied, path):
    nginx, upstream, _ = proxied
    before = len(upstream.paths)
    response = requests.get(nginx.url() + path, timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert len(upstream.paths) == before  # never reached an instance


def test_nginx_still_proxies_the_api_and_liveness(proxied):
    nginx, upstream, _ = proxied
    for path in ("/healthz", "/api/rooms", "/metrics-and-more"):
        assert requests.get(nginx.url() + path, timeout=5).status_code == 200
        assert upstream.paths[-1] == path


def test_nginx_access_log_keeps_tokens_out(proxied):
    nginx, upstream, access_log = proxied
    url = f"{nginx.url()}/socket.io/?EIO=4&transport=polling&token={SECRET}"
    assert requests.get(url, timeout=5).status_code == 200
    assert upstream.paths[-1].endswith(f"token={SECRET}")  # the app still gets it
    log = access_log_holding(access_log, "GET /socket.io/ HTTP/1.1")
    assert "GET /socket.io/ HTTP/1.1" in log
    assert SECRET not in log


def test_gunicorn_access_log_keeps_tokens_out(gunicorn_on_sqlite):
    server, port = gunicorn_on_sqlite(ACCESS_LOG="-")
    base = f"http://127.0.0.1:{port}"
    assert requests.get(f"{base}/healthz?token={SECRET}", timeout=5).status_code == 200
    requests.get(f"{base}/socket.io/?EIO=4&transport=polling&token={SECRET}", timeout=5)
    server.wait_for_output("GET /socket.io/ HTTP/1.1", timeout=10, stream="stdout")
    assert "GET /healthz HTTP/1.1" in server.stdout
    assert SECRET not in server.stdout + server.stderr


def test_nginx_sends_and_logs_its_request_id(proxied):
    nginx, upstream, access_log = proxied
    response = requests.get(
        nginx.url() + "/api/rooms", headers={"X-Request-ID": "client-chosen"}, timeout=5
    )
    assert response.status_code == 200
    sent = upstream.request_ids[-1]
    assert sent and sent != "client-chosen" and len(sent) == 32, sent
    assert int(sent, 16) >= 0  # nginx's $request_id: 32 hex digits
    assert f"rid={sent}" in access_log_holding(access_log, f"rid={sent}")
