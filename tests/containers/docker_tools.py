"""Docker for the container tests: the engine prepared by scripts/docker-env.sh,
compose projects run through the Makefile, and client containers on a stack's
frontend network.

Nothing here is mocked: the stacks are the shipped docker-compose.yml and
docker-stack.yml, the images are built from docker/Dockerfile (with local
stand-ins for the base images where no registry is reachable), and every
client talks to the published nginx from inside the Docker network.
"""

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
# The integration tests' client helpers (also copied into the client image).
sys.path.insert(0, str(TESTS / "integration"))
from socket_clients import wait_until  # noqa: E402,F401  (re-exported to the tests)

CLIENT_IMAGE = "chat-test-client:latest"
# The tests start dockerd (when it is not running) with their own state dir.
# Every stack a test brings up and down gets another one (stack_env), so that
# the `make compose-down` a test runs never stops the engine under the tests.
TEST_ENV = {**os.environ, "CHAT_DOCKER_STATE": "/var/tmp/chat-docker-tests"}


def stack_env(tmp_path, **extra):
    """The environment for a test's make/compose calls: TEST_ENV with a state
    dir of the stack's own, where no dockerd pid is ever written (the engine is
    running before any stack starts), so `stop-engine` has nothing to stop."""
    state = tmp_path / "docker-state"
    state.mkdir(exist_ok=True)
    return {**TEST_ENV, "CHAT_DOCKER_STATE": str(state), **extra}


def run(argv, timeout=300, check=True, env=None, cwd=ROOT, **kwargs):
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or TEST_ENV,
        cwd=cwd,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def docker(*args, **kwargs):
    return run(["docker", *args], **kwargs)


def prepare_docker():
    """The engine, the compose plugin and the base images, or a skip when
    Docker cannot run here at all (and only then)."""
    engine = run(["sh", "scripts/docker-env.sh", "engine"], check=False, timeout=300)
    if engine.returncode != 0:
        pytest.skip(
            "Docker cannot run on this machine, so the container tests cannot: "
            f"{(engine.stdout + engine.stderr).strip()[-500:]}"
        )
    # From here on a failure is a failure: Docker runs, so everything must work.
    run(["sh", "scripts/docker-env.sh", "compose"], timeout=600)
    run(["sh", "scripts/docker-env.sh", "standins"], timeout=1200)
    docker("build", "-q", "-t", CLIENT_IMAGE, str(TESTS / "containers" / "client"), timeout=900)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Outside Docker's default address pools (172.17-31.0.0/16, 192.168.0.0/16),
# so no network Docker allocates by itself meanwhile (a stack's backend, the
# swarm's docker_gwbridge) can take the range between choosing and using it.
TEST_SUBNETS = ["172.16.0.0/16", "10.200.0.0/16", "10.201.0.0/16"]


def free_subnet():
    """A private /16 for a test stack's frontend that no Docker network uses."""
    used = set()
    names = docker("network", "ls", "-q").stdout.split()
    if names:
        for net in json.loads(docker("network", "inspect", *names).stdout):
            for config in (net.get("IPAM") or {}).get("Config") or []:
                if config.get("Subnet"):
                    used.add(ipaddress.ip_network(config["Subnet"], strict=False))
    for candidate in map(ipaddress.ip_network, TEST_SUBNETS):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise AssertionError(f"none of {TEST_SUBNETS} is free among Docker's networks: {used}")


