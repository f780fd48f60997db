"""GET /api/rooms/{name}/messages: pages, before/after, has_more, limits, access."""

import pytest
from unit_helpers import assert_error


@pytest.fixture
def config_overrides():
    # Filling a room with 120+ messages would trip the send rate limit.
    return {"RATELIMIT_ENABLED": False}


@pytest.fixture
def fill(send):
    """fill(user, room, n) -> the ids of n new messages, oldest first."""

    def fill(user, room, n):
        ids = []
        for i in range(n):
            response = send(user, room, f"message {i}")
            assert response.status_code == 201
            ids.append(response.get_json()["id"])
        return ids

    return fill


@pytest.fixture
def history(client, alice):
    def history(room="lounge", user=alice, **params):
        return client.get(f"/api/rooms/{room}/messages", headers=user.headers, query_string=params)

    return history


def ids_of(response):
    assert response.status_code == 200, response.get_json()
    return [m["id"] for m in response.get_json()["messages"]]


def test_empty_room_has_an_empty_history(history, lounge):
    response = history()
    assert response.status_code == 200
    assert response.get_json() == {"messages": [], "has_more": False}


def test_history_is_oldest_first(history, fill, lounge, alice):
    ids = fill(alice, lounge, 3)
    assert ids_of(history()) == ids


def test_default_page_is_the_newest_50(history, fill, lounge, alice):
    ids = fill(alice, lounge, 55)
    response = history()
    assert ids_of(response) == ids[-50:]
    assert response.get_json()["has_more"] is True


def test_has_more_is_false_when_everything_fits(history, fill, lounge, alice):
    fill(alice, lounge, 50)
    assert history().get_json()["has_more"] is False


def test_limit_sets_the_page_size(history, fill, lounge, alice):
    ids = fill(alice, lounge, 5)
    assert ids_of(history(limit=2)) == ids[-2:]


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_of_1_to_100_is_accepted(history, lounge, limit):
    assert history(limit=limit).status_code == 200


@pytest.mark.parametrize("limit", [0, 101, -1, "ten"])
def test_limit_outside_1_to_100_is_422(history, lounge, limit):
    error = assert_error(history(limit=limit), 422, "validation_error")
    assert "limit" in error["fields"]


@pytest.mark.parametrize("param", ["before", "after"])
def test_non_integer_cursor_is_422(history, lounge, param):
    error = assert_error(history(**{param: "x"}), 422, "validation_error")
    assert param in error["fields"]


def test_before_returns_the_newest_older_messages(history, fill, lounge, alice):
    ids = fill(alice, lounge, 10)
    response = history(before=ids[6], limit=3)
    assert ids_of(response) == ids[3:6]
    assert response.get_json()["has_more"] is True


def test_before_says_no_more_at_the_start(history, fill, lounge, alice):
    ids = fill(alice, lounge, 10)
    response = history(before=ids[3], limit=3)
    assert ids_of(response) == ids[0:3]
    assert response.get_json()["has_more"] is False


def test_after_returns_the_oldest_newer_messages(history, fill, lounge, alice):
    ids = fill(alice, lounge, 10)
    response = history(after=ids[2], limit=3)
    assert ids_of(response) == ids[3:6]
    assert response.get_json()["has_more"] is True


def test_after_says_no_more_at_the_end(history, fill, lounge, alice):
    ids = fill(alice, lounge, 10)
    response = history(after=ids[6], limit=3)
    assert ids_of(response) == ids[7:10]
    assert response.get_json()["has_more"] is False


def test_before_and_after_together_bound_the_page(history, fill, lounge, alice):
    ids = fill(alice, lounge, 10)
    assert ids_of(history(after=ids[2], before=ids[6])) == ids[3:6]


def test_after_the_newest_message_is_empty(history, fill, lounge, alice):
    ids = fill(alice, lounge, 3)
    response = history(after=ids[-1])
    assert response.get_json() == {"messages": [], "has_more": False}


def test_history_is_per_room(history, fill, make_room, lounge, alice):
    make_room(alice, "other")
    fill(alice, "other", 2)
    ids = fill(alice, lounge, 2)
    assert ids_of(history()) == ids


def test_walking_back_through_120_messages_has_no_gaps_or_duplicates(history, fill, lounge, alice):
    ids = fill(alice, lounge, 123)
    seen, before, pages = [], None, 0
    while True:
        params = {"limit": 50} if before is None else {"limit": 50, "before": before}
        response = history(**params)
        page = ids_of(response)
        assert page == sorted(page)
        seen = page + seen
        pages += 1
        if not response.get_json()["has_more"]:
            break
        before = page[0]
    assert seen == ids
    assert pages == 3


def test_walking_forward_from_zero_with_after_returns_everything_once(history, fill, lounge, alice):
    ids = fill(alice, lounge, 123)
    seen, after = [], 0
    while True:
        response = history(after=after, limit=40)
        page = ids_of(response)
        seen += page
        if not response.get_json()["has_more"]:
            break
        after = page[-1]
    assert seen == ids


def test_public_room_history_needs_membership(history, fill, join, lounge, alice, carol):
    fill(alice, lounge, 1)
    assert_error(history(user=carol), 403, "forbidden")
    join(carol, lounge)
    assert history(user=carol).status_code == 200


def test_private_room_history_is_404_to_non_members(history, make_room, alice, bob):
    make_room(alice, "secret", private=True)
    assert_error(history("secret", user=bob), 404, "not_found")


def test_history_of_an_unknown_room_is_404(history, alice):
    assert_error(history("nowhere"), 404, "not_found")


def test_history_needs_a_token(client, lounge):
    assert_error(client.get("/api/rooms/lounge/messages"), 401, "unauthorized")


@pytest.mark.parametrize("params", [{}, {"after": 0}], ids=["newest", "after"])
def test_a_page_reads_its_authors_with_its_messages(
    history, send, register, join, lounge, alice, statements, params
):
    """The authors come in the page's own statement: a page by many authors
    reads no more than a page by one (each author read by itself was one more
    statement per author, on every history page and every `sync`)."""
    send(alice, "lounge", "by alice")
    statements.clear()
    assert ids_of(history(**params))
    by_one = len(statements)
    for n in range(4):
        writer = register(f"writer{n}")
        join(writer, "lounge")
        assert send(writer, "lounge", f"by writer {n}").status_code == 201
    statements.clear()
    page = history(**params).get_json()["messages"]
    assert {m["author"]["username"] for m in page} == {"alice", *(f"writer{n}" for n in range(4))}
    assert len(statements) == by_one, statements
