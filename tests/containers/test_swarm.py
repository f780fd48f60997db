"""deploy/swarm/docker-stack.yml for real on a single-node swarm: `make swarm`
deploys it (initialising a swarm if there is none), the black-box chat runs
through its nginx from client containers on the stack's attachable frontend
overlay, and `make swarm-down` removes it all again.

Deployed once for the module. Every service is `endpoint_mode: dnsrr` and
nginx publishes in host mode: this kernel has no IPVS (docs/swarm.md).
"""

import re
import time

import pytest
import requests
from docker_tools import (
    ROOT,
    TEST_ENV,
    ClientContainer,
    client_addresses,
    docker,
    free_port,
    free_subnet,
    prepare_docker,
    run,
    unique_project,
)

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

SCALE = 2
STACK_FILE = ROOT / "deploy" / "swarm" / "docker-stack.yml"
SWARM_NGINX = ROOT / "deploy" / "swarm" / "nginx.conf"
COMPOSE_NGINX = ROOT / "nginx" / "nginx.conf"


class SwarmStack:
    def __init__(self):
        self.name = unique_project("chatsw").replace("-", "")
        self.port = free_port()
        self.prometheus_port = free_port()
        self.subnet = free_subnet()
        self.env = {
            **TEST_ENV,
            "STACK": self.name,
            "CHAT_FRONTEND_SUBNET": str(self.subnet),
            "PROMETHEUS_PORT": str(self.prometheus_port),
            "SECRET_KEY": f"swarm-test-{time.time_ns():x}",
            "POSTGRES_PASSWORD": f"pw{time.time_ns():x}",
        }
        self.network = f"{self.name}_frontend"

    def make(self, target, **variables):
        return run(
            ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())],
            env=self.env,
            timeout=900,
        )

    def leftovers(self):
        label = f"label=com.docker.stack.namespace={self.name}"
        return {
            "containers": docker("ps", "-aq", "--filter", label).stdout.split(),
            "networks": docker("network", "ls", "-q", "--filter", label).stdout.split(),
            "volumes": docker("volume", "ls", "-q", "--filter", label).stdout.split(),
        }


def swarm_state():
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


@pytest.fixture(scope="module")
def swarm():
    prepare_docker()
    stack = SwarmStack()
    state_before = swarm_state()
    started = time.monotonic()
    try:
        stack.make("swarm", SCALE=SCALE, CHAT_PORT=stack.port)
        print(f"\nmake swarm: {time.monotonic() - started:.1f} s to a deployed stack")
        stack.state_before = state_before
        yield stack
    finally:
        if swarm_state() == "active" and docker(
            "stack", "ls", "--format", "{{.Name}}", check=False
        ).stdout.count(stack.name):
            stack.make("swarm-down")


@pytest.fixture(scope="module")
def client(swarm):
    addresses = client_addresses(swarm.subnet, 24, first=1)
    container = ClientContainer(swarm.network, addresses[0], addresses[1:]).start()
    yield container
    container.stop()


def test_nginx_swarm_config_is_the_compose_one_with_tasks_names():
    """One routing for both: only the upstream servers' names (and the header) differ."""
    body = lambda text: [ln for ln in text.splitlines() if not ln.startswith("#")]  # noqa: E731
    swarm, compose = body(SWARM_NGINX.read_text()), body(COMPOSE_NGINX.read_text())
    diff = [(a, b) for a, b in zip(compose, swarm) if a != b]
    assert len(swarm) == len(compose)
    assert diff == [
        (
            f"        server {s}:5000 resolve max_fails=1 fail_timeout=2s;",
            f"        server tasks.{s}:5000 resolve max_fails=1 fail_timeout=2s;",
        )
        for s in ("migrator", "api")
    ], diff


