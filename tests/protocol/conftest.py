"""The conformance server (scripts/conformance_server.py) as a real gunicorn process.

Each test module names its server's KIND ("engineio" or "socketio"); the module's
`server` fixture runs it four times over, one after the other: under eventlet and
gevent, with the project's hooks into the libraries' internals and without them
(stock). Every test of the module runs against each, with the same assertions.
"""

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(ROOT, "scripts", "conformance_server.py")
START_TIMEOUT = 30  # seconds; gunicorn and its worker start in 1-2 s on an idle machine

CONFIGURATIONS = [
    pytest.param((mode, hooks), id=f"{mode}-{'hooked' if hooks else 'stock'}")
    for mode in ("eventlet", "gevent")
    for hooks in (True, False)
]


@dataclasses.dataclass
class RunningServer:
    """One conformance server: its base URL and how it was started."""

    kind: str
    async_mode: str
    hooks: bool
    port: int
    process: subprocess.Popen
    log_path: str

    @property
    def path(self) -> str:
        return "/socket.io/" if self.kind == "socketio" else "/engine.io/"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def signal_stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # gunicorn's quick shutdown

    def stop(self) -> None:
        self.signal_stop()
        if self.process.poll() is None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_server(kind: str, async_mode: str, hooks: bool, log_dir: str) -> RunningServer:
    """Starts a conformance server; wait_until_ready() before using it."""
    port = _free_port()
    log_path = os.path.join(log_dir, f"{kind}-{async_mode}-{int(hooks)}.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                SERVER,
                f"--port={port}",
                f"--async-mode={async_mode}",
                f"--hooks={int(hooks)}",
                f"--kind={kind}",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunningServer(kind, async_mode, hooks, port, process, log_path)


def wait_until_ready(running: RunningServer) -> RunningServer:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if requests.get(f"{running.url}?EIO=4&transport=polling", timeout=2).ok:
                return running
        except requests.RequestException:
            pass
        if running.process.poll() is not None or time.monotonic() > deadline:
            running.stop()
            pytest.fail(f"the conformance server did not start:\n{running.log()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def log_dir():
    with tempfile.TemporaryDirectory(prefix="conformance-") as path:
        yield path


@pytest.fixture(scope="module")
def launched(request, log_dir):
    """The module's four servers, started side by side (they start in about the time
    of one) and stopped after the module."""
    servers = {
        param.values[0]: launch_server(request.module.KIND, *param.values[0], log_dir)
        for param in CONFIGURATIONS
    }
    yield servers
    for running in servers.values():
        running.signal_stop()
    for running in servers.values():
        running.stop()


@pytest.fixture(scope="module", params=CONFIGURATIONS)
def server(request, launched):
    """The module's KIND of conformance server in one configuration, for the whole module."""
    return wait_until_ready(launched[request.param])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows the end of its server's log (gunicorn's and the libraries')."""
    report = (yield).get_result()
    running = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(running, RunningServer):
        report.sections.append(("conformance server log (end)", running.log()[-4000:]))
