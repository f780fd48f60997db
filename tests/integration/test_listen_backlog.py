"""The instance's listening socket queues as many connections as the kernel
allows (app/gunicorn_conf.py `backlog`): a reconnect storm's burst waits in it
rather than for SYN retransmits past nginx's connect timeout."""

import subprocess


def _somaxconn():
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


def test_gunicorn_listens_with_a_backlog_of_4096_or_the_kernel_s_cap(gunicorn_on_sqlite):
    _, port = gunicorn_on_sqlite()
    # For a listening socket ss shows the backlog as Send-Q.
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "LISTEN", out
    assert int(out[2]) == min(4096, _somaxconn()), out
