"""Rooms run by their own people (SQLite): roles and succession, kicks and bans,
moderator deletes, pins, the audit log, invites, bots and their tokens,
webhooks, the NDJSON export, site admins."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from unit_helpers import assert_error

from app.extensions import db
from app.models import AuditEntry, Invite, Membership, utcnow
from app.revocations import revocations


@pytest.fixture(autouse=True)
def forget_announced_generations():
    """Rotations and deactivations announce token generations in this process's
    memory (no Redis here); SQLite gives the next test's users the same ids."""
    yield
    revocations.clear_local()


def call(client, method, path, user=None, body=None, token=None, **kwargs):
    headers = {}
    if user is not None or token is not None:
        headers["Authorization"] = f"Bearer {token or user.token}"
    return client.open(path, method=method, json=body, headers=headers, **kwargs)


def role_of(client, user, room):
    return call(client, "GET", f"/api/rooms/{room}", user).get_json().get("role")


def audit_actions(app, room_id=None):
    with app.app_context():
        return [(e.action, e.target) for e in db.session.scalars(select(AuditEntry))]


@pytest.fixture
def team(client, make_room, join, alice, bob, carol, register):
    """A public room: alice owns it, bob is an admin, carol a member; dave outside."""
    make_room(alice, "team", title="Team")
    join(bob, "team")
    join(carol, "team")
    assert (
        call(client, "PUT", "/api/rooms/team/members/bob", alice, {"role": "admin"}).status_code
        == 200
    )
    return register("dave")


# --- roles ---------------------------------------------------------------------


def test_the_creator_owns_the_room_and_others_are_members(client, team, alice, bob, carol):
    assert role_of(client, alice, "team") == "owner"
    assert role_of(client, bob, "team") == "admin"
    assert role_of(client, carol, "team") == "member"
    assert "role" not in call(client, "GET", "/api/rooms/team", team).get_json()


def test_only_the_owner_sets_roles(client, team, bob, carol):
    assert_error(
        call(client, "PUT", "/api/rooms/team/members/carol", bob, {"role": "admin"}),
        403,
        "forbidden",
    )
    assert_error(
        call(client, "PUT", "/api/rooms/team/members/carol", carol, {"role": "admin"}),
        403,
        "forbidden",
    )


def test_handing_over_makes_the_old_owner_an_admin(app, client, team, alice, carol, socket_for):
    sock = socket_for(carol)
    response = call(client, "PUT", "/api/rooms/team/members/carol", alice, {"role": "owner"})
    assert response.status_code == 200
    assert response.get_json()["role"] == "owner"
    assert role_of(client, carol, "team") == "owner"
    assert role_of(client, alice, "team") == "admin"
    updated = [e for e in sock.get_received() if e["name"] == "room_updated"]
    assert updated and updated[-1]["args"][0]["role"] == "owner"
    assert ("role_owner", "carol") in audit_actions(app)


def test_an_owner_cannot_demote_themselves(client, team, alice):
    assert_error(
        call(client, "PUT", "/api/rooms/team/members/alice", alice, {"role": "member"}),
        409,
        "conflict",
    )


def test_owner_leaving_hands_the_room_to_the_longest_standing_admin(app, client, team, alice, bob):
    assert call(client, "DELETE", "/api/rooms/team/members/me", alice).status_code == 204
    assert role_of(client, bob, "team") == "owner"
    assert ("owner_left", "bob") in audit_actions(app)


def test_owner_leaving_without_admins_hands_it_to_the_longest_standing_member(
    app, client, make_room, join, alice, bob, carol
):
    make_room(alice, "quiet")
    join(carol, "quiet")
    join(bob, "quiet")
    with app.app_context():  # bob joined first, by the clock
        db.session.execute(
            update(Membership)
            .where(Membership.user_id == int(bob.user["id"]))
            .values(joined_at=utcnow() - timedelta(days=1))
        )
        db.session.commit()
    call(client, "DELETE", "/api/rooms/quiet/members/me", alice)
    assert role_of(client, bob, "quiet") == "owner"
    assert role_of(client, carol, "quiet") == "member"


def test_a_dm_has_no_moderators(client, alice, bob):
    dm = call(client, "POST", "/api/dm/bob", alice).get_json()
    assert_error(
        call(client, "PATCH", f"/api/rooms/{dm['name']}", alice, {"topic": "x"}), 403, "forbidden"
    )
    assert_error(
        call(client, "DELETE", f"/api/rooms/{dm['name']}/members/bob", alice), 403, "forbidden"
    )


