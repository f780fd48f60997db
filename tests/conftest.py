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
