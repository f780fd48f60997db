"""The key real-time tests of test_realtime_cluster.py, on a 4-instance cluster
whose Redis is a local 3-master Redis Cluster (sharded pub/sub, gevent workers).

The tests are imported, so pytest collects them here with this module's
`cluster`; test_realtime_cluster.py runs all of them on one Redis server in both
async modes. test_scaleout.py has the queue's own tests on both kinds of Redis.
"""
import os
import sys

import pytest

from test_realtime_cluster import (  # noqa: F401  (collected here, fixtures included)
    CLUSTER_ENV, INSTANCES, all_instances_up, connect,
    test_message_sent_on_one_instance_reaches_each_other_instance_exactly_once,
    test_presence_follows_a_users_sockets_across_instances_and_a_killed_instance,
    test_private_room_non_member_receives_nothing_from_it,
    test_reconnected_client_gets_exactly_the_missed_messages_from_sync,
    test_rest_post_on_one_instance_arrives_live_on_the_others,
    test_typing_and_read_events_reach_other_instances, user)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from cluster import Cluster  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(request):
    """4 gevent instances on a 3-master Redis Cluster; stopped after the module."""
    running = Cluster(instances=INSTANCES, async_mode="gevent", extra_env=CLUSTER_ENV,
                      redis_cluster=True)
    request.addfinalizer(running.stop)
    return running.start()
