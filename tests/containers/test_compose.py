"""docker-compose.yml for real: `make compose` brings the stack up once for this
module (4 api replicas, the migrator, nginx, Redis, PostgreSQL), the tests drive
it from client containers on its frontend network, and the last test takes it
down with `make compose-down`.

Everything goes over HTTPS with the certificate nginx made at its first start,
verified against the CA it made (copied out of its volume); plain HTTP only
redirects. Every container is checked for its limits and locks (docker
inspect), and Redis for refusing clients without its password.

The clients sit in their own /24s of the frontend network's /16: from the host
every request reaches nginx from one address (Docker's port proxy), so only
clients inside the network let nginx's ip_hash spread them over the replicas.
"""

import json
import re
import time

import pytest
import requests
from docker_tools import (
    ClientContainer,
    LoadRun,
    assert_nothing_lost,
    client_addresses,
    docker,
    free_port,
    free_subnet,
    prepare_docker,
    project_resources,
    run,
    stack_env,
    unique_project,
    wait_until,
)

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

SCALE = 4
NEW_REPLICA_TRAFFIC_BOUND = 15  # seconds: nginx re-resolves `api` every 10 s


class ComposeStack:
    def __init__(self, tmp_path):
        self.project = unique_project("chat-test")
        self.port = free_port()  # HTTPS
        self.http_port = free_port()
        self.subnet = free_subnet()
        env_file = tmp_path / "compose.env"
        # Random secrets of this run; SEED_DEMO is deliberately not set.
        env_file.write_text(
            f"SECRET_KEY={time.time_ns():x}{id(self):x}secret\n"
            f"POSTGRES_PASSWORD=pw{time.time_ns():x}\n"
        )
        secrets = tmp_path / "secrets"
        secrets.mkdir(mode=0o700)
        self.redis_password = f"rp{time.time_ns():x}"
        (secrets / "redis_password").write_text(self.redis_password)
        self.env = stack_env(
            tmp_path,
            COMPOSE_PROJECT_NAME=self.project,
            COMPOSE_ENV_FILES=str(env_file),
            CHAT_FRONTEND_SUBNET=str(self.subnet),
            CHAT_REDIS_PASSWORD_FILE=str(secrets / "redis_password"),
        )
        self.ca_file = tmp_path / "ca.crt"
        self.network = f"{self.project}_frontend"
        self.up_seconds = None

    def make(self, target, timeout=900, **variables):
        args = [f"{k}={v}" for k, v in variables.items()]
        return run(["make", "--no-print-directory", target, *args], env=self.env, timeout=timeout)

    def compose(self, *args, timeout=300, extra_env=None):
        return run(
            ["docker", "compose", *args], env={**self.env, **(extra_env or {})}, timeout=timeout
        )

    def containers(self, service):
        """[{Name, ID, Health, State, ...}] of one service."""
        out = self.compose("ps", "--all", "--format", "json", service).stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return rows[0] if rows and isinstance(rows[0], list) else rows

    def logs(self, *services):
        return self.compose("logs", "--no-color", "--timestamps", *services).stdout

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def get(self, path):
        """GET over HTTPS from the host, verified against nginx's CA."""
        return requests.get(self.url(path), timeout=15, verify=str(self.ca_file))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    prepare_docker()
    stack = ComposeStack(tmp_path_factory.mktemp("compose"))
    started = time.monotonic()
    try:
        stack.make("compose", SCALE=SCALE, CHAT_PORT=stack.port, CHAT_HTTP_PORT=stack.http_port)
        stack.up_seconds = round(time.monotonic() - started, 1)
        # The CA nginx made at its first start, which clients are to trust.
        stack.compose("cp", "nginx:/etc/nginx/tls/ca.crt", str(stack.ca_file))
        print(f"\nmake compose: {stack.up_seconds} s to a healthy stack")
        yield stack
    finally:
        if any(project_resources(stack.project).values()):
            stack.make("compose-down", timeout=300)


@pytest.fixture(scope="module")
def client(stack):
    """One client container holding .10 in /24s 1..48 of the frontend /16."""
    addresses = client_addresses(stack.subnet, 48)
    container = ClientContainer(
        stack.network, addresses[0], addresses[1:], ca_file=stack.ca_file
    ).start()
    yield container
    container.stop()


def instance_container(stack, instance_id):
    """The api or migrator container whose hostname starts the X-Instance id."""
    hostname = instance_id.rsplit("-", 1)[0]
    for service in ("api", "migrator"):
        for row in stack.containers(service):
            if row["ID"].startswith(hostname):
                return service, row
    raise AssertionError(f"no container for instance {instance_id}")


def instance_map(client, sources):
    return client.python("instances", *sources)


def api_hostnames(stack):
    return {row["ID"][:12] for row in stack.containers("api") if row["State"] == "running"}