# --- title and topic ---------------------------------------------------------------


def test_admins_edit_the_topic_and_members_hear_room_updated(
    app, client, team, bob, carol, socket_for
):
    sock = socket_for(carol)
    assert sock.emit("join", {"room": "team"}, callback=True)["ok"]
    response = call(client, "PATCH", "/api/rooms/team", bob, {"topic": "Ship it", "title": "T"})
    assert response.status_code == 200
    assert response.get_json()["topic"] == "Ship it"
    [event] = [e for e in sock.get_received() if e["name"] == "room_updated"]
    assert event["args"][0]["topic"] == "Ship it" and event["args"][0]["title"] == "T"
    assert_error(call(client, "PATCH", "/api/rooms/team", carol, {"topic": "no"}), 403, "forbidden")
    assert ("room_updated", "title,topic") in audit_actions(app)


def test_a_topic_is_at_most_250_characters(client, team, alice):
    assert_error(
        call(client, "PATCH", "/api/rooms/team", alice, {"topic": "x" * 251}),
        422,
        "validation_error",
    )


# --- kicks and bans -------------------------------------------------------------------


def test_a_kick_removes_the_member_and_tells_everyone(
    app, client, team, alice, carol, bob, socket_for
):
    kicked = socket_for(carol)
    other = socket_for(bob)
    for s in (kicked, other):
        assert s.emit("join", {"room": "team"}, callback=True)["ok"]
    assert call(client, "DELETE", "/api/rooms/team/members/carol", alice).status_code == 204
    assert call(client, "GET", "/api/rooms/team", carol).get_json()["member"] is False
    removed = kicked.events("room_removed")
    assert removed == [{"room": "team", "reason": "kicked"}]
    told = other.events("member_removed")
    assert told == [{"room": "team", "username": "carol", "reason": "kicked"}]
    call(client, "POST", "/api/rooms/team/messages", alice, {"body": "after"})
    assert [e for e in kicked.get_received() if e["name"] == "message"] == []
    assert ("kicked", "carol") in audit_actions(app)


def test_nobody_kicks_the_owner_and_admins_do_not_kick_admins(
    client, team, alice, bob, register, join
):
    assert_error(call(client, "DELETE", "/api/rooms/team/members/alice", bob), 403, "forbidden")
    erin = register("erin")
    join(erin, "team")
    call(client, "PUT", "/api/rooms/team/members/erin", alice, {"role": "admin"})
    assert_error(call(client, "DELETE", "/api/rooms/team/members/erin", bob), 403, "forbidden")
    assert call(client, "DELETE", "/api/rooms/team/members/erin", alice).status_code == 204


def test_members_do_not_kick(client, team, carol, bob):
    assert_error(call(client, "DELETE", "/api/rooms/team/members/bob", carol), 403, "forbidden")


def test_a_banned_user_cannot_join_be_added_or_come_back_until_unbanned(
    app, client, team, make_room, alice, bob, carol
):
    assert call(client, "PUT", "/api/rooms/team/bans/carol", bob).status_code == 204
    assert call(client, "GET", "/api/rooms/team", carol).get_json()["member"] is False
    assert_error(call(client, "POST", "/api/rooms/team/members", carol), 403, "forbidden")
    bans = call(client, "GET", "/api/rooms/team/bans", alice).get_json()["users"]
    assert [u["username"] for u in bans] == ["carol"]
    make_room(alice, "inner", private=True)
    call(client, "PUT", "/api/rooms/inner/bans/carol", alice)
    assert_error(
        call(client, "POST", "/api/rooms/inner/members", alice, {"username": "carol"}),
        403,
        "forbidden",
    )
    assert call(client, "DELETE", "/api/rooms/team/bans/carol", bob).status_code == 204
    assert call(client, "POST", "/api/rooms/team/members", carol).status_code == 200
    actions = audit_actions(app)
    assert ("banned", "carol") in actions and ("unbanned", "carol") in actions


# --- moderator deletes and pins ------------------------------------------------------


