"""Backups of the compose stack for real: `make compose` (one api replica),
messages, edits, a deletion and reactions written through the API, `make
backup` (pg_dump, custom format), the database's volume destroyed, `make
restore FILE=...` into a new empty volume, and every message read back through
the API as it was (bodies, edits, deletions, reactions), with the same
tokens."""

import time

import pytest
import requests
from docker_tools import prepare_docker, project_resources
from test_compose import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

MESSAGES = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    prepare_docker()
    stack = ComposeStack(tmp_path_factory.mktemp("backup"))
    stack.backups = tmp_path_factory.mktemp("backups")
    # Every later compose call (make backup, make restore) keeps the stack's port.
    stack.env.update(
        BACKUP_DIR=str(stack.backups),
        CHAT_PORT=str(stack.port),
        CHAT_HTTP_PORT=str(stack.http_port),
    )
    try:
        stack.make("compose", SCALE=1, CHAT_PORT=stack.port, CHAT_HTTP_PORT=stack.http_port)
        # HTTPS, verified against the CA nginx made at its first start.
        stack.compose("cp", "nginx:/etc/nginx/tls/ca.crt", str(stack.ca_file))
        yield stack
    finally:
        if any(project_resources(stack.project).values()):
            stack.make("compose-down", timeout=300)


def api(stack, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(
        method, stack.url(path), headers=headers, timeout=15, verify=str(stack.ca_file), **kwargs
    )


def user(stack, name):
    body = {"username": f"{name}{time.time_ns() % 10**8}", "password": "password123"}
    response = api(stack, "POST", "/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def history(stack, token, room):
    """Every message of the room, oldest first, through the API's pages."""
    messages, before = [], None
    while True:
        params = {"limit": 50, **({"before": before} if before else {})}
        response = api(stack, "GET", f"/api/rooms/{room}/messages", token, params=params)
        assert response.status_code == 200, response.text
        page = response.json()["messages"]
        messages += page
        if not page or not response.json()["has_more"]:
            return sorted(messages, key=lambda m: m["id"])
        before = min(m["id"] for m in page)


def comparable(message):
    return {
        key: message.get(key)
        for key in ("id", "body", "author", "created_at", "edited_at", "deleted", "reactions")
    }


def test_backup_destroy_the_volume_restore_and_read_everything_back(stack):
    alice, bob = user(stack, "alice"), user(stack, "bob")
    room = f"backed{time.time_ns() % 10**8}"
    assert api(stack, "POST", "/api/rooms", alice, json={"name": room}).status_code == 201
    assert api(stack, "POST", f"/api/rooms/{room}/members", bob).status_code == 200
    ids = []
    for n in range(MESSAGES):
        token = alice if n % 2 else bob
        response = api(
            stack, "POST", f"/api/rooms/{room}/messages", token, json={"body": f"message {n} ✓"}
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
        if n % 10 == 9:
            time.sleep(2)  # under the send limit
    for message_id, emoji in ((ids[0], "👍"), (ids[1], "🎉"), (ids[2], "👍")):
        for token in (alice, bob):
            response = api(stack, "PUT", f"/api/messages/{message_id}/reactions/{emoji}", token)
            assert response.status_code in (200, 201, 204), response.text
    edited = api(stack, "PATCH", f"/api/messages/{ids[3]}", alice, json={"body": "edited ✓"})
    assert edited.status_code == 200, edited.text
    assert api(stack, "DELETE", f"/api/messages/{ids[5]}", alice).status_code in (200, 204)
    before = [comparable(m) for m in history(stack, alice, room)]
    assert len(before) == MESSAGES and before[0]["reactions"], before[:1]

    stack.make("backup")
    dumps = sorted(stack.backups.glob("chat-*.dump"))
    assert len(dumps) == 1 and dumps[0].stat().st_size > 1000, dumps
    assert dumps[0].read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format

    # The disk dies: the database container and its volume are gone.
    stack.compose("stop")
    stack.compose("rm", "--force", "db")
    volume = f"{stack.project}_db-data"
    stack.compose("down", "--volumes")  # every container, and the volumes
    assert volume not in project_resources(stack.project)["volumes"]

    stack.compose("up", "--detach", "--wait", "db")  # a new, empty volume
    stack.make("restore", FILE=dumps[0], SCALE=1, timeout=600)
    # nginx's certificate went with the volumes: it made a new CA at its start.
    stack.compose("cp", "nginx:/etc/nginx/tls/ca.crt", str(stack.ca_file))

    after = [comparable(m) for m in history(stack, alice, room)]
    assert after == before
    # The users came back too: bob logs in again and reads the room.
    assert len(history(stack, bob, room)) == MESSAGES
