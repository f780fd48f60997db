"""The key real-time tests of test_realtime_cluster.py, on a 4-instance cluster
whose Redis is a local 3-master Redis Cluster (sharded pub/sub, gevent workers).

The tests are imported, so pytest collects them here with this module's
`cluster`; test_realtime_cluster.py runs all of them on one Redis server in both
async modes. test_scaleout.py has the queue's own tests on both kinds of Redis.
"""

import pytest
from test_realtime_cluster import (  # noqa: F401  (collected here)
    CLUSTER_ENV,
    INSTANCES,
    test_logout_on_one_instance_closes_that_tokens_sockets_on_every_other,
    test_message_sent_on_one_instance_reaches_each_other_instance_exactly_once,
    test_password_change_closes_every_older_socket_on_every_instance,
    test_presence_follows_a_users_sockets_across_instances_and_a_killed_instance,
    test_private_room_non_member_receives_nothing_from_it,
    test_reconnected_client_gets_exactly_the_missed_messages_from_sync,
    test_rest_post_on_one_instance_arrives_live_on_the_others,
    test_typing_and_read_events_reach_other_instances,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("all_instances_up")]


@pytest.fixture(scope="module")
def cluster_options():
    """4 gevent instances on a 3-master Redis Cluster, for the whole module."""
    return {
        "instances": INSTANCES,
        "async_mode": "gevent",
        "extra_env": CLUSTER_ENV,
        "redis_cluster": True,
    }