def test_a_moderator_deletes_any_message_and_it_says_so(app, client, team, bob, carol, send):
    message = send(carol, "team", "spam").get_json()
    deleted = call(client, "DELETE", f"/api/messages/{message['id']}", bob).get_json()
    assert deleted["deleted"] is True and deleted["deleted_by"] == "moderator"
    own = send(carol, "team", "mine").get_json()
    assert (
        call(client, "DELETE", f"/api/messages/{own['id']}", carol).get_json()["deleted_by"]
        == "author"
    )
    assert ("message_deleted", str(message["id"])) in audit_actions(app)
    other = send(bob, "team", "admin's").get_json()
    assert_error(call(client, "DELETE", f"/api/messages/{other['id']}", carol), 403, "forbidden")


def test_pins_newest_first_with_the_pinned_field_and_event(
    app, client, team, alice, carol, send, socket_for
):
    first = send(carol, "team", "one").get_json()
    second = send(carol, "team", "two").get_json()
    assert first["pinned"] is False
    sock = socket_for(carol)
    sock.emit("join", {"room": "team"}, callback=True)
    for m in (first, second):
        pinned = call(client, "PUT", f"/api/rooms/team/pins/{m['id']}", alice).get_json()
        assert pinned["pinned"] is True
    listed = call(client, "GET", "/api/rooms/team/pins", carol).get_json()["messages"]
    assert [m["id"] for m in listed] == [second["id"], first["id"]]
    events = sock.events("pinned")
    assert [(e["room"], e["message"]["id"], e["message"]["pinned"]) for e in events] == [
        ("team", first["id"], True),
        ("team", second["id"], True),
    ]
    history = call(client, "GET", "/api/rooms/team/messages", carol).get_json()["messages"]
    assert [m["pinned"] for m in history] == [True, True]
    assert (
        call(client, "DELETE", f"/api/rooms/team/pins/{first['id']}", alice).get_json()["pinned"]
        is False
    )
    assert_error(
        call(client, "PUT", f"/api/rooms/team/pins/{first['id']}", carol), 403, "forbidden"
    )
    assert ("unpinned", str(first["id"])) in audit_actions(app)


def test_a_history_page_reads_no_more_for_pins(client, team, alice, send, statements):
    """`pinned` is a column of the message row: pinning every message of a page
    adds no statement to reading it."""
    ids = [send(alice, "team", f"m{i}").get_json()["id"] for i in range(5)]
    statements.clear()
    call(client, "GET", "/api/rooms/team/messages", alice)
    unpinned = len(statements)
    for message_id in ids:
        call(client, "PUT", f"/api/rooms/team/pins/{message_id}", alice)
    statements.clear()
    page = call(client, "GET", "/api/rooms/team/messages", alice).get_json()["messages"]
    assert [m["pinned"] for m in page] == [True] * 5
    assert len(statements) == unpinned


# --- the audit log ---------------------------------------------------------------


def test_the_audit_log_is_for_moderators_and_site_admins(
    app, client, team, alice, bob, carol, runner
):
    call(client, "PATCH", "/api/rooms/team", alice, {"topic": "a"})
    page = call(client, "GET", "/api/rooms/team/audit?limit=1", bob).get_json()
    assert page["has_more"] is True
    assert page["entries"][0]["actor"] == "alice" and page["entries"][0]["action"] == "room_updated"
    older = call(
        client, "GET", f"/api/rooms/team/audit?before={page['entries'][0]['id']}", bob
    ).get_json()
    assert older["entries"][0]["action"] == "role_admin"
    assert_error(call(client, "GET", "/api/rooms/team/audit", carol), 403, "forbidden")
    result = runner.invoke(args=["users", "promote", "carol"])
    assert result.exit_code == 0, result.output
    assert call(client, "GET", "/api/rooms/team/audit", carol).status_code == 200


# --- invites -----------------------------------------------------------------------


@pytest.fixture
def hideout(client, make_room, alice):
    make_room(alice, "hideout", private=True)
    return "hideout"


def test_an_invite_used_up(client, hideout, alice, bob, carol, register):
    invite = call(client, "POST", "/api/rooms/hideout/invites", alice, {"max_uses": 1}).get_json()
    assert invite["url"].endswith(f"#/invite/{invite['token']}") and invite["uses"] == 0
    joined = call(client, "POST", f"/api/invites/{invite['token']}", bob)
    assert joined.status_code == 200 and joined.get_json()["name"] == "hideout"
    assert call(client, "POST", f"/api/invites/{invite['token']}", bob).status_code == 200  # no use
    assert_error(call(client, "POST", f"/api/invites/{invite['token']}", carol), 404, "not_found")
    assert call(client, "GET", "/api/rooms/hideout/invites", alice).get_json()["invites"] == []


