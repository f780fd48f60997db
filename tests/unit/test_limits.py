"""The contract's limits on messages: body size, request size, send rate."""

import collections
import json

import pytest
from unit_helpers import assert_error

# --- message body ---------------------------------------------------------


def test_body_of_4000_characters_is_accepted(send, lounge, alice):
    response = send(alice, lounge, "x" * 4000)
    assert response.status_code == 201
    assert response.get_json()["body"] == "x" * 4000


def test_body_of_4000_characters_plus_surrounding_space_is_accepted(send, lounge, alice):
    response = send(alice, lounge, "  " + "x" * 4000 + "\n\n")
    assert response.status_code == 201
    assert len(response.get_json()["body"]) == 4000


def test_body_of_one_character_is_accepted(send, lounge, alice):
    assert send(alice, lounge, "x").status_code == 201


@pytest.mark.parametrize("body", ["x" * 4001, "", "   ", "\n\t "])
def test_body_outside_1_to_4000_after_trimming_is_422(send, lounge, alice, body):
    error = assert_error(send(alice, lounge, body), 422, "validation_error")
    assert "body" in error["fields"]


@pytest.mark.parametrize("payload", [{}, {"body": None}, {"body": 42}, {"body": ["hi"]}])
def test_missing_or_non_string_body_is_422(client, lounge, alice, payload):
    response = client.post("/api/rooms/lounge/messages", headers=alice.headers, json=payload)
    error = assert_error(response, 422, "validation_error")
    assert "body" in error["fields"]


def test_rejected_body_stores_nothing(client, send, lounge, alice):
    send(alice, lounge, "x" * 4001)
    history = client.get("/api/rooms/lounge/messages", headers=alice.headers).get_json()
    assert history["messages"] == []


# --- request size ---------------------------------------------------------


def test_request_body_over_64_kib_is_413(client, lounge, alice):
    data = json.dumps({"body": "x" * (64 * 1024)})
    response = client.post(
        "/api/rooms/lounge/messages",
        headers=alice.headers,
        data=data,
        content_type="application/json",
    )
    assert_error(response, 413, "payload_too_large")


def test_request_body_just_under_64_kib_is_not_413(client, lounge, alice):
    data = json.dumps({"body": "x" * (64 * 1024 - 100)})
    response = client.post(
        "/api/rooms/lounge/messages",
        headers=alice.headers,
        data=data,
        content_type="application/json",
    )
    assert_error(response, 422, "validation_error")


def test_oversized_register_request_is_413(client):
    data = json.dumps({"username": "alice", "password": "x" * (65 * 1024)})
    response = client.post("/api/auth/register", data=data, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


# --- send rate ------------------------------------------------------------


def test_send_carries_rate_limit_headers(send, lounge, alice):
    response = send(alice, lounge)
    assert response.headers["X-RateLimit-Limit"] == "20"
    assert response.headers["X-RateLimit-Remaining"] == "19"
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def test_remaining_counts_down_with_each_send(send, lounge, alice):
    remaining = [int(send(alice, lounge).headers["X-RateLimit-Remaining"]) for _ in range(3)]
    assert remaining == [19, 18, 17]


def test_burst_of_20_sends_is_allowed(send, lounge, alice):
    statuses = [send(alice, lounge, f"m{i}").status_code for i in range(20)]
    assert statuses == [201] * 20


def test_21st_send_in_a_burst_is_429_with_retry_after(send, lounge, alice):
    for i in range(20):
        send(alice, lounge, f"m{i}")
    response = send(alice, lounge, "one too many")
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-Instance"] == "test-1"


def test_rate_limited_send_stores_nothing(client, send, lounge, alice):
    for i in range(20):
        send(alice, lounge, f"m{i}")
    send(alice, lounge, "one too many")
    history = client.get("/api/rooms/lounge/messages", headers=alice.headers).get_json()
    assert len(history["messages"]) == 20
    assert "one too many" not in [m["body"] for m in history["messages"]]


def test_rate_limit_leaves_other_users_unaffected(send, lounge, alice, bob):
    for i in range(21):
        send(alice, lounge, f"m{i}")
    response = send(bob, lounge, "still fine")
    assert response.status_code == 201
    assert response.headers["X-RateLimit-Remaining"] == "19"


def test_retrying_a_sent_client_id_within_the_limit_gives_the_first_message(send, lounge, alice):
    first = send(alice, lounge, "hello", client_id="once").get_json()
    retry = send(alice, lounge, "hello", client_id="once")
    assert retry.status_code == 200
    assert retry.get_json() == first


def test_repeats_of_a_client_id_count_against_the_send_limit(client, send, lounge, alice):
    """100 sends of one client_id: the first stores it, 19 repeats get it back, the
    other 80 are refused before the room's lock is taken."""
    statuses = collections.Counter(
        send(alice, lounge, "hello", client_id="same").status_code for _ in range(100)
    )
    assert statuses == {201: 1, 200: 19, 429: 80}
    # and the limit holds for a new message as well
    assert_error(send(alice, lounge, "new"), 429, "rate_limited")


def test_rate_limit_counts_sends_across_rooms(send, make_room, lounge, alice):
    make_room(alice, "other")
    for i in range(20):
        send(alice, lounge, f"m{i}")
    assert_error(send(alice, "other"), 429, "rate_limited")


class TestRateLimitDisabled:
    @pytest.fixture
    def config_overrides(self):
        return {"RATELIMIT_ENABLED": False}

    def test_no_rate_limit_when_disabled(self, send, lounge, alice):
        statuses = {send(alice, lounge, f"m{i}").status_code for i in range(25)}
        assert statuses == {201}