def test_stack_is_up_with_every_app_container_healthy(stack):
    api = stack.containers("api")
    assert len(api) == SCALE, api
    for row in api + stack.containers("migrator"):
        assert row["State"] == "running" and row["Health"] == "healthy", row
    assert stack.containers("nginx")[0]["State"] == "running"


def test_migrator_migrated_once_and_the_replicas_waited_for_it(stack):
    logs = stack.logs("migrator", "api")
    migrated = [line for line in logs.splitlines() if "migrated to head" in line]
    assert len(migrated) == 1 and migrated[0].startswith("migrator"), migrated
    assert "Running upgrade" not in stack.logs("api")
    migrated_at = migrated[0].split()[2]
    starts = re.findall(r"^(api-\d+)\s*\|\s*(\S+) entrypoint\[serve\]: starting", logs, re.M)
    assert len({name for name, _ in starts}) == SCALE, starts
    # RFC 3339 timestamps of one clock compare as strings.
    assert all(at > migrated_at for _, at in starts), (migrated_at, starts)
    waits = re.findall(r"^api-\d+\s*\|\s*\S+ entrypoint\[serve\]: waiting", logs, re.M)
    assert len(waits) == SCALE


def test_operator_endpoints_are_not_public_but_the_app_serves_them_inside(stack):
    for path in ("/metrics", "/readyz"):
        response = stack.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert stack.get("/healthz").status_code == 200
    # Health checks and scrapes go to each instance's own port, inside.
    probe = (
        "import urllib.request as u; print(u.urlopen('http://127.0.0.1:5000/metrics').read()[:200])"
    )
    out = stack.compose("exec", "-T", "--index", "1", "api", "python", "-c", probe).stdout
    assert "chat_http_requests_total" in out or "# HELP" in out


def test_rest_contract_through_nginx_from_the_frontend_network(stack, client):
    report = client.python("contract", client.addresses[0])
    failed = [r for r in report["results"] if not r["ok"]]
    assert not failed, failed
    assert len(report["results"]) >= 23
    # The Socket.IO handshake that carried ?token= is in nginx's access log,
    # without the token.
    nginx_log = stack.logs("nginx")
    assert "/socket.io/" in nginx_log
    assert report["query_token"] not in nginx_log
    assert "token=" not in nginx_log


def test_socketio_chat_across_replicas_from_distinct_networks(stack, client):
    sources = client.addresses[:24]
    seen = instance_map(client, sources)
    by_instance = {}
    for source, instance in seen.items():
        by_instance.setdefault(instance, source)
    # ip_hash spreads clients of different /24s over the migrator and replicas.
    assert len(by_instance) >= 3, seen
    source_a, source_b = list(by_instance.values())[:2]
    result = client.python("chat", source_a, source_b)
    a, b = result["instances"]
    assert a and b and a != b, result
    assert result["b_got"] == "from a" and result["a_got"] == "from b over REST"
    # Both upgraded to a WebSocket over TLS (the handshake over https://).
    assert result["transports"] == ["websocket", "websocket"], result
    assert all(url.startswith("https://nginx/") for url in result["urls"]), result


def test_https_with_redirect_hsts_and_the_origin_check_through_nginx(stack, client):
    report = client.python("tls", client.addresses[0], f"https://nginx:{stack.port}")
    failed = [r for r in report["results"] if not r["ok"]]
    assert not failed, failed
    # From the host too, through the published ports.
    plain = requests.get(
        f"http://127.0.0.1:{stack.http_port}/healthz", timeout=10, allow_redirects=False
    )
    assert plain.status_code == 308
    assert plain.headers["Location"] == f"https://127.0.0.1:{stack.port}/healthz"
    assert stack.get("/healthz").status_code == 200


# What each service may add back after `cap_drop: [ALL]` (docker-compose.yml says why).
ADDED_CAPABILITIES = {
    "db": {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID"},
    "nginx": {"CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"},
}


def test_every_container_has_limits_a_read_only_root_and_no_capabilities(stack):
    rows = [
        row
        for service in ("db", "redis", "migrator", "api", "nginx")
        for row in stack.containers(service)
    ]
    assert len(rows) == 4 + SCALE, rows
    for info in json.loads(docker("inspect", *(row["ID"] for row in rows)).stdout):
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        host = info["HostConfig"]
        name = info["Name"]
        assert host["Memory"] > 0 and host["NanoCpus"] > 0, (name, host["Memory"])
        assert host["ReadonlyRootfs"] is True, name
        assert host["CapDrop"] == ["ALL"], (name, host["CapDrop"])
        added = {c if c.startswith("CAP_") else f"CAP_{c}" for c in host["CapAdd"] or []}
        assert added == ADDED_CAPABILITIES.get(service, set()), (name, added)
        assert "no-new-privileges:true" in (host["SecurityOpt"] or []), name
        # What the process really holds: no capability beyond those.
        status = docker("exec", info["Id"], "cat", "/proc/1/status").stdout
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), name
        # Nothing may be written outside the tmpfs and volumes.
        probe = docker("exec", info["Id"], "sh", "-c", "touch /probe", check=False)
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr, name