def unique_project(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def project_resources(project):
    """Containers, networks and volumes that carry the compose project's label."""
    label = f"label=com.docker.compose.project={project}"
    return {
        "containers": docker("ps", "-aq", "--filter", label).stdout.split(),
        "networks": docker("network", "ls", "-q", "--filter", label).stdout.split(),
        "volumes": docker("volume", "ls", "-q", "--filter", label).stdout.split(),
    }


CONTAINER_CA_FILE = "/tmp/chat-ca.crt"


class ClientContainer:
    """A long-lived client on `network` at `address`, also holding `.10` in each
    of the other /24s given (so one container is many clients for ip_hash).
    tests/ is mounted read-only; in_container.py runs there."""

    def __init__(self, network, address, extra_addresses=(), ca_file=None):
        self.name = unique_project("chat-test-client")
        # The CA that signed nginx's certificate: in_container.py verifies with it.
        self.ca_file = ca_file
        self.network = network
        self.address = address
        self.addresses = [address, *extra_addresses]
        self.prefix = ipaddress.ip_network(network_subnet(network)).prefixlen

    def start(self):
        docker(
            "run",
            "-d",
            "--rm",
            "--name",
            self.name,
            "--network",
            self.network,
            "--ip",
            self.address,
            "--cap-add",
            "NET_ADMIN",
            "-v",
            f"{TESTS}:/tests:ro",
            "-e",
            "PYTHONPATH=/tests/integration:/tests/containers",
            "-e",
            "PYTHONDONTWRITEBYTECODE=1",
            "-e",
            f"CHAT_TEST_CA_FILE={CONTAINER_CA_FILE if self.ca_file else ''}",
            "-w",
            "/tests/containers",
            CLIENT_IMAGE,
            "sleep",
            "infinity",
        )
        if self.ca_file:
            docker("cp", str(self.ca_file), f"{self.name}:{CONTAINER_CA_FILE}")
        if self.addresses[1:]:
            script = "; ".join(
                f"ip addr add {extra}/{self.prefix} dev eth0" for extra in self.addresses[1:]
            )
            docker("exec", self.name, "sh", "-ec", script)
        return self

    def python(self, *args, timeout=180):
        result = docker("exec", self.name, "python", "in_container.py", *args, timeout=timeout)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def popen(self, *args):
        return subprocess.Popen(
            ["docker", "exec", "-i", self.name, "python", "in_container.py", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self):
        docker("rm", "-f", self.name, check=False)


def network_subnet(network):
    info = json.loads(docker("network", "inspect", network).stdout)[0]
    return info["IPAM"]["Config"][0]["Subnet"]


def client_addresses(subnet, count, first=1):
    """`.10` in /24 number first, first+1, ... of the /16."""
    base = ipaddress.ip_network(subnet).network_address
    return [str(base + 256 * n + 10) for n in range(first, first + count)]


class LoadRun:
    """fault_load.ChatLoad running in a client container until stop()."""

    def __init__(self, client, sources, give_up=None):
        """give_up: seconds each sender keeps retrying one message (None: the
        fault tests' GIVE_UP)."""
        options = [] if give_up is None else [f"--give-up={give_up}"]
        self.process = client.popen("load", *options, *sources)
        line = self.process.stdout.readline()
        if not line.startswith("STARTED "):
            self.process.kill()
            raise AssertionError(f"the load did not start: {line}{self.process.stderr.read()}")
        self.distribution = json.loads(line[len("STARTED ") :])

    def stop(self, timeout=120):
        out, err = self.process.communicate("stop\n", timeout=timeout)
        lines = [ln for ln in out.splitlines() if ln.startswith("AUDIT ")]
        assert lines, f"no audit from the load:\n{out[-2000:]}\n{err[-3000:]}"
        return json.loads(lines[-1][len("AUDIT ") :])


def assert_nothing_lost(figures, logs=None):
    """As in the local-cluster fault tests: every acknowledged message stored
    once and delivered to every member; nothing answered with a server error.
    logs: a callable returning the stack's logs; on a failure, their warnings
    and errors are printed (pytest shows them with the failure)."""
    try:
        _assert_nothing_lost(figures)
    except AssertionError:
        if logs is not None:
            print_problems(logs())
        raise


def print_problems(logs):
    """Prints the last 60 warnings and errors of a stack's logs (pytest shows them
    with a failure)."""
    print("warnings and errors in the stack's logs (the last 60):")
    print("\n".join(problem_lines(logs)[-60:]))


def stack_logs(stack, docker_cli=docker, services=("api", "migrator", "nginx")):
    """The stack's services' logs, as one text; docker_cli: the docker CLI to ask
    (the local engine's by default)."""
    out = []
    for service in services:
        result = docker_cli("service", "logs", "--raw", f"{stack}_{service}", check=False)
        out.append(result.stdout + result.stderr)
    return "\n".join(out)


PROBLEM_WORDS = re.compile(
    r"\b(warn|warning|error|alert|crit|emerg|traceback|exception)\b", re.IGNORECASE
)


def problem_lines(text):
    return [line for line in text.splitlines() if PROBLEM_WORDS.search(line)]


def _assert_nothing_lost(figures):
    assert figures["acked"] > 0, figures
    assert figures["gave_up"] == 0, figures
    assert figures["acked_not_stored"] == [], figures
    assert figures["stored_not_acked"] == [], figures
    assert figures["duplicated_stored"] == 0, figures
    assert figures["lost"] == 0, (figures["missing_by_member"], figures.get("loss_detail"))
    assert figures["delivered"] == figures["expected_deliveries"], figures
    assert not [k for k in figures["failures_by_kind"] if "500" in k or "internal" in k], figures[
        "failures_by_kind"
    ]