def test_stack_file_uses_dnsrr_host_ports_secrets_and_rolling_updates():
    import yaml

    stack = yaml.safe_load(STACK_FILE.read_text())
    services = stack["services"]
    for name, service in services.items():
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name
        assert service["deploy"]["restart_policy"]["condition"] == "any", name
    assert services["nginx"]["ports"][0]["mode"] == "host"
    api = services["api"]
    assert api["deploy"]["update_config"]["order"] == "start-first"
    assert api["deploy"]["update_config"]["failure_action"] == "rollback"
    assert api["environment"]["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert "DATABASE_PASSWORD_FILE" in api["environment"]
    assert ":" not in api["environment"]["DATABASE_URL"].split("@")[0].split("//")[1]
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"]
    assert "SEED_DEMO" not in api["environment"]
    assert stack["networks"]["backend"] == {"driver": "overlay", "internal": True}
    assert stack["networks"]["frontend"]["driver"] == "overlay"
    assert all(s["external"] for s in stack["secrets"].values())


def test_every_service_runs_its_replicas(swarm):
    out = docker("stack", "services", swarm.name, "--format", "{{.Name}} {{.Replicas}}").stdout
    replicas = dict(line.split() for line in out.splitlines())
    assert replicas[f"{swarm.name}_api"] == f"{SCALE}/{SCALE}"
    for service in ("migrator", "nginx", "db", "redis", "prometheus"):
        assert replicas[f"{swarm.name}_{service}"] == "1/1", replicas


def test_prometheus_finds_and_scrapes_every_app_replica(swarm):
    """deploy/prometheus/prometheus.yml on the stack: every api replica and the
    migrator found through the swarm's DNS and `up`, the rules loaded."""
    base = f"http://127.0.0.1:{swarm.prometheus_port}/api/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            result = requests.get(f"{base}/query", params={"query": 'up{job="chat"}'}, timeout=5)
            series = result.json()["data"]["result"]
        except (requests.RequestException, ValueError, KeyError):
            series = []
        if len(series) == SCALE + 1 and all(s["value"][1] == "1" for s in series):
            break
        assert time.monotonic() < deadline, f"not every replica up in Prometheus: {series}"
        time.sleep(3)
    groups = requests.get(f"{base}/rules", timeout=5).json()["data"]["groups"]
    assert {g["name"] for g in groups} == {"chat-recording", "chat-alerts"}


def test_migrator_migrated_and_the_replicas_waited(swarm):
    logs = docker("service", "logs", "--raw", f"{swarm.name}_migrator").stdout
    logs += docker("service", "logs", "--raw", f"{swarm.name}_migrator").stderr
    assert "migrated to head" in logs
    api = docker("service", "logs", "--raw", f"{swarm.name}_api")
    api_logs = api.stdout + api.stderr
    assert len(re.findall(r"entrypoint\[serve\]: starting", api_logs)) >= SCALE
    assert "Running upgrade" not in api_logs


def test_black_box_chat_through_the_swarm_nginx(swarm, client):
    assert requests.get(f"http://127.0.0.1:{swarm.port}/healthz", timeout=10).status_code == 200
    assert requests.get(f"http://127.0.0.1:{swarm.port}/metrics", timeout=10).status_code == 404
    report = client.python("contract", client.addresses[0])
    failed = [r for r in report["results"] if not r["ok"]]
    assert not failed, failed
    # The replicas and the migrator, through tasks.*: right after the deploy,
    # nginx may not have resolved every task yet (it re-resolves every 10 s).
    deadline = time.monotonic() + 25
    while True:
        seen = client.python("instances", *client.addresses)
        by_instance = {}
        for source, instance in seen.items():
            by_instance.setdefault(instance, source)
        if len(by_instance) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(by_instance) >= 3, seen
    source_a, source_b = list(by_instance.values())[:2]
    result = client.python("chat", source_a, source_b)
    assert len(set(result["instances"])) == 2, result
    assert result["b_got"] == "from a" and result["a_got"] == "from b over REST"
    nginx = docker("service", "logs", "--raw", f"{swarm.name}_nginx")
    assert report["query_token"] not in nginx.stdout + nginx.stderr


def test_swarm_down_removes_the_stack_and_leaves_the_swarm_it_made(swarm, client):
    client.stop()  # not the stack's: it would hold the attachable network
    swarm.make("swarm-down")
    assert swarm.leftovers() == {"containers": [], "networks": [], "volumes": []}
    secrets = docker("secret", "ls", "--format", "{{.Name}}", check=False).stdout
    assert swarm.name not in secrets
    assert swarm_state() == swarm.state_before
