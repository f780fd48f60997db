"""deploy/swarm/docker-stack.yml on a swarm of three nodes: `make swarm NODES=3`
starts three Docker engines as Docker-in-Docker containers (scripts/swarm-nodes.sh),
joins them into one swarm (three managers), deploys the stack across them with
deploy/swarm/placement.yml, and publishes nginx on this machine's loopback.

Clients on 24 /24s of the frontend overlay (in a container on node 1) reach
replicas on every node; then node 3, which holds only app replicas, is killed
under the fault tests' chat load: the swarm marks it down and starts its replicas
on the other nodes, every client whose replica was there reconnects and syncs,
and nothing acknowledged is lost. The figures (time to reschedule, time until
every client is back) are printed; docs/swarm.md gives them.
"""

import json
import os
import re
import subprocess
import time

import pytest
import requests
from docker_tools import (
    CLIENT_IMAGE,
    TEST_ENV,
    TESTS,
    LoadRun,
    assert_nothing_lost,
    client_addresses,
    docker,
    free_port,
    free_subnet,
    prepare_docker,
    run,
    stack_logs,
    unique_project,
)

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

NODES = 3
SCALE = 4
VICTIM = "node-3"  # app replicas only (placement.yml pins the rest to nodes 1 and 2)
NODE_LABEL = "chat.swarm-node"
# After the kill: how long the load goes on, and how long a sender keeps
# retrying one message. A socket whose replica's FIN or RST never left the node
# (any of them when its network is cut first, some of them at times when only
# its container is killed) is noticed only when the server's pings stop
# (ping_interval + ping_timeout, 40 s); then the client reconnects and syncs,
# on a machine that may be busy with the rest of the suite.
AFTER_KILL_SECONDS = 90
SENDERS_GIVE_UP_S = 90


class NodesSwarm:
    def __init__(self):
        self.name = unique_project("chatnd").replace("-", "")
        self.port = free_port()
        self.http_port = free_port()
        self.prometheus_port = free_port()
        self.subnet = free_subnet()
        self.env = {
            **TEST_ENV,
            "STACK": self.name,
            "CHAT_FRONTEND_SUBNET": str(self.subnet),
            "PROMETHEUS_PORT": str(self.prometheus_port),
            "SECRET_KEY": f"swarm-nodes-{time.time_ns():x}",
            "POSTGRES_PASSWORD": f"pw{time.time_ns():x}",
            "REDIS_PASSWORD": f"rp{time.time_ns():x}",
        }
        self.node_env = None  # DOCKER_HOST: node 1's engine, once up
        self.ca_file = None

    def make(self, target, **variables):
        return run(
            ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())],
            env=self.env,
            timeout=900,
        )

    def docker(self, *args, **kwargs):
        """The docker CLI against the swarm (node 1, a manager)."""
        return docker(*args, env=self.node_env, **kwargs)

    def tasks(self, service):
        """The service's tasks that should be running: node, state and the
        container's hostname (the start of X-Instance)."""
        ids = self.docker(
            "service", "ps", "-q", "--filter", "desired-state=running", f"{self.name}_{service}"
        ).stdout.split()
        if not ids:
            return []
        nodes = {
            n["ID"]: n["Description"]["Hostname"]
            for n in json.loads(self.docker("node", "inspect", *self.node_ids()).stdout)
        }
        return [
            {
                "node": nodes.get(task["NodeID"]),
                "state": task["Status"]["State"],
                "container": (task["Status"].get("ContainerStatus") or {}).get("ContainerID", "")[
                    :12
                ],
            }
            for task in json.loads(self.docker("inspect", *ids).stdout)
        ]

    def on_node(self, node, *args, **kwargs):
        """The docker CLI against one node's own engine (its socket beside node 1's)."""
        host = self.node_env["DOCKER_HOST"].replace("/node-1/", f"/{node}/")
        return docker(*args, env={**self.node_env, "DOCKER_HOST": host}, **kwargs)

    def node_ids(self):
        return self.docker("node", "ls", "-q").stdout.split()

    def node_states(self):
        infos = json.loads(self.docker("node", "inspect", *self.node_ids()).stdout)
        return {n["Description"]["Hostname"]: n["Status"]["State"] for n in infos}

    def service_nodes(self, service):
        return sorted(t["node"] for t in self.tasks(service) if t["state"] == "running")

    def logs(self):
        return stack_logs(self.name, self.docker)


