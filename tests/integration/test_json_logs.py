"""LOG_FORMAT=json and request ids (app/logs.py), for real: gunicorn serving the
app writes one JSON object a line, its own lines included, and every response
carries the request's X-Request-ID, which the lines logged for it name; nginx
(the local cluster's config) sends its $request_id to the instance and logs it."""

import json
import re

import pytest
import requests
from localservices import free_port, wait_for_port

pytestmark = pytest.mark.integration

HEX_ID = re.compile(r"[0-9a-f]{32}")


def json_lines(text: str) -> list[dict]:
    """Every line of `text` as a JSON object (fails on any other line)."""
    lines = []
    for line in text.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}")
    return lines


@pytest.fixture
def json_server(tmp_path, spawn, run, service_env):
    env = service_env(
        f"sqlite:///{tmp_path}/chat.db",
        LOG_FORMAT="json",
        ACCESS_LOG="-",
        HOST="127.0.0.1",
        PORT=free_port(),
        INSTANCE_ID="api-json",
        XDG_RUNTIME_DIR=str(tmp_path),
    )
    migrated = run(["flask", "db", "upgrade"], env, timeout=120, name="migrate")
    assert migrated.returncode == 0, migrated.report()
    server = spawn(["gunicorn", "-c", "python:app.gunicorn_conf", "wsgi:app"], env, name="gunicorn")
    wait_for_port(int(env["PORT"]), timeout=60, proc=server.popen, log=server.stderr_path)
    server.base = f"http://127.0.0.1:{env['PORT']}"
    return server


def test_json_lines_name_the_request_and_the_user(json_server):
    base = json_server.base
    # An id from the proxy is kept and returned; a malformed one replaced.
    assert requests.get(base + "/healthz", headers={"X-Request-ID": "req-1"}, timeout=5).headers[
        "X-Request-ID"
    ] == ("req-1")
    own = requests.get(base + "/healthz", headers={"X-Request-ID": "a b\x7f"}, timeout=5)
    assert HEX_ID.fullmatch(own.headers["X-Request-ID"])
    assert HEX_ID.fullmatch(requests.get(base + "/healthz", timeout=5).headers["X-Request-ID"])

    credentials = {"username": "jsonlog", "password": "password123"}
    registered = requests.post(base + "/api/auth/register", json=credentials, timeout=10)
    assert registered.status_code == 201, registered.text
    user_id = registered.json()["user"]["id"]
    ok = requests.post(
        base + "/api/auth/login", json=credentials, headers={"X-Request-ID": "login-ok"}, timeout=10
    )
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "login-ok"
    bad = requests.post(
        base + "/api/auth/login",
        json={**credentials, "password": "wrong-password"},
        headers={"X-Request-ID": "login-bad"},
        timeout=10,
    )
    assert bad.status_code == 401 and bad.headers["X-Request-ID"] == "login-bad"
    json_server.wait_for_output('"path": "/api/auth/login", "status": 401', 10, "stdout")

    app_lines = json_lines(json_server.stderr)  # the app's and gunicorn's own lines
    access = json_lines(json_server.stdout)  # gunicorn's access log
    for line in app_lines + access:
        assert set(line) >= {"time", "level", "instance", "request_id", "user_id", "event"}, line
        assert line["instance"] == "api-json"
    assert any(line["logger"] == "gunicorn.error" for line in app_lines)  # "Booting worker"
    by_event = {line["event"]: line for line in app_lines if line["request_id"]}
    assert by_event["logged in"]["request_id"] == "login-ok"
    assert by_event["logged in"]["user_id"] == user_id
    assert by_event["logged in"]["level"] == "info"
    assert by_event["login failed"]["request_id"] == "login-bad"
    assert by_event["login failed"]["user_id"] is None
    requests_logged = {line["request_id"]: line["http"] for line in access}
    assert requests_logged["login-ok"] == {
        **requests_logged["login-ok"],
        "method": "POST",
        "path": "/api/auth/login",
        "status": 200,
    }
    assert requests_logged["login-bad"]["status"] == 401
    assert requests_logged["req-1"]["path"] == "/healthz"
    assert own.headers["X-Request-ID"] in requests_logged
