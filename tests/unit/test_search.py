"""GET /api/search in embedded mode (SQLite FTS5): words, phrases, access, paging, limits."""

import pytest
from unit_helpers import assert_error


@pytest.fixture
def search(client):
    """search(user, **params) -> the response."""

    def search(user, **params):
        return client.get("/api/search", headers=user.headers, query_string=params)

    return search


def _bodies(response):
    assert response.status_code == 200, response.get_json()
    return [m["body"] for m in response.get_json()["messages"]]


def test_finds_words_stemmed_newest_first(search, send, lounge, alice, bob):
    send(alice, lounge, "I love running")
    send(bob, lounge, "nothing here")
    send(bob, lounge, "she runs every day")
    assert _bodies(search(alice, q="run")) == ["she runs every day", "I love running"]


def test_every_word_must_be_there(search, send, lounge, alice):
    send(alice, lounge, "red apples")
    send(alice, lounge, "green apples")
    assert _bodies(search(alice, q="green apple")) == ["green apples"]


def test_a_quoted_phrase_needs_its_words_together(search, send, lounge, alice):
    send(alice, lounge, "the quick fox")
    send(alice, lounge, "quick brown fox")
    assert _bodies(search(alice, q='"quick fox"')) == ["the quick fox"]


def test_or_and_minus(search, send, lounge, alice):
    send(alice, lounge, "cats purr")
    send(alice, lounge, "dogs bark")
    send(alice, lounge, "cats and dogs")
    assert _bodies(search(alice, q="cats or dogs")) == ["cats and dogs", "dogs bark", "cats purr"]
    assert _bodies(search(alice, q="cats -dogs")) == ["cats purr"]


def test_a_hit_is_a_whole_message_with_room_reactions_and_mentions(
    search, send, lounge, alice, bob
):
    sent = send(alice, lounge, "@bob searchable").get_json()
    [hit] = search(bob, q="searchable").get_json()["messages"]
    assert hit == sent
    assert hit["room"] == lounge and hit["mentions"] == ["bob"] and hit["reactions"] == []


def test_deleted_messages_are_never_found(client, search, send, lounge, alice):
    sent = send(alice, lounge, "regrettable words").get_json()
    client.delete(f"/api/messages/{sent['id']}", headers=alice.headers)
    assert _bodies(search(alice, q="regrettable")) == []


def test_an_edit_is_found_by_its_new_words_at_once(client, search, send, lounge, alice):
    sent = send(alice, lounge, "first draft").get_json()
    client.patch(
        f"/api/messages/{sent['id']}", headers=alice.headers, json={"body": "final version"}
    )
    assert _bodies(search(alice, q="draft")) == []
    assert _bodies(search(alice, q="final")) == ["final version"]


def test_searches_public_rooms_and_my_private_rooms_and_dms_only(
    client, search, send, make_room, alice, bob, carol
):
    make_room(alice, "open")  # public: carol may read it without joining
    make_room(alice, "closed", private=True)
    client.post("/api/dm/bob", headers=alice.headers)
    send(alice, "open", "needle in public")
    send(alice, "closed", "needle in private")
    send(alice, "dm-alice-bob", "needle in dm")
    assert sorted(_bodies(search(alice, q="needle"))) == [
        "needle in dm",
        "needle in private",
        "needle in public",
    ]
    assert sorted(_bodies(search(bob, q="needle"))) == ["needle in dm", "needle in public"]
    assert _bodies(search(carol, q="needle")) == ["needle in public"]


def test_one_room(search, send, make_room, lounge, alice):
    make_room(alice, "other")
    send(alice, lounge, "needle here")
    send(alice, "other", "needle there")
    assert _bodies(search(alice, q="needle", room="other")) == ["needle there"]


def test_one_private_room_of_others_is_404(search, make_room, alice, carol):
    make_room(alice, "closed", private=True)
    assert_error(search(carol, q="x", room="closed"), 404, "not_found")
    assert_error(search(carol, q="x", room="nowhere"), 404, "not_found")


def test_before_pages_newest_first(search, send, lounge, alice):
    ids = [send(alice, lounge, f"page item {n}").get_json()["id"] for n in range(5)]
    first = search(alice, q="item", limit=2).get_json()
    assert [m["id"] for m in first["messages"]] == [ids[4], ids[3]]
    assert first["has_more"] is True
    second = search(alice, q="item", limit=2, before=ids[3]).get_json()
    assert [m["id"] for m in second["messages"]] == [ids[2], ids[1]]
    last = search(alice, q="item", limit=2, before=ids[1]).get_json()
    assert [m["id"] for m in last["messages"]] == [ids[0]]
    assert last["has_more"] is False


def test_a_query_of_only_punctuation_finds_nothing(search, send, lounge, alice):
    send(alice, lounge, "!!! ???")
    assert _bodies(search(alice, q="!!!")) == []


def test_fts5_syntax_in_a_query_is_taken_as_words(search, send, lounge, alice):
    send(alice, lounge, "near the col")
    assert _bodies(search(alice, q="NEAR col*")) == ["near the col"]


# --- limits -------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 201}])
def test_q_of_1_to_200_characters_is_required(search, alice, params):
    error = assert_error(search(alice, **params), 422, "validation_error")
    assert "q" in error["fields"]


def test_q_of_200_characters_is_accepted(search, alice):
    assert search(alice, q="x" * 200).status_code == 200


@pytest.mark.parametrize("limit", [0, 51, "many"])
def test_limit_is_1_to_50(search, alice, limit):
    error = assert_error(search(alice, q="x", limit=limit), 422, "validation_error")
    assert "limit" in error["fields"]


def test_limit_defaults_to_20(search, send, lounge, alice, bob):
    for n in range(11):  # two senders: a burst of 20 sends is one user's limit
        send(alice, lounge, f"many {n}")
        send(bob, lounge, f"many more {n}")
    page = search(alice, q="many").get_json()
    assert len(page["messages"]) == 20 and page["has_more"] is True


@pytest.mark.parametrize("before", [0, -1, 2**63])
def test_before_is_a_positive_64_bit_id(search, alice, before):
    error = assert_error(search(alice, q="x", before=before), 422, "validation_error")
    assert "before" in error["fields"]


def test_search_needs_a_token(client):
    assert_error(client.get("/api/search?q=x"), 401, "unauthorized")


def test_search_is_rate_limited_past_a_burst_of_10_for_that_user_only(search, alice, bob):
    answers = [search(alice, q="x") for _ in range(11)]
    assert [a.status_code for a in answers[:10]] == [200] * 10
    response = answers[10]
    assert_error(response, 429, "rate_limited")
    assert "Retry-After" in response.headers
    assert search(bob, q="x").status_code == 200


@pytest.mark.parametrize(
    "q",
    [
        "_",
        "__init__",
        "é",
        "'",
        "\\",
        "a:b",
        "(",
        ")",
        "*",
        "^x",
        "NOT",
        "AND OR",
        '"',
        '""""',
        "-",
        "--x",
        "x -",
        "\u200d",
        "\N{THUMBS UP SIGN}",
        "a\tb",
        "NEAR",
        "x+y",
        "{col}: z",
    ],
)
def test_odd_queries_are_words_or_nothing_never_an_error(search, send, lounge, alice, q):
    send(alice, lounge, "some text with __init__ and a:b")
    assert search(alice, q=q).status_code == 200
