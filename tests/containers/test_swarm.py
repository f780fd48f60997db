"""deploy/swarm/docker-stack.yml for real on a single-node swarm: `make swarm`
deploys it (initialising a swarm if there is none), the black-box chat runs
through its nginx from client containers on the stack's attachable frontend
overlay, and `make swarm-down` removes it all again.

Deployed once for the module. Every service is `endpoint_mode: dnsrr` and
nginx publishes in host mode: this kernel has no IPVS (docs/swarm.md). The
chat is reached over HTTPS with the certificate nginx made at its start,
verified against its CA; every task is checked for its limits and locks, and
Redis for refusing clients without its password.
"""

import json
import re
import time
from pathlib import Path

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
    print_problems,
    run,
    stack_logs,
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
        self.port = free_port()  # HTTPS
        self.http_port = free_port()
        self.prometheus_port = free_port()
        self.subnet = free_subnet()
        self.redis_password = f"rp{time.time_ns():x}"
        self.env = {
            **TEST_ENV,
            "STACK": self.name,
            "CHAT_FRONTEND_SUBNET": str(self.subnet),
            "PROMETHEUS_PORT": str(self.prometheus_port),
            "SECRET_KEY": f"swarm-test-{time.time_ns():x}",
            "POSTGRES_PASSWORD": f"pw{time.time_ns():x}",
            "REDIS_PASSWORD": self.redis_password,
        }
        self.network = f"{self.name}_frontend"
        self.ca_file = None

    def make(self, target, **variables):
        return run(
            ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())],
            env=self.env,
            timeout=900,
        )

    def container(self, service):
        """The id of the running container of a one-replica service."""
        label = f"label=com.docker.swarm.service.name={self.name}_{service}"
        ids = docker("ps", "-q", "--filter", label).stdout.split()
        assert len(ids) == 1, (service, ids)
        return ids[0]

    def get(self, path):
        return requests.get(
            f"https://127.0.0.1:{self.port}{path}", timeout=10, verify=str(self.ca_file)
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
def swarm(tmp_path_factory):
    prepare_docker()
    stack = SwarmStack()
    state_before = swarm_state()
    started = time.monotonic()
    try:
        stack.make("swarm", SCALE=SCALE, CHAT_PORT=stack.port, CHAT_HTTP_PORT=stack.http_port)
        print(f"\nmake swarm: {time.monotonic() - started:.1f} s to a deployed stack")
        stack.ca_file = tmp_path_factory.mktemp("swarm") / "ca.crt"
        docker("cp", f"{stack.container('nginx')}:/etc/nginx/tls/ca.crt", str(stack.ca_file))
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
    container = ClientContainer(
        swarm.network, addresses[0], addresses[1:], ca_file=swarm.ca_file
    ).start()
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
    for name, network in stack["networks"].items():
        assert network["driver"] == "overlay", name
    assert stack["networks"]["backend"]["internal"] is True
    # Encryption comes with the second stack file, added where the kernel can.
    encrypted = yaml.safe_load((STACK_FILE.parent / "encrypted-networks.yml").read_text())
    assert set(encrypted["networks"]) == set(stack["networks"])
    for network in encrypted["networks"].values():
        assert network == {"driver_opts": {"encrypted": "true"}}
    assert all(s["external"] for s in stack["secrets"].values())


# What a service adds back after `cap_drop: [ALL]` (docker-stack.yml says why).
ADDED_CAPABILITIES = {
    "db": {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID"},
    "nginx": {"CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"},
}


def test_stack_file_locks_every_service_down():
    import yaml

    stack = yaml.safe_load(STACK_FILE.read_text())
    for name, service in stack["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and float(limits["cpus"]) > 0, name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        added = {f"CAP_{c}" for c in service.get("cap_add", [])}
        assert added == ADDED_CAPABILITIES.get(name, set()), name
    assert stack["services"]["redis"]["secrets"] == ["redis_password"]
    assert stack["services"]["api"]["environment"]["REDIS_PASSWORD_FILE"] == (
        "/run/secrets/redis_password"
    )
    assert stack["secrets"]["redis_password"]["external"] is True


def test_every_task_is_limited_read_only_and_without_capabilities(swarm):
    label = f"label=com.docker.stack.namespace={swarm.name}"
    ids = docker("ps", "-q", "--filter", label).stdout.split()
    assert len(ids) == 5 + SCALE, ids  # db, redis, migrator, nginx, prometheus, the api
    for info in json.loads(docker("inspect", *ids).stdout):
        service = info["Config"]["Labels"]["com.docker.swarm.service.name"].split("_", 1)[1]
        host = info["HostConfig"]
        name = info["Name"]
        assert host["Memory"] > 0 and host["NanoCpus"] > 0, name
        assert host["ReadonlyRootfs"] is True, name
        assert host["CapDrop"] == ["CAP_ALL"] or host["CapDrop"] == ["ALL"], (name, host["CapDrop"])
        added = {c if c.startswith("CAP_") else f"CAP_{c}" for c in host["CapAdd"] or []}
        assert added == ADDED_CAPABILITIES.get(service, set()), (name, added)
        probe = docker("exec", info["Id"], "sh", "-c", "touch /probe", check=False)
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr, name


def test_redis_refuses_commands_without_its_password(swarm):
    redis = swarm.container("redis")
    out = docker("exec", redis, "redis-cli", "ping").stdout
    assert out.startswith("NOAUTH"), out
    authed = docker(
        "exec", redis, "env", f"REDISCLI_AUTH={swarm.redis_password}", "redis-cli", "ping"
    )
    assert authed.stdout.strip() == "PONG"


def kernel_can_encrypt_overlays():
    """IPsec ESP and AES-GCM in this kernel, as scripts/swarm.sh asks."""
    import gzip

    try:
        with gzip.open("/proc/config.gz", "rt") as config:
            text = config.read()
    except OSError:
        return None  # unknown here: the test below cannot tell
    wanted = [("CONFIG_INET_ESP", "esp4"), ("CONFIG_CRYPTO_GCM", "gcm")]
    return all(
        re.search(rf"^{option}=[ym]$", text, re.M) or Path(f"/sys/module/{module}").is_dir()
        for option, module in wanted
    )


def test_overlay_networks_are_encrypted_where_the_kernel_can(swarm):
    expected = kernel_can_encrypt_overlays()
    if expected is None:
        pytest.skip("this kernel does not say whether it has IPsec ESP (no /proc/config.gz)")
    for network in ("backend", "frontend"):
        info = json.loads(docker("network", "inspect", f"{swarm.name}_{network}").stdout)[0]
        encrypted = info["Options"].get("encrypted") == "true"
        assert encrypted is expected, (network, info["Options"])


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
    assert swarm.get("/healthz").status_code == 200
    assert swarm.get("/metrics").status_code == 404
    plain = requests.get(
        f"http://127.0.0.1:{swarm.http_port}/healthz", timeout=10, allow_redirects=False
    )
    assert plain.status_code == 308
    assert plain.headers["Location"] == f"https://127.0.0.1:{swarm.port}/healthz"
    tls = client.python("tls", client.addresses[0], f"https://nginx:{swarm.port}")
    failed = [r for r in tls["results"] if not r["ok"]]
    if failed:
        print_problems(stack_logs(swarm.name))
    assert not failed, tls
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
