"""Cookie affinity (STICKY=cookie) on the local cluster: nginx gives a client
without its `chat_affinity` cookie a random key, sets it as the cookie and
hashes on it, so clients behind one address (here all on 127.0.0.1, like an
office behind a NAT) spread over the instances, while each Socket.IO session
(handshake, polls, WebSocket upgrade) stays on its instance. Which instance
served a request is its X-Instance header. The upgrade's 101 has none under
eventlet (eventlet writes that reply itself); that it reached the session's
instance shows in its answer: an Engine.IO sid is known to one instance only,
and any other refuses the upgrade (checked here too)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import websocket
from socket_clients import register

CLIENTS = 40
INSTANCES = 4


@pytest.fixture(scope="module")
def cluster_options():
    # Forty sockets of one user: the per-user connect limit is not under test.
    return {
        "instances": INSTANCES,
        "sticky": "cookie",
        "extra_env": {"RATELIMIT_ENABLED": "0"},
    }


def polling_session(cluster, token: str) -> dict:
    """One Socket.IO session over long-polling, upgraded to a WebSocket; which
    instance answered each step, and the affinity cookie it was given."""
    base_url = cluster.url
    http = requests.Session()
    http.trust_env = False
    seen: list[tuple[str, str | None]] = []

    def note(step: str, response: requests.Response) -> requests.Response:
        assert response.status_code == 200, (step, response.status_code, response.text)
        seen.append((step, response.headers.get("X-Instance")))
        return response

    base = base_url + "/socket.io/?EIO=4&transport=polling"
    opened = note("handshake", http.get(base, timeout=10))
    assert opened.text.startswith("0{"), opened.text  # Engine.IO OPEN
    cookie = http.cookies.get("chat_affinity")
    assert cookie, opened.headers
    sid = json.loads(opened.text[1:])["sid"]
    url = f"{base}&sid={sid}"
    note("connect", http.post(url, data=("40" + json.dumps({"token": token})).encode(), timeout=10))
    packets: list[str] = []
    while not any(p.startswith("40{") for p in packets):  # Socket.IO CONNECT answered
        assert len(seen) < 10, seen
        packets += note("poll", http.get(url, timeout=10)).text.split("\x1e")
    # The upgrade, with the cookie the browser (or engineio's client) sends.
    ws_url = url.replace("http://", "ws://", 1).replace("transport=polling", "transport=websocket")
    # Any instance but the session's own refuses it (so the upgrade through
    # nginx below, answered, reached the session's instance).
    other = next(i for i in cluster.instances if i.id != seen[0][1])
    with pytest.raises(websocket.WebSocketException):
        websocket.create_connection(
            ws_url.replace(
                base_url.replace("http://", "ws://"), other.url.replace("http://", "ws://")
            ),
            timeout=10,
        ).recv()
    ws = websocket.create_connection(ws_url, timeout=10, header=[f"Cookie: chat_affinity={cookie}"])
    try:
        # The 101's X-Instance where the server sends one, else the session's
        # own instance: the probe below is answered only by the sid's instance.
        seen.append(("upgrade", ws.getheaders().get("x-instance", seen[0][1])))
        ws.send("2probe")
        assert ws.recv() == "3probe"
        ws.send("5")  # Engine.IO UPGRADE: the session is on the WebSocket now
        ws.send("421" + json.dumps(["no_such_event", {}]))
        answers = [ws.recv()]
        while not answers[-1].startswith("431"):  # after a NOOP ("6") or a ping
            assert len(answers) < 10, answers
            answers.append(ws.recv())
    finally:
        ws.close()
    # Later requests of the client (REST too) carry the same cookie: same instance.
    note("rest", http.get(base_url + "/healthz", timeout=10))
    assert http.cookies.get("chat_affinity") == cookie  # not replaced
    http.close()
    return {"cookie": cookie, "seen": seen, "sid": sid}


def test_clients_behind_one_address_spread_and_each_session_keeps_its_instance(cluster):
    token = register(cluster.url).token
    with ThreadPoolExecutor(CLIENTS) as pool:
        sessions = list(pool.map(lambda _: polling_session(cluster, token), range(CLIENTS)))
    instances = set()
    for session in sessions:
        served_by = {instance for _, instance in session["seen"]}
        assert len(served_by) == 1 and None not in served_by, session
        assert [step for step, _ in session["seen"]][-2:] == ["upgrade", "rest"]
        instances |= served_by
    assert len({s["cookie"] for s in sessions}) == CLIENTS  # a fresh key each
    assert len(instances) >= 3, f"{CLIENTS} clients from one address reached only {instances}"


def test_a_client_with_a_key_keeps_it_and_is_not_given_another(cluster):
    response = requests.get(
        cluster.url + "/healthz", cookies={"chat_affinity": "my-key"}, timeout=10
    )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    instances = {
        requests.get(
            cluster.url + "/healthz", cookies={"chat_affinity": "my-key"}, timeout=10
        ).headers["X-Instance"]
        for _ in range(8)
    }
    assert len(instances) == 1, instances
