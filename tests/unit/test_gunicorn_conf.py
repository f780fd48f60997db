"""The gunicorn settings file shared by make run, the local cluster and compose."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_conf(**env):
    """The settings module's values as loaded in a fresh interpreter with `env`."""
    code = (
        "import json, sys, app.gunicorn_conf as c; "
        "heavy = [m for m in ('flask', 'werkzeug', 'sqlalchemy', 'redis', 'socketio') "
        "if m in sys.modules]; "
        "print(json.dumps({'workers': c.workers, 'worker_class': c.worker_class, "
        "'bind': c.bind, 'control_socket_disable': c.control_socket_disable, "
        "'heavy': heavy}))"
    )
    full_env = {k: v for k, v in os.environ.items() if k not in ("ASYNC_MODE", "HOST", "PORT")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_one_worker_of_the_eventlet_class_by_default():
    result = load_conf()
    assert result.returncode == 0, result.stderr
    conf = json.loads(result.stdout)
    assert conf["workers"] == 1
    assert conf["worker_class"] == "eventlet"
    assert conf["bind"] == "0.0.0.0:5000"


def test_async_mode_gevent_picks_the_gevent_worker_and_host_port_bind():
    conf = json.loads(load_conf(ASYNC_MODE="gevent", HOST="127.0.0.1", PORT="5123").stdout)
    assert conf["worker_class"] == "gevent"
    assert conf["bind"] == "127.0.0.1:5123"


def test_an_async_mode_gunicorn_cannot_serve_is_refused_with_a_message():
    result = load_conf(ASYNC_MODE="threading")
    assert result.returncode != 0
    assert "ASYNC_MODE='threading' cannot be served by gunicorn" in result.stderr


def test_loading_the_settings_imports_nothing_that_must_be_monkey_patched_first():
    conf = json.loads(load_conf().stdout)
    assert conf["heavy"] == []


def test_the_per_user_control_socket_is_disabled_so_instances_can_share_a_host():
    assert json.loads(load_conf().stdout)["control_socket_disable"] is True


def test_the_access_log_masks_a_webhook_secret():
    """The access log line, formatted by gunicorn with the configured logger class
    and format, never holds a webhook's secret."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    import app.gunicorn_conf as conf

    cfg = Config()
    cfg.set("logger_class", conf.logger_class)
    cfg.set("access_log_format", conf.access_log_format)
    logger = cfg.logger_class(cfg)
    secret = "s3cr3t-webhook-value"
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/hooks/{secret}",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "RAW_URI": f"/hooks/{secret}",
        "REMOTE_ADDR": "127.0.0.1",
    }
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[], response_length=10)
    req = SimpleNamespace(
        headers=[], method="POST", path=f"/hooks/{secret}", uri=f"/hooks/{secret}"
    )
    atoms = logger.atoms(resp, req, environ, timedelta(seconds=0.01))
    line = conf.access_log_format % atoms
    assert secret not in line
    assert "/hooks/-" in line
    assert secret not in json.dumps({k: str(v) for k, v in atoms.items()})
