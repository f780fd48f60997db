"""GET /api/me and GET /api/users?q=."""

from unit_helpers import assert_error


def test_me_returns_the_token_owner(client, alice):
    response = client.get("/api/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == alice.user


def test_me_needs_a_token(client):
    assert_error(client.get("/api/me"), 401, "unauthorized")


def test_users_returns_usernames_starting_with_q(client, register):
    for name in ("alan", "alice", "bob", "xal"):
        me = register(name)
    response = client.get("/api/users?q=al", headers=me.headers)
    assert response.status_code == 200
    assert [u["username"] for u in response.get_json()["users"]] == ["alan", "alice"]


def test_users_items_are_user_objects(client, alice):
    users = client.get("/api/users?q=alice", headers=alice.headers).get_json()["users"]
    assert users == [alice.user]


def test_users_match_q_case_insensitively(client, alice):
    users = client.get("/api/users?q=ALI", headers=alice.headers).get_json()["users"]
    assert [u["username"] for u in users] == ["alice"]


def test_users_returns_at_most_20(client, register):
    for i in range(25):
        me = register(f"user{i:02d}")
    users = client.get("/api/users?q=user", headers=me.headers).get_json()["users"]
    assert len(users) == 20


def test_users_treats_underscore_in_q_literally(client, register):
    register("a_bc")
    me = register("axbc")
    users = client.get("/api/users?q=a_", headers=me.headers).get_json()["users"]
    assert [u["username"] for u in users] == ["a_bc"]


def test_users_treats_percent_in_q_literally(client, alice):
    users = client.get("/api/users?q=%25", headers=alice.headers).get_json()["users"]
    assert users == []


def test_users_with_an_overlong_q_is_422(client, alice):
    response = client.get("/api/users?q=" + "a" * 33, headers=alice.headers)
    error = assert_error(response, 422, "validation_error")
    assert "q" in error["fields"]


def test_users_needs_a_token(client):
    assert_error(client.get("/api/users?q=a"), 401, "unauthorized")