class NodeClient:
    """tests/containers' client container, run on node 1's engine on the
    stack's attachable frontend overlay, holding `.10` in many /24s of it (so
    nginx's ip_hash spreads its sources over the replicas on every node). The
    node has no copy of this checkout: tests/integration and tests/containers
    are copied in."""

    def __init__(self, swarm, addresses):
        self.swarm = swarm
        self.name = unique_project("chat-test-client")
        self.addresses = addresses
        self.prefix = swarm.subnet.prefixlen

    def start(self):
        swarm = self.swarm
        swarm.docker(
            "run", "-d", "--rm", "--name", self.name,
            "--network", f"{swarm.name}_frontend", "--ip", self.addresses[0],
            "--cap-add", "NET_ADMIN",
            "-e", "PYTHONPATH=/tests/integration:/tests/containers",
            "-e", "PYTHONDONTWRITEBYTECODE=1",
            "-e", "CHAT_TEST_CA_FILE=/tmp/chat-ca.crt",
            "-w", "/tests/containers",
            CLIENT_IMAGE, "sleep", "infinity",
        )  # fmt: skip
        tar = subprocess.run(
            ["tar", "-C", str(TESTS), "-c", "--exclude=__pycache__", "integration", "containers"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(
            ["docker", "exec", "-i", self.name, "sh", "-c", "tar -C /tests -x"],
            input=tar,
            env=swarm.node_env,
            check=True,
            timeout=60,
        )
        swarm.docker("cp", str(swarm.ca_file), f"{self.name}:/tmp/chat-ca.crt")
        script = "; ".join(f"ip addr add {a}/{self.prefix} dev eth0" for a in self.addresses[1:])
        swarm.docker("exec", self.name, "sh", "-ec", script)
        return self

    def python(self, *args, timeout=180):
        result = self.swarm.docker(
            "exec", self.name, "python", "in_container.py", *args, timeout=timeout
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    def popen(self, *args):
        return subprocess.Popen(
            ["docker", "exec", "-i", self.name, "python", "in_container.py", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.swarm.node_env,
        )

    def stop(self):
        self.swarm.docker("rm", "-f", self.name, check=False)


def node_leftovers():
    label = f"label={NODE_LABEL}"
    return {
        "containers": docker("ps", "-aq", "--filter", label).stdout.split(),
        "volumes": docker("volume", "ls", "-q", "--filter", label).stdout.split(),
        "networks": docker("network", "ls", "-q", "--filter", label).stdout.split(),
    }


@pytest.fixture(scope="module")
def swarm(tmp_path_factory):
    prepare_docker()
    assert node_leftovers()["containers"] == [], "another swarm of nodes is up here"
    stack = NodesSwarm()
    started = time.monotonic()
    try:
        stack.make(
            "swarm",
            NODES=NODES,
            SCALE=SCALE,
            CHAT_PORT=stack.port,
            CHAT_HTTP_PORT=stack.http_port,
        )
        print(f"\nmake swarm NODES={NODES}: {time.monotonic() - started:.1f} s to a deployed stack")
        host = run(["sh", "scripts/swarm-nodes.sh", "host"], env=stack.env).stdout.strip()
        stack.node_env = {**TEST_ENV, "DOCKER_HOST": host}
        stack.ca_file = tmp_path_factory.mktemp("swarm-nodes") / "ca.crt"
        (nginx,) = stack.docker(
            "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack.name}_nginx"
        ).stdout.split()
        stack.docker("cp", f"{nginx}:/etc/nginx/tls/ca.crt", str(stack.ca_file))
        # The client image into node 1 (no registry here: nodes cannot pull).
        run(["sh", "scripts/swarm-nodes.sh", "load", CLIENT_IMAGE, "node-1"], env=stack.env)
        yield stack
    finally:
        stack.make("swarm-down")


@pytest.fixture(scope="module")
def client(swarm):
    container = NodeClient(swarm, client_addresses(swarm.subnet, 24, first=1)).start()
    yield container
    container.stop()


def instance_nodes(swarm, seen):
    """{source: node} from {source: X-Instance} (hostname-pid)."""
    where = {t["container"]: t["node"] for t in swarm.tasks("api") + swarm.tasks("migrator")}
    return {source: where.get((i or "").rsplit("-", 1)[0]) for source, i in seen.items()}


def test_three_managers_with_labels_and_the_stack_placed_by_them(swarm):
    infos = json.loads(swarm.docker("node", "inspect", *swarm.node_ids()).stdout)
    nodes = {n["Description"]["Hostname"]: n for n in infos}
    assert sorted(nodes) == [f"node-{i}" for i in range(1, NODES + 1)]
    for node in nodes.values():
        assert node["Status"]["State"] == "ready"
        assert node["Spec"]["Role"] == "manager"  # three managers: any one may be lost
    labels = {name: n["Spec"]["Labels"] for name, n in nodes.items()}
    assert labels["node-1"]["chat.edge"] == labels["node-1"]["chat.db"] == "true"
    assert labels["node-2"]["chat.redis"] == "true"
    assert {n["chat.zone"] for n in labels.values()} == set(nodes)
    assert swarm.service_nodes("db") == ["node-1"]
    assert swarm.service_nodes("redis") == ["node-2"]
    assert swarm.service_nodes("nginx") == ["node-1"]
    assert swarm.service_nodes("prometheus") == ["node-1"]
    # Spread over chat.zone: every node runs app replicas.
    api = swarm.service_nodes("api")
    assert len(api) == SCALE and set(api) == set(nodes), api
    # PostgreSQL's volume on its node.
    volumes = swarm.docker("volume", "ls", "-q").stdout.split()
    assert f"{swarm.name}_db-data" in volumes
    # nginx on this machine's loopback, mapped out of node 1's container.
    with requests.get(
        f"https://127.0.0.1:{swarm.port}/healthz", timeout=10, verify=str(swarm.ca_file)
    ) as response:
        assert response.status_code == 200


def engine_sets_no_new_privileges(node):
    """Whether the node's engine runs its containers with no-new-privileges by
    default: in its daemon.json or on dockerd's command line."""
    config = docker(
        "exec", f"chat-swarm-{node}", "sh", "-c",
        "cat /etc/docker/daemon.json 2>/dev/null || echo '{}'",
    ).stdout  # fmt: skip
    command_line = docker(
        "exec", f"chat-swarm-{node}", "sh", "-c",
        'tr "\\0" " " </proc/"$(pgrep -xo dockerd)"/cmdline',
    ).stdout  # fmt: skip
    return json.loads(config).get("no-new-privileges") is True or (
        "--no-new-privileges" in command_line.split()
    )


def test_every_task_runs_with_no_new_privileges(swarm):
    """`docker stack deploy` ignores security_opt, so each node's engine sets
    no-new-privileges for all its containers (docs/swarm.md, "Locked down"):
    every task of every service has it, on whichever node it runs."""
    services = swarm.docker("stack", "services", "--format", "{{.Name}}", swarm.name).stdout.split()
    names = sorted(s.removeprefix(f"{swarm.name}_") for s in services)
    assert {"db", "redis", "migrator", "api", "nginx"} <= set(names), names
    engine_default = {node: engine_sets_no_new_privileges(node) for node in swarm.node_states()}
    rows = []
    for service in names:
        tasks = [t for t in swarm.tasks(service) if t["state"] == "running"]
        assert tasks, (service, swarm.tasks(service))
        for task in tasks:
            node, container = task["node"], task["container"]
            (info,) = json.loads(swarm.on_node(node, "inspect", container).stdout)
            # What the process really has: the kernel's no_new_privs bit.
            status = swarm.on_node(node, "exec", container, "cat", "/proc/1/status").stdout
            bit = re.search(r"^NoNewPrivs:\s+(\d+)$", status, re.M)
            rows.append(
                {
                    "service": service,
                    "node": node,
                    "security_opt": info["HostConfig"]["SecurityOpt"] or [],
                    "engine_default": engine_default[node],
                    "NoNewPrivs": bit and bit.group(1),
                }
            )
    print(f"\nno-new-privileges of every task: {json.dumps(rows)}")
    assert len([r for r in rows if r["service"] == "api"]) == SCALE, rows
    without = [
        r
        for r in rows
        if not ("no-new-privileges:true" in r["security_opt"] or r["engine_default"])
        or r["NoNewPrivs"] != "1"
    ]
    assert not without, without


def test_clients_on_many_networks_reach_replicas_on_every_node(swarm, client):
    deadline = time.monotonic() + 30
    while True:  # nginx re-resolves tasks.api every 10 s
        seen = client.python("instances", *client.addresses)
        nodes = instance_nodes(swarm, seen)
        if set(nodes.values()) == {f"node-{i}" for i in range(1, NODES + 1)}:
            break
        assert time.monotonic() < deadline, (seen, nodes)
        time.sleep(2)
    instances = set(seen.values())
    assert len(instances) == SCALE + 1, seen  # the api replicas and the migrator
    report = client.python("contract", client.addresses[0])
    assert not [r for r in report["results"] if not r["ok"]], report


def test_node_lost_under_load_replicas_rescheduled_nothing_acknowledged_lost(swarm, client):
    on_victim = [t for t in swarm.tasks("api") if t["node"] == VICTIM]
    assert on_victim, swarm.tasks("api")
    for service in ("db", "redis", "nginx", "prometheus"):
        assert VICTIM not in swarm.service_nodes(service), service
    sources = client.addresses[:16]
    load = LoadRun(client, sources, give_up=SENDERS_GIVE_UP_S)
    victim_instances = {i for i in load.distribution if instance_nodes(swarm, {0: i})[0] == VICTIM}
    on_lost_node = sum(load.distribution[i] for i in victim_instances)
    assert on_lost_node, (load.distribution, on_victim)
    time.sleep(3)
    killed = time.monotonic()
    # Its container killed: the node's kernel closes its processes' sockets,
    # which tells nginx and the clients at once, unless the node's network is
    # gone before a socket's FIN leaves. CHAT_SWARM_NODE_LOSS=cut: its network
    # cut first, as a machine losing power (docs/swarm.md gives both figures).
    if os.environ.get("CHAT_SWARM_NODE_LOSS") == "cut":
        docker("network", "disconnect", "--force", "chat-swarm-nodes", f"chat-swarm-{VICTIM}")
    docker("kill", f"chat-swarm-{VICTIM}")
    node_down = rescheduled = None
    while time.monotonic() - killed < 150 and rescheduled is None:
        now = time.monotonic()
        if node_down is None and swarm.node_states().get(VICTIM) == "down":
            node_down = now - killed
        api = swarm.tasks("api")
        live = [t for t in api if t["node"] != VICTIM and t["state"] == "running"]
        if node_down is not None and len(live) == SCALE:
            rescheduled = now - killed
        time.sleep(0.5)
    time.sleep(max(0.0, killed + AFTER_KILL_SECONDS - time.monotonic()))
    figures = load.stop(timeout=SENDERS_GIVE_UP_S + 90)
    back = [r for r in figures["reconnect_times"] if r["disconnected"] >= killed - 1]
    moved = [r for r in back if r["from"] in victim_instances]
    # A client of the lost node is back once it has synced: on its first new
    # socket, or on a later one when that socket was lost too before its sync
    # (the later loss is another entry, from the instance it had moved to).
    synced = []
    for r in moved:
        after = [
            x
            for x in back
            if x["member"] == r["member"]
            and x["disconnected"] >= r["disconnected"]
            and x["synced"] is not None
        ]
        if after:
            synced.append(min(after, key=lambda x: x["synced"]))
    every_client_back = max((r["synced"] - killed for r in synced), default=None)
    summary = {
        "node_marked_down_s": node_down and round(node_down, 1),
        "replicas_rescheduled_s": rescheduled and round(rescheduled, 1),
        "clients_on_lost_node": on_lost_node,
        "reconnected_and_synced": len(synced),
        "every_client_back_s": every_client_back and round(every_client_back, 1),
        "first_client_back_s": min((round(r["synced"] - killed, 1) for r in synced), default=None),
    }
    print(f"\nnode {VICTIM} lost under load: {json.dumps(summary)}")
    timeline = loss_timeline(figures, killed, victim_instances)
    print(f"after the loss (s): {json.dumps(timeline)}")
    (TESTS / "artifacts").mkdir(exist_ok=True)
    (TESTS / "artifacts" / "swarm-nodes.json").write_text(json.dumps(summary, indent=2) + "\n")
    counts = {k: v for k, v in figures.items() if k not in ("reconnect_times", "failure_times")}
    print(f"audit: {json.dumps(counts)[:800]}")
    assert node_down is not None, swarm.node_states()
    assert rescheduled is not None, swarm.tasks("api")
    assert VICTIM not in swarm.service_nodes("api")
    assert len({r["member"] for r in synced}) >= on_lost_node, (on_lost_node, timeline)
    assert not set(figures["distribution_after"]) & victim_instances, figures
    assert_nothing_lost(figures, logs=swarm.logs)


def loss_timeline(figures, killed, victim_instances):
    """When, in seconds after the loss, each socket that was on the lost node
    dropped, came back and synced, and when each sender's tries failed."""

    def since(t):
        return None if t is None else round(t - killed, 1)

    after = [r for r in figures["reconnect_times"] if r["disconnected"] >= killed - 1]
    members = {r["member"] for r in after if r["from"] in victim_instances}
    # The lost node's sockets, and any later loss of the same clients (again).
    sockets = [
        {
            "member": r["member"],
            **{k: since(r[k]) for k in ("disconnected", "connected", "synced")},
            **({} if r["from"] in victim_instances else {"again": True}),
        }
        for r in after
        if r["member"] in members
    ]
    failures = {
        sender: {
            "count": len(tries),
            "first": since(tries[0][0]),
            "last": since(tries[-1][0]),
            "kinds": sorted({kind for _, kind in tries}),
        }
        for sender, tries in figures.get("failure_times", {}).items()
        if tries
    }
    return {"sockets": sockets, "sender_failures": failures}


def test_swarm_down_removes_every_node(swarm, client):
    client.stop()
    swarm.make("swarm-down")
    assert node_leftovers() == {"containers": [], "volumes": [], "networks": []}
