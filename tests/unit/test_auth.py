"""POST /api/auth/register, POST /api/auth/login, and bearer tokens."""

import pytest
from itsdangerous import URLSafeTimedSerializer
from unit_helpers import PASSWORD, assert_error

from app.extensions import db
from app.models import User


def test_register_returns_201_with_user_and_token(client):
    response = client.post(
        "/api/auth/register",
        json={"username": "alice", "password": PASSWORD, "display_name": "Alice A."},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"user", "token"}
    assert set(body["user"]) == {"id", "username", "display_name", "created_at", "bot"}
    assert body["user"]["username"] == "alice"
    assert body["user"]["display_name"] == "Alice A."
    assert body["user"]["created_at"].endswith("Z")
    assert body["token"]


def test_register_never_returns_the_password(client):
    response = client.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
    assert PASSWORD not in response.get_data(as_text=True)


def test_register_stores_the_username_lower_case(client):
    response = client.post("/api/auth/register", json={"username": "Alice_9", "password": PASSWORD})
    assert response.status_code == 201
    assert response.get_json()["user"]["username"] == "alice_9"


def test_display_name_defaults_to_the_username(client):
    response = client.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
    assert response.get_json()["user"]["display_name"] == "alice"


def test_register_a_taken_username_is_409(client, alice):
    response = client.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
    assert_error(response, 409, "conflict")


def test_register_a_taken_username_in_other_case_is_409(client, alice):
    response = client.post("/api/auth/register", json={"username": "ALICE", "password": PASSWORD})
    assert_error(response, 409, "conflict")


@pytest.mark.parametrize("username", ["abc", "a" * 32, "a_1", "007"])
def test_username_of_3_to_32_allowed_characters_is_accepted(client, username):
    response = client.post("/api/auth/register", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201


@pytest.mark.parametrize("username", ["ab", "a" * 33, "al-ice", "al ice", "alicé", "al.ice", ""])
def test_username_outside_the_limits_is_422(client, username):
    response = client.post("/api/auth/register", json={"username": username, "password": PASSWORD})
    error = assert_error(response, 422, "validation_error")
    assert "username" in error["fields"]


@pytest.mark.parametrize("password", ["x" * 8, "x" * 128])
def test_password_of_8_to_128_characters_is_accepted(client, password):
    response = client.post("/api/auth/register", json={"username": "alice", "password": password})
    assert response.status_code == 201


@pytest.mark.parametrize("password", ["x" * 7, "x" * 129])
def test_password_outside_8_to_128_is_422(client, password):
    response = client.post("/api/auth/register", json={"username": "alice", "password": password})
    error = assert_error(response, 422, "validation_error")
    assert set(error["fields"]) == {"password"}


def test_register_without_fields_names_each_missing_field(client):
    response = client.post("/api/auth/register", json={})
    error = assert_error(response, 422, "validation_error")
    assert set(error["fields"]) == {"username", "password"}


def test_login_returns_200_with_user_and_token(client, alice):
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"] == alice.user
    assert body["token"]


def test_login_ignores_username_case(client, alice):
    response = client.post("/api/auth/login", json={"username": "ALICE", "password": PASSWORD})
    assert response.status_code == 200


def test_login_with_a_wrong_password_is_401(client, alice):
    response = client.post("/api/auth/login", json={"username": "alice", "password": "wrong-pass"})
    assert_error(response, 401, "unauthorized")


def test_login_of_an_unknown_user_is_401(client):
    response = client.post("/api/auth/login", json={"username": "nobody", "password": PASSWORD})
    assert_error(response, 401, "unauthorized")


def test_login_without_a_password_is_422(client, alice):
    response = client.post("/api/auth/login", json={"username": "alice"})
    error = assert_error(response, 422, "validation_error")
    assert "password" in error["fields"]


def test_token_from_login_authenticates(client, alice):
    token = client.post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORD}
    ).get_json()["token"]
    response = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


def test_request_without_a_token_is_401(client):
    assert_error(client.get("/api/me"), 401, "unauthorized")


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer ", "Basic YWxpY2U6eA==", "token"])
def test_request_with_a_bad_authorization_header_is_401(client, alice, header):
    assert_error(client.get("/api/me", headers={"Authorization": header}), 401, "unauthorized")


def test_token_signed_with_another_secret_is_401(client, alice):
    forged = URLSafeTimedSerializer("another-secret", salt="auth-token").dumps(
        {"uid": alice.user["id"]}
    )
    response = client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})
    assert_error(response, 401, "unauthorized")


def test_token_of_a_deleted_user_is_401(app, client, alice):
    with app.app_context():
        db.session.delete(db.session.get(User, alice.user["id"]))
        db.session.commit()
    assert_error(client.get("/api/me", headers=alice.headers), 401, "unauthorized")


class TestExpiredTokens:
    @pytest.fixture
    def config_overrides(self):
        return {"TOKEN_TTL_SECONDS": -1}

    def test_an_expired_token_is_401(self, client, alice):
        error = assert_error(client.get("/api/me", headers=alice.headers), 401, "unauthorized")
        assert "expired" in error["message"]


class TestAuthRateLimit:
    @pytest.fixture
    def config_overrides(self):
        return {"AUTH_RATE_LIMIT": "2 per minute"}

    def test_logins_past_the_auth_limit_are_429(self, client):
        for _ in range(2):
            client.post("/api/auth/login", json={"username": "nobody", "password": PASSWORD})
        response = client.post("/api/auth/login", json={"username": "nobody", "password": PASSWORD})
        assert_error(response, 429, "rate_limited")
        assert int(response.headers["Retry-After"]) > 0


def test_a_successful_login_carries_no_retry_after(client, alice):
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert "Retry-After" not in response.headers
    assert "X-RateLimit-Limit" in response.headers
