"""The instance's listening socket queues as many connections as the kernel
allows (app/gunicorn_conf.py `backlog`): a reconnect storm's burst waits in it
rather than for SYN retransmits past nginx's connect timeout."""

import subprocess

from localservices import free_port, wait_for_port


def _somaxconn():
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


def test_gunicorn_listens_with_a_backlog_of_4096_or_the_kernel_s_cap(tmp_path, spawn, service_env):
    port = free_port()
    env = service_env(
        f"sqlite:///{tmp_path}/chat.db",
        APP_ENV="development",
        HOST="127.0.0.1",
        PORT=port,
        XDG_RUNTIME_DIR=str(tmp_path),
    )
    server = spawn(["gunicorn", "-c", "python:app.gunicorn_conf", "wsgi:app"], env, name="gunicorn")
    wait_for_port(port, timeout=60, proc=server.popen, what="gunicorn", log=server.stderr_path)
    # For a listening socket ss shows the backlog as Send-Q.
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "LISTEN", out
    assert int(out[2]) == min(4096, _somaxconn()), out
