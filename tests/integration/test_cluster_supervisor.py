"""`make cluster` keeps serving when one of its instances dies.

The cluster is started the way a person starts it, `make cluster`, in its own
process group, with a state dir so the test can read the pids and ports. Under
the fault tests' chat load (fault_load.ChatLoad) one instance is SIGKILLed:
the script must report it and start it again with the same id and port, the
other instances and nginx must keep serving throughout, and every acknowledged
message must reach every member exactly once. Figures go to
tests/artifacts/reliability.json (scenario "make_cluster_instance_sigkill").
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import requests
from fault_load import ChatLoad, record_figures, rounded, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from localservices import Postgres, free_port

pytestmark = pytest.mark.integration

INSTANCES = 3
READY_BOUND = 150  # seconds for `make cluster` to come up on a busy machine
BACK_BOUND = 20  # seconds for the killed instance to be ready again
WARMUP = 3
AFTER = 2


class RunningCluster:
    """What fault_load.ChatLoad needs of a cluster, read from the script's state.json."""

    def __init__(self, state):
        self.state = state
        self.url = state["nginx_url"]
        port = int(state["database_url"].rsplit(":", 1)[1].split("/")[0])
        self.postgres = Postgres(os.path.join(state["state_dir"], "postgres"), port=port)

    def instance(self, instance_id):
        return next(i for i in self.state["instances"] if i["id"] == instance_id)


def read_state(state_dir):
    try:
        with open(os.path.join(state_dir, "state.json")) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def ready(url):
    try:
        return requests.get(url + "/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def make_cluster():
    """`make cluster` in its own process group; stopped with Ctrl-C's signal."""
    # Not below pytest's tmp dir, which PostgreSQL's own user cannot enter.
    state_dir = tempfile.mkdtemp(prefix="chat-make-cluster-")
    log_path = os.path.join(state_dir, "make.log")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "cluster",
                f"INSTANCES={INSTANCES}",
                f"CLUSTER_PORT={port}",
                f"CLUSTER_ARGS=--state-dir {state_dir}",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output():
        with open(log_path, errors="replace") as f:
            return f.read()

    try:
        deadline = time.monotonic() + READY_BOUND
        while "chat cluster ready" not in output():
            assert proc.poll() is None, f"make cluster exited ({proc.returncode}):\n{output()}"
            assert time.monotonic() < deadline, f"make cluster not ready:\n{output()}"
            time.sleep(0.5)
        yield proc, state_dir, output
    finally:
        # Ctrl-C: SIGINT to the group reaches make and the script, which stops
        # every process it started (they run in their own sessions).
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(90)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        state = read_state(state_dir)
        if state is not None:  # the script did not finish its cleanup: do it here
            subprocess.run(
                [
                    sys.executable,
                    os.path.join(ROOT, "scripts", "cluster.py"),
                    "down",
                    "--state-dir",
                    state_dir,
                ],
                timeout=120,
            )
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(state_dir, ignore_errors=True)


class Prober(threading.Thread):
    """GET /api/rooms through nginx every 0.1 s; counts what did not answer 200."""

    def __init__(self, url, token):
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.ok = 0
        self.failures = []
        self.instances = set()
        self._halt = threading.Event()

    def run(self):
        session = requests.Session()
        while not self._halt.is_set():
            try:
                r = session.get(
                    self.url + "/api/rooms",
                    timeout=5,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
                if r.status_code == 200:
                    self.ok += 1
                    self.instances.add(r.headers.get("X-Instance"))
                else:
                    self.failures.append(r.status_code)
            except requests.RequestException as exc:
                self.failures.append(type(exc).__name__)
            self._halt.wait(0.1)
        session.close()

    def stop(self):
        self._halt.set()
        self.join(10)


def test_make_cluster_restarts_a_killed_instance_and_keeps_serving(make_cluster):
    proc, state_dir, output = make_cluster
    cluster = RunningCluster(read_state(state_dir))
    chat = ChatLoad(cluster, "supervised").start()
    prober = None
    try:
        time.sleep(WARMUP)
        victim_id = chat.members[0].instance()
        victim = cluster.instance(victim_id)
        others = {i["id"]: i["pid"] for i in cluster.state["instances"] if i["id"] != victim_id}
        prober = Prober(cluster.url, chat.accounts[0].token)
        prober.start()

        killed_at = time.monotonic()
        os.killpg(victim["pid"], signal.SIGKILL)

        def restarted():
            state = read_state(state_dir) or {}
            now = next((i for i in state.get("instances", []) if i["id"] == victim_id), None)
            return now and now["pid"] != victim["pid"] and ready(victim["url"]) and now

        again = wait_until(
            restarted,
            timeout=BACK_BOUND,
            interval=0.1,
            message=f"{victim_id} started again and ready",
        )
        back_s = time.monotonic() - killed_at
        # The same id and port: nginx's upstream entry serves it again.
        assert again["port"] == victim["port"] and again["url"] == victim["url"]
        response = requests.get(victim["url"] + "/healthz", timeout=2)
        assert response.headers["X-Instance"] == victim_id
        assert f"{victim_id} exited (killed by SIGKILL)" in output()
        # Nobody else was touched, and the script is still running.
        state = read_state(state_dir)
        assert {i["id"]: i["pid"] for i in state["instances"] if i["id"] != victim_id} == others
        assert all(ready(i["url"]) for i in state["instances"])
        assert proc.poll() is None

        time.sleep(AFTER)
        prober.stop()
        chat.stop_senders()
        chat.wait_delivered()
        figures = chat.audit()
    finally:
        if prober is not None:
            prober.stop()
        chat.close()

    figures.update(
        {
            "what": f"`make cluster INSTANCES={INSTANCES}`: SIGKILL of {victim_id} under load; "
            "the script restarts it on its port while the others serve",
            "instance_back_ready_s": rounded(back_s),
            "back_bound_s": BACK_BOUND,
            "probe_requests_ok": prober.ok,
            "probe_requests_failed": len(prober.failures),
            "probe_failures": prober.failures[:10],
        }
    )
    record_figures("make_cluster_instance_sigkill", figures)

    assert back_s <= BACK_BOUND
    assert prober.ok > 0 and prober.failures == [], prober.failures
    assert figures["gave_up"] == 0, figures
    assert figures["acked"] > 0
    assert figures["acked_not_stored"] == [] and figures["stored_not_acked"] == [], figures
    assert figures["duplicated_stored"] == 0, figures
    assert figures["lost"] == 0, figures["missing_by_member"]
    assert figures["delivered"] == figures["expected_deliveries"], figures
