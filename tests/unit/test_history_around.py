"""History `around` a message: the page centred on it, for jumping to a search hit."""

import pytest
from unit_helpers import assert_error


@pytest.fixture
def ids(make_room, join, send, alice, bob):
    """Eleven messages in the lounge (alternating senders, under the send burst)."""
    make_room(alice, "lounge")
    join(bob, "lounge")
    return [send(alice if n % 2 else bob, "lounge", f"m{n}").get_json()["id"] for n in range(11)]


def _page(client, user, **params):
    response = client.get("/api/rooms/lounge/messages", headers=user.headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_around_centres_the_page_on_the_message(client, ids, alice):
    page = _page(client, alice, around=ids[5], limit=5)
    assert [m["id"] for m in page["messages"]] == ids[3:8]
    assert page["has_more"] is True  # older messages remain
    assert page["has_newer"] is True


def test_around_near_the_start_fills_the_page_with_newer_ones(client, ids, alice):
    page = _page(client, alice, around=ids[0], limit=4)
    assert [m["id"] for m in page["messages"]] == ids[0:4]
    assert page["has_more"] is False and page["has_newer"] is True


def test_around_near_the_end(client, ids, alice):
    page = _page(client, alice, around=ids[10], limit=4)
    assert [m["id"] for m in page["messages"]] == ids[7:11]
    assert page["has_more"] is True and page["has_newer"] is False


def test_around_a_deleted_message_still_finds_it(client, ids, alice):
    client.delete(f"/api/messages/{ids[5]}", headers=alice.headers)
    page = _page(client, alice, around=ids[5], limit=3)
    assert [m["id"] for m in page["messages"]] == ids[4:7]
    assert page["messages"][1]["deleted"] is True


def test_around_a_message_of_another_room_is_404(client, ids, make_room, send, alice):
    make_room(alice, "other")
    elsewhere = send(alice, "other", "x").get_json()["id"]
    response = client.get(f"/api/rooms/lounge/messages?around={elsewhere}", headers=alice.headers)
    error = assert_error(response, 404, "not_found")
    assert "around" in error["message"]


@pytest.mark.parametrize("extra", ["before=5", "after=5", "before=2&after=9"])
def test_around_with_before_or_after_gives_the_page_around(client, ids, alice, extra):
    """The document cannot say "not together", so around takes precedence."""
    alone = _page(client, alice, around=ids[3], limit=3)
    response = client.get(
        f"/api/rooms/lounge/messages?around={ids[3]}&limit=3&{extra}", headers=alice.headers
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == alone


@pytest.mark.parametrize("around", [0, -3, 2**63, "x"])
def test_around_is_a_positive_64_bit_id(client, ids, alice, around):
    response = client.get(f"/api/rooms/lounge/messages?around={around}", headers=alice.headers)
    error = assert_error(response, 422, "validation_error")
    assert "around" in error["fields"]


def test_plain_pages_do_not_say_has_newer(client, ids, alice):
    assert "has_newer" not in _page(client, alice, limit=3)