def test_redis_refuses_commands_without_its_password(stack):
    def redis_cli(*args, password=None):
        env = ["env", f"REDISCLI_AUTH={password}"] if password else []
        result = stack.compose("exec", "-T", "redis", *env, "redis-cli", *args)
        return (result.stderr + result.stdout).strip()

    assert redis_cli("ping").startswith("NOAUTH")
    assert redis_cli("publish", "chat", "forged").startswith("NOAUTH")
    refused = redis_cli("ping", password="not-the-password")
    assert "WRONGPASS" in refused and refused.endswith("NOAUTH Authentication required."), refused
    assert redis_cli("ping", password=stack.redis_password) == "PONG"
    # The app's containers carry the password in no setting docker shows:
    # entrypoint.sh puts it into REDIS_URL from the secret file.
    for row in stack.containers("api") + stack.containers("migrator"):
        info = json.loads(docker("inspect", row["ID"]).stdout)[0]
        assert not [e for e in info["Config"]["Env"] if stack.redis_password in e], row["Name"]


def test_replica_killed_under_load_loses_nothing_acknowledged(stack, client):
    load = LoadRun(client, client.addresses[:12])
    victims = [i for i in load.distribution if instance_container(stack, i)[0] == "api"]
    assert victims, load.distribution
    victim = max(victims, key=load.distribution.get)
    _, row = instance_container(stack, victim)
    time.sleep(2)
    docker("kill", row["ID"])
    time.sleep(8)
    figures = load.stop()
    print(f"\nreplica killed under load: {json.dumps(figures)[:600]}")
    assert figures["reconnects"] >= load.distribution[victim], figures
    assert victim not in figures["distribution_after"], figures["distribution_after"]
    assert_nothing_lost(figures, logs=stack.logs)
    # Without it: one replica fewer for what follows.
    docker("rm", "--force", row["ID"])


def test_rolling_update_of_the_api_service_loses_nothing_acknowledged(stack, client):
    """The documented rolling update: start the new replicas next to the old,
    then stop the old ones, which drain; nginx follows both through DNS."""
    old = api_hostnames(stack)
    # The replica the previous test killed may still be in nginx's
    # fail_timeout: start once every source is served by a replica again.
    before = instance_map(client, client.addresses[:12])
    assert all(before.values()), before
    load = LoadRun(client, client.addresses[:12])
    time.sleep(1)
    run(["sh", "scripts/compose-rolling-update.sh"], env=stack.env, timeout=300)
    time.sleep(2)
    figures = load.stop()
    print(f"\nrolling update under load: {json.dumps(figures)[:600]}")
    now = api_hostnames(stack)
    assert len(now) == len(old) and not (now & old), (old, now)
    assert_nothing_lost(figures, logs=stack.logs)
    served = {i.rsplit("-", 1)[0][:12] for i in instance_map(client, client.addresses).values()}
    assert not (served & old), served


def test_scaling_to_6_new_replicas_get_traffic_without_touching_nginx(stack, client):
    before = api_hostnames(stack)
    assert len(before) < 6
    nginx_before = stack.containers("nginx")[0]
    stack.compose("up", "--detach", "--wait", "--no-recreate", "--scale", "api=6")
    started = time.monotonic()
    new = api_hostnames(stack) - before
    assert len(new) == 6 - len(before), new

    def new_replicas_answer():
        served = {i.rsplit("-", 1)[0] for i in instance_map(client, client.addresses).values()}
        return new <= {h[:12] for h in served}

    wait_until(
        new_replicas_answer,
        timeout=NEW_REPLICA_TRAFFIC_BOUND,
        interval=1,
        message="both new replicas serving clients through nginx",
    )
    print(f"\nnew replicas got traffic {time.monotonic() - started:.1f} s after they were healthy")
    # nginx was neither restarted nor reloaded.
    assert stack.containers("nginx")[0]["ID"] == nginx_before["ID"]
    assert "reconfiguring" not in stack.logs("nginx")


def test_compose_down_leaves_no_container_network_or_volume(stack, client):
    assert project_resources(stack.project)["volumes"], "the database volume should exist"
    client.stop()  # not the project's: it would hold the frontend network
    # With no instance left, nginx answers in the API's error shape.
    stack.compose("kill", "api", "migrator")
    response = stack.get("/api/rooms")
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    stack.make("compose-down", timeout=300)
    assert docker("info", check=False).returncode == 0, (
        "make compose-down stopped the engine that the tests started, not one it started"
    )
    assert project_resources(stack.project) == {"containers": [], "networks": [], "volumes": []}
