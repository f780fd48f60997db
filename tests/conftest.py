"""Shared by every test folder: the repository root (app, bench) and scripts/
(cluster.py, localservices.py) importable, set up once here; and the local
cluster fixtures for the suites that run one (integration, e2e)."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "scripts")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from cluster import Cluster  # noqa: E402  (scripts/cluster.py)


@pytest.fixture(scope="module")
def cluster_options():
    """How the module's cluster is built: Cluster(**options). A module overrides
    this fixture (scope module, maybe parametrized) to choose its own."""
    return {}


@pytest.fixture(scope="module")
def cluster(request, cluster_options):
    """The module's cluster behind nginx, stopped after the module."""
    running = Cluster(**cluster_options)
    request.addfinalizer(running.stop)
    return running.start()


@pytest.fixture
def all_instances_up(cluster):
    """Every test starts with every instance alive, even after one an earlier test
    killed (modules use it with `pytest.mark.usefixtures`)."""
    for instance in cluster.instances:
        if not instance.alive():
            cluster.restart_instance(instance.index)
    return cluster


# What a failed test shows of its cluster: the warnings and errors the instances
# (and gunicorn) and nginx logged, the newest last, so that a failure seen only
# in CI (where the cluster's files are gone with its runner) can be read.
LOG_MARKS = (
    " WARNING ",
    " ERROR ",
    " CRITICAL ",
    "Traceback",
    "[warn]",
    "[error]",
    "[crit]",
    "[alert]",
    "[emerg]",
)
LOG_LINES = 30  # per file


def _marked_lines(path):
    try:
        with open(path, errors="replace") as f:
            lines = [line.rstrip("\n") for line in f if any(m in line for m in LOG_MARKS)]
    except OSError:
        return []
    return lines[-LOG_LINES:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    running = getattr(item, "funcargs", {}).get("cluster")
    if not report.failed or not isinstance(running, Cluster):
        return
    paths = [i.log_path for i in running.instances]
    if running.nginx is not None:
        paths.append(os.path.join(running.nginx.dir, "error.log"))
    text = "\n".join(
        f"-- {path}\n" + "\n".join(_marked_lines(path) or ["(none)"]) for path in paths
    )
    report.sections.append(("cluster: warnings and errors logged", text))