def test_an_invite_expired_revoked_or_for_a_banned_user(app, client, hideout, alice, bob, carol):
    invite = call(client, "POST", "/api/rooms/hideout/invites", alice).get_json()
    call(client, "PUT", "/api/rooms/hideout/bans/carol", alice)
    assert_error(call(client, "POST", f"/api/invites/{invite['token']}", carol), 403, "forbidden")
    with app.app_context():
        db.session.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_error(call(client, "POST", f"/api/invites/{invite['token']}", bob), 404, "not_found")
    fresh = call(client, "POST", "/api/rooms/hideout/invites", alice).get_json()
    assert (
        call(client, "DELETE", f"/api/rooms/hideout/invites/{fresh['token']}", alice).status_code
        == 204
    )
    assert_error(call(client, "POST", f"/api/invites/{fresh['token']}", bob), 404, "not_found")


def test_at_most_20_open_invites_and_only_for_private_rooms(client, hideout, team, alice):
    for _ in range(20):
        assert call(client, "POST", "/api/rooms/hideout/invites", alice).status_code == 201
    assert_error(call(client, "POST", "/api/rooms/hideout/invites", alice), 409, "conflict")
    assert_error(call(client, "POST", "/api/rooms/team/invites", alice), 403, "forbidden")


# --- bots -----------------------------------------------------------------------------


@pytest.fixture
def robo(client, alice):
    response = call(client, "POST", "/api/bots", alice, {"username": "robo"})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["user"]["bot"] is True
    return data["token"]


def test_a_bot_cannot_log_in_with_a_password_but_works_with_its_token(client, robo, alice, team):
    for password in ("", "!bot", "password123"):
        response = client.post(
            "/api/auth/login", json={"username": "robo", "password": password or "x"}
        )
        assert response.status_code == 401
    assert call(client, "GET", "/api/me", token=robo).get_json()["bot"] is True
    assert call(client, "POST", "/api/rooms/team/members", token=robo).status_code == 200
    sent = call(client, "POST", "/api/rooms/team/messages", token=robo, body={"body": "beep"})
    assert sent.status_code == 201
    assert [b["username"] for b in call(client, "GET", "/api/bots", alice).get_json()["bots"]] == [
        "robo"
    ]


def test_a_bot_token_survives_its_owners_logout(client, robo, alice):
    assert call(client, "POST", "/api/auth/logout", alice).status_code == 204
    assert call(client, "GET", "/api/me", token=robo).status_code == 200


def test_a_rotated_token_ends_the_old_one_and_its_sockets(client, robo, alice, socket_for):
    sock = socket_for(auth={"token": robo})
    assert sock.is_connected()
    fresh = call(client, "POST", "/api/bots/robo/token", alice).get_json()["token"]
    assert_error(call(client, "GET", "/api/me", token=robo), 401, "unauthorized")
    assert call(client, "GET", "/api/me", token=fresh).status_code == 200
    assert not sock.is_connected()


def test_only_the_owner_rotates_or_deletes_and_bots_make_no_bots(client, robo, bob):
    assert_error(call(client, "POST", "/api/bots/robo/token", bob), 404, "not_found")
    assert_error(call(client, "DELETE", "/api/bots/robo", bob), 404, "not_found")
    assert_error(
        call(client, "POST", "/api/bots", token=robo, body={"username": "robo2"}), 403, "forbidden"
    )


def test_deleting_a_bot_ends_its_token_and_its_webhooks(client, robo, alice, team):
    hook = call(client, "POST", "/api/rooms/team/webhooks", alice, {"bot": "robo"}).get_json()
    assert call(client, "DELETE", "/api/bots/robo", alice).status_code == 204
    assert_error(call(client, "GET", "/api/me", token=robo), 401, "unauthorized")
    assert call(client, "GET", "/api/rooms/team/webhooks", alice).get_json()["webhooks"] == []
    path = hook["url"].split("localhost", 1)[1]
    assert_error(client.post(path, json={"text": "x"}), 404, "not_found")


# --- webhooks -------------------------------------------------------------------------


