"""deploy/prometheus/: the scrape config and the rules checked by promtool, the
rules unit-tested (`promtool test rules rules.test.yml`), and every metric
they use served by the app (app/metrics.py). promtool comes with Debian's
`prometheus` package (scripts/install-system-deps.sh)."""

import re
import shutil
import subprocess

import pytest
from docker_tools import ROOT

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: run `make system-deps` (Debian's prometheus package)")
    return path


def run(promtool, *args):
    done = subprocess.run(
        [promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout + done.stderr


def test_promtool_accepts_the_rules_and_the_config(promtool):
    code, output = run(promtool, "check", "rules", "rules.yml")
    assert code == 0, output
    code, output = run(promtool, "check", "config", "prometheus.yml")
    assert code == 0, output


def test_the_rules_unit_tests_pass(promtool):
    code, output = run(promtool, "test", "rules", "rules.test.yml")
    assert code == 0, output
    assert "SUCCESS" in output


def test_every_alert_an_operator_is_paged_for_is_tested():
    rules = (PROMETHEUS_DIR / "rules.yml").read_text()
    tests = (PROMETHEUS_DIR / "rules.test.yml").read_text()
    alerts = re.findall(r"^\s*- alert: (\w+)", rules, re.M)
    assert set(alerts) >= {
        "ChatInstanceDown",
        "ChatQueueNotLive",
        "ChatHigh5xxRate",
        "ChatSendSlow",
        "ChatDeliveryLagHigh",
        "ChatSocketsDroppedBehind",
        "ChatDatabaseUnreachable",
        "ChatRedisUnreachable",
        "ChatLoginFailuresSpiking",
    }
    for alert in alerts:
        assert f"alertname: {alert}" in tests, f"{alert} has no unit test"


def test_the_rules_use_only_metrics_the_app_serves():
    from app import metrics

    served = set()
    for collector in metrics.registry._collector_to_names:
        # prometheus_client's own collectors (python_gc_*) have no describe()
        describe = getattr(collector, "describe", collector.collect)
        for family in describe():
            served.add(family.name)
            if family.type == "histogram":
                served.add(family.name + "_bucket")
            if family.type == "counter":
                served.add(family.name + "_total")
    rules = (PROMETHEUS_DIR / "rules.yml").read_text()
    used = set(re.findall(r"\b(chat_[a-z_]+)(?=[{\[)\s])", rules))
    assert used, "no chat_ metric found in the rules"
    assert used <= served, used - served


def test_the_grafana_dashboard_uses_the_recorded_and_served_series():
    """deploy/grafana/chat-dashboard.json (not run here): valid JSON whose every
    query names a recording rule of rules.yml or a metric the app serves."""
    import json

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "chat-dashboard.json").read_text())
    rules = (PROMETHEUS_DIR / "rules.yml").read_text()
    recorded = set(re.findall(r"^\s*- record: (\S+)", rules, re.M))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        names = set(re.findall(r"[a-z_:]*chat_[a-z_:0-9]+", expr))
        assert names or expr.startswith(("sum(up{", "count(up{")), expr
        for name in names:
            assert name in recorded or name.startswith("chat_"), (expr, name)
