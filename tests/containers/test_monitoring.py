"""Compose's `monitoring` profile for real: `make compose` with
COMPOSE_PROFILES=monitoring (3 api replicas), and Prometheus, with
deploy/prometheus/, finds every replica and the migrator through Docker's DNS,
reports them `up`, has loaded the rules, and scrapes the app's own figures.
(The Swarm stack's Prometheus: test_swarm.py.)"""

import time

import pytest
import requests
from docker_tools import free_port, prepare_docker, project_resources
from test_compose import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

SCALE = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    prepare_docker()
    stack = ComposeStack(tmp_path_factory.mktemp("monitoring"))
    stack.prometheus = f"http://127.0.0.1:{free_port()}/api/v1"
    stack.env.update(
        CHAT_PORT=str(stack.port),
        CHAT_HTTP_PORT=str(stack.http_port),
        COMPOSE_PROFILES="monitoring",
        PROMETHEUS_PORT=stack.prometheus.split(":")[2].split("/")[0],
    )
    try:
        stack.make("compose", SCALE=SCALE, CHAT_PORT=stack.port, CHAT_HTTP_PORT=stack.http_port)
        yield stack
    finally:
        if any(project_resources(stack.project).values()):
            stack.make("compose-down", timeout=300)


def query(stack, promql):
    response = requests.get(f"{stack.prometheus}/query", params={"query": promql}, timeout=5)
    return response.json()["data"]["result"]


def test_prometheus_reports_every_replica_up_with_the_rules_loaded(stack):
    deadline = time.monotonic() + 120
    while True:
        try:
            series = query(stack, 'up{job="chat"}')
        except (requests.RequestException, ValueError, KeyError):
            series = []
        if len(series) == SCALE + 1 and all(s["value"][1] == "1" for s in series):
            break
        assert time.monotonic() < deadline, f"not every replica up in Prometheus: {series}"
        time.sleep(3)
    groups = requests.get(f"{stack.prometheus}/rules", timeout=5).json()["data"]["groups"]
    assert {g["name"] for g in groups} == {"chat-recording", "chat-alerts"}
    live = query(stack, "chat_queue_live")
    assert [s["value"][1] for s in live] == ["1"] * (SCALE + 1), live
    firing = query(stack, 'ALERTS{alertstate="firing"}')
    assert firing == [], firing
