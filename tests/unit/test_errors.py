"""Every error leaves as {"error": {"code", "message", "fields"?}} with its HTTP status."""

import json

import pytest
from sqlalchemy.exc import OperationalError
from unit_helpers import assert_error

from app import chat
from app.errors import STATUS, ApiError

SECRET_DETAIL = "boom: the database password is hunter2"


@pytest.fixture
def app(app):
    """The test app plus test-only routes that fail in ways no real route should."""

    def boom():
        raise RuntimeError(SECRET_DETAIL)

    def database_down():
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError(SECRET_DETAIL))

    def api_error(code):
        raise ApiError(code, f"a {code} for the test")

    if "boom" not in app.view_functions:  # the module's app is reused between tests
        app.add_url_rule("/test-only/boom", view_func=boom)
        app.add_url_rule("/test-only/database-down", view_func=database_down)
        app.add_url_rule("/test-only/api-error/<code>", view_func=api_error)
    return app


@pytest.mark.parametrize(
    "code, status",
    [
        ("bad_request", 400),
        ("validation_error", 422),
        ("unauthorized", 401),
        ("forbidden", 403),
        ("not_found", 404),
        ("conflict", 409),
        ("payload_too_large", 413),
        ("rate_limited", 429),
        ("unavailable", 503),
        ("internal_error", 500),
    ],
)
def test_each_contract_code_has_its_status(code, status):
    assert STATUS[code] == status


def test_api_error_rejects_a_code_outside_the_contract():
    with pytest.raises(ValueError):
        ApiError("teapot", "I am a teapot")


def test_api_error_leaves_with_its_code_status_and_message(client):
    response = client.get("/test-only/api-error/conflict")
    error = assert_error(response, 409, "conflict")
    assert error["message"] == "a conflict for the test"


# --- one test per code, provoked through the real API ----------------------


def test_bad_request_for_invalid_json(client):
    response = client.post("/api/auth/register", data="{not json", content_type="application/json")
    assert_error(response, 400, "bad_request")


def test_validation_error_names_each_bad_field(client):
    response = client.post("/api/auth/register", json={"username": "x", "password": "short"})
    error = assert_error(response, 422, "validation_error")
    assert set(error["fields"]) == {"username", "password"}
    assert all(isinstance(text, str) and text for text in error["fields"].values())


def test_validation_error_for_a_body_that_is_not_an_object(client):
    response = client.post("/api/auth/register", json=["alice", "password123"])
    assert_error(response, 422, "validation_error")


def test_unauthorized_without_a_token(client):
    assert_error(client.get("/api/rooms"), 401, "unauthorized")


def test_forbidden_for_someone_elses_message(client, make_room, send, alice, bob):
    make_room(alice, "lounge")
    client.post("/api/rooms/lounge/members", headers=bob.headers)
    sent = send(alice, "lounge").get_json()
    response = client.delete(f"/api/messages/{sent['id']}", headers=bob.headers)
    assert_error(response, 403, "forbidden")


def test_not_found_for_an_unknown_room(client, alice):
    assert_error(client.get("/api/rooms/nowhere", headers=alice.headers), 404, "not_found")


def test_not_found_for_an_unknown_path(client):
    assert_error(client.get("/api/no-such-thing"), 404, "not_found")


def test_conflict_for_a_taken_username(client, alice):
    response = client.post(
        "/api/auth/register", json={"username": "alice", "password": "password123"}
    )
    assert_error(response, 409, "conflict")


def test_payload_too_large_over_64_kib(client, alice):
    response = client.post(
        "/api/rooms",
        headers=alice.headers,
        data=json.dumps({"name": "x" * 70000}),
        content_type="application/json",
    )
    assert_error(response, 413, "payload_too_large")


def test_rate_limited_past_the_send_burst(client, make_room, send, alice):
    make_room(alice, "lounge")
    for i in range(20):
        send(alice, "lounge", f"m{i}")
    response = send(alice, "lounge", "too many")
    assert_error(response, 429, "rate_limited")
    assert "Retry-After" in response.headers


def test_method_not_allowed_is_405_with_allow(client, alice):
    response = client.put("/api/rooms", headers=alice.headers)
    assert_error(response, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_unexpected_exception_is_500_internal_error(client):
    assert_error(client.get("/test-only/boom"), 500, "internal_error")


def test_internal_error_leaks_no_traceback(client):
    text = client.get("/test-only/boom").get_data(as_text=True)
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert "hunter2" not in text
    assert ".py" not in text


def test_unexpected_exception_in_an_api_view_is_500(client, alice, monkeypatch):
    def broken(user):
        raise KeyError(SECRET_DETAIL)

    monkeypatch.setattr(chat, "list_rooms", broken)
    response = client.get("/api/rooms", headers=alice.headers)
    assert_error(response, 500, "internal_error")
    assert "hunter2" not in response.get_data(as_text=True)


def test_database_down_is_503_unavailable_with_retry_after(client):
    response = client.get("/test-only/database-down")
    assert_error(response, 503, "unavailable")
    assert int(response.headers["Retry-After"]) > 0
    assert "hunter2" not in response.get_data(as_text=True)


def test_app_keeps_serving_after_an_internal_error(client, alice):
    client.get("/test-only/boom")
    assert client.get("/api/me", headers=alice.headers).status_code == 200


# --- X-Instance on every response -----------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/docs"),
        ("GET", "/"),
        ("GET", "/no-such-page"),
        ("GET", "/api/me"),
        ("PUT", "/api/rooms"),
        ("POST", "/api/auth/login"),
        ("GET", "/test-only/boom"),
        ("GET", "/socket.io/"),
    ],
)
def test_every_response_carries_x_instance(client, method, path):
    response = client.open(path, method=method)
    assert response.headers["X-Instance"] == "test-1"


def test_successful_api_responses_carry_x_instance(client, alice):
    response = client.get("/api/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["X-Instance"] == "test-1"


def test_no_content_responses_carry_x_instance(client, make_room, alice):
    make_room(alice, "lounge")
    response = client.delete("/api/rooms/lounge/members/me", headers=alice.headers)
    assert response.status_code == 204
    assert response.headers["X-Instance"] == "test-1"