def test_a_webhook_posts_json_and_slack_form_bodies_as_its_bot(
    app, client, robo, alice, team, socket_for, carol
):
    sock = socket_for(carol)
    sock.emit("join", {"room": "team"}, callback=True)
    hook = call(client, "POST", "/api/rooms/team/webhooks", alice, {"bot": "robo"}).get_json()
    assert hook["bot"]["username"] == "robo"
    path = "/hooks/" + hook["url"].rsplit("/hooks/", 1)[1]
    first = client.post(path, json={"text": "deployed"})
    assert first.status_code == 200 and first.get_json()["ok"] is True
    second = client.post(path, data={"payload": json.dumps({"text": "from slack"})})
    assert second.status_code == 200, second.get_json()
    live = sock.events("message")
    assert [(m["author"]["username"], m["body"]) for m in live] == [
        ("robo", "deployed"),
        ("robo", "from slack"),
    ]
    assert_error(client.post("/hooks/nope", json={"text": "x"}), 404, "not_found")
    assert_error(client.post(path, json={"text": ""}), 422, "validation_error")
    listed = call(client, "GET", "/api/rooms/team/webhooks", alice).get_json()["webhooks"]
    assert [w["id"] for w in listed] == [hook["id"]] and "url" not in listed[0]


def test_webhooks_are_for_moderators_and_at_most_10_a_room(client, robo, alice, carol, team):
    assert_error(
        call(client, "POST", "/api/rooms/team/webhooks", carol, {"bot": "robo"}), 403, "forbidden"
    )
    for _ in range(10):
        assert (
            call(client, "POST", "/api/rooms/team/webhooks", alice, {"bot": "robo"}).status_code
            == 201
        )
    assert_error(
        call(client, "POST", "/api/rooms/team/webhooks", alice, {"bot": "robo"}), 409, "conflict"
    )


class TestWebhookLimit:
    @pytest.fixture
    def config_overrides(self):
        return {"RATELIMIT_ENABLED": True, "WEBHOOK_RATE_LIMIT": "3 per 10 seconds"}

    def test_a_webhook_is_rate_limited(self, client, robo, alice, team):
        hook = call(client, "POST", "/api/rooms/team/webhooks", alice, {"bot": "robo"}).get_json()
        path = "/hooks/" + hook["url"].rsplit("/hooks/", 1)[1]
        codes = [client.post(path, json={"text": f"n{i}"}).status_code for i in range(4)]
        assert codes == [200, 200, 200, 429]


# --- export ---------------------------------------------------------------------------


def test_the_export_is_ndjson_oldest_first_for_members(client, team, alice, carol, send, app):
    from app.chat import export

    ids = [send(alice, "team", f"m{i}").get_json()["id"] for i in range(7)]
    old, export.EXPORT_BATCH = export.EXPORT_BATCH, 3
    try:
        response = call(client, "GET", "/api/rooms/team/export", carol)
        lines = response.get_data(as_text=True).splitlines()
    finally:
        export.EXPORT_BATCH = old
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    assert [json.loads(line)["id"] for line in lines] == ids
    assert_error(call(client, "GET", "/api/rooms/team/export", team), 403, "forbidden")


# --- site administration ---------------------------------------------------------------


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_deactivate_ends_sessions_and_logins(client, runner, bob, socket_for):
    sock = socket_for(bob)
    assert sock.is_connected()
    result = runner.invoke(args=["users", "deactivate", "bob"])
    assert result.exit_code == 0, result.output
    assert_error(call(client, "GET", "/api/me", bob), 401, "unauthorized")
    login = client.post("/api/auth/login", json={"username": "bob", "password": "password123"})
    assert login.status_code == 401
    assert not sock.is_connected()
    assert runner.invoke(args=["users", "promote", "nobody"]).exit_code != 0


def test_deleting_a_bot_that_owns_a_room_hands_the_room_on(client, robo, alice, bob):
    assert (
        call(client, "POST", "/api/rooms", token=robo, body={"name": "botroom"}).status_code == 201
    )
    assert call(client, "POST", "/api/rooms/botroom/members", bob).status_code == 200
    assert call(client, "DELETE", "/api/bots/robo", alice).status_code == 204
    assert role_of(client, bob, "botroom") == "owner"
    assert call(client, "GET", "/api/rooms/botroom", bob).get_json()["member_count"] == 1
