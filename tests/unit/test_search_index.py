"""The websearch query syntax translated for SQLite's FTS5, and the index itself."""

import pytest
from sqlalchemy import text

from app.extensions import db
from app.search_index import fts5_query, include_in_autogenerate


@pytest.mark.parametrize(
    "q, expected",
    [
        ("hello", '"hello"'),
        ("hello world", '"hello" AND "world"'),
        ('"hello world"', '"hello world"'),
        ('say "hello world" twice', '"say" AND "hello world" AND "twice"'),
        ('"unclosed phrase', '"unclosed phrase"'),
        ("cats or dogs", '("cats") OR ("dogs")'),
        ("big cats OR small dogs", '("big" AND "cats") OR ("small" AND "dogs")'),
        ("cats -dogs", '"cats" NOT "dogs"'),
        ('cats -"hot dogs"', '"cats" NOT "hot dogs"'),
        ("or cats or", '"cats"'),
        ("it's", '"it" AND "s"'),
        ("col:near foo-bar", '"col" AND "near" AND "foo-bar"'),
        ("-col:near cats", '"cats" NOT "col near"'),
    ],
)
def test_websearch_syntax_becomes_an_fts5_expression(q, expected):
    assert fts5_query(q) == expected


@pytest.mark.parametrize("q", ["!!!", "-cats", "or", '""', "   ", "- -"])
def test_a_query_that_can_match_nothing_gives_none(q):
    assert fts5_query(q) is None


def test_fts5_special_characters_are_quoted_not_interpreted():
    assert fts5_query('a"b') == '"a" AND "b"'
    assert fts5_query("NEAR(x y) col:z *") == '"NEAR" AND "x" AND "y" AND "col" AND "z"'


def test_the_index_is_hidden_from_autogenerate_and_nothing_else():
    assert not include_in_autogenerate("messages_fts", "table", {})
    assert not include_in_autogenerate("messages_fts_data", "table", {})
    assert not include_in_autogenerate("search_vector", "column", {})
    assert not include_in_autogenerate("ix_messages_search_vector", "index", {})
    assert include_in_autogenerate("messages", "table", {})
    assert include_in_autogenerate("body", "column", {})
    assert include_in_autogenerate("ix_messages_room_id_id", "index", {})


def _fts_rows(app, q):
    with app.app_context():
        return (
            db.session.execute(
                text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q ORDER BY rowid"),
                {"q": fts5_query(q)},
            )
            .scalars()
            .all()
        )


def test_the_fts5_index_follows_inserts_edits_and_deletes(app, client, alice, make_room, send):
    make_room(alice, "lounge")
    first = send(alice, "lounge", "The runners were running").get_json()["id"]
    second = send(alice, "lounge", "a quiet afternoon").get_json()["id"]
    assert _fts_rows(app, "run") == [first]  # stemmed: runners, running -> run
    client.patch(f"/api/messages/{second}", headers=alice.headers, json={"body": "we run too"})
    assert _fts_rows(app, "run") == [first, second]  # the edit's new words, at once
    assert _fts_rows(app, "quiet") == []  # and not its old ones
    client.delete(f"/api/messages/{first}", headers=alice.headers)
    assert _fts_rows(app, "run") == [second]
