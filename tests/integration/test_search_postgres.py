"""Search on a real PostgreSQL: the GIN index is used, and embedded mode (SQLite
FTS5) gives the same answers for the same messages."""

import pytest
from flask_migrate import upgrade
from sqlalchemy import event

from app.extensions import db

pytestmark = pytest.mark.integration

NO_LIMITS = {"RATELIMIT_ENABLED": False}


class Api:
    """A logged-in user of an in-process app (test client)."""

    def __init__(self, app, username):
        self.app = app
        self.client = app.test_client()
        response = self.client.post(
            "/api/auth/register", json={"username": username, "password": "password123"}
        )
        assert response.status_code == 201, response.get_json()
        self.headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
        self.user_id = response.get_json()["user"]["id"]

    def call(self, method, url, status=200, **kwargs):
        response = self.client.open(url, method=method, headers=self.headers, **kwargs)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def search(self, **params):
        return self.call("GET", "/api/search", query_string=params)


def _migrated(make_app, url):
    app = make_app(url, **NO_LIMITS)
    with app.app_context():
        upgrade()
    return app


def _search_statements(app, run):
    """The SQL statements (with parameters) that reach the database while run() runs."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "search_vector" in statement:
            seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        result = run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return result, seen


def _plan(app, statement, parameters):
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    return "\n".join(row[0] for row in rows)


def _fifty_thousand_messages(database, make_app):
    """An app and its user alice, with 50,000 messages of hers in one room: words
    from a vocabulary of 3,000 (so that the planner's statistics know how rare a
    word is, as they do for real text), a common word ('cats' and four others,
    each in a fifth of them), and a rare word ('zeppelin') in five."""
    app = _migrated(make_app, database.url)
    alice = Api(app, "alice")
    room = alice.call("POST", "/api/rooms", status=201, json={"name": "big"})
    database.psql(
        "INSERT INTO messages (room_id, author_id, body, created_at) "
        f"SELECT {room['id']}, {alice.user_id}, "
        "'w' || (i::bigint * 7919) % 3000 || ' w' || (i::bigint * 104729) % 2999 || "
        "' w' || i % 2997 || "
        "' about ' || (ARRAY['cats', 'dogs', 'birds', 'fish', 'trains'])[1 + i % 5] || "
        "CASE WHEN i % 10000 = 0 THEN ' zeppelin' ELSE '' END, now() "
        "FROM generate_series(1, 50000) AS i"
    )
    # As autovacuum would: index entries leave the GIN pending list, and statistics.
    database.psql("VACUUM ANALYZE messages")
    return app, alice


def test_search_uses_the_gin_index_over_many_messages(database, make_app):
    app, alice = _fifty_thousand_messages(database, make_app)

    page, statements = _search_statements(app, lambda: alice.search(q="zeppelins"))

    assert [m["body"].split()[-1] for m in page["messages"]] == ["zeppelin"] * 5
    ids = [m["id"] for m in page["messages"]]
    assert ids == sorted(ids, reverse=True)
    [(statement, parameters)] = statements
    plan = _plan(app, statement, parameters)
    assert "ix_messages_search_vector" in plan, plan
    assert "Seq Scan on messages" not in plan, plan


def test_a_common_word_stops_at_the_page_instead_of_reading_every_hit(database, make_app):
    """A word in a fifth of 50,000 messages: the page is the newest 20 of them,
    found walking back from the newest message, not all 10,000 hits read and
    sorted (as one condition over both the body and file names made it)."""
    app, alice = _fifty_thousand_messages(database, make_app)
    page, [(statement, parameters)] = _search_statements(app, lambda: alice.search(q="cats"))
    assert len(page["messages"]) == 20 and page["has_more"] is True
    with app.app_context(), db.engine.connect() as connection:
        [[plan]] = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
        ).all()

    def rows_read(node):
        own = node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        if node.get("Relation Name") != "messages":
            own = 0
        return own + sum(rows_read(child) for child in node.get("Plans", []))

    assert rows_read(plan[0]["Plan"]) < 1000, plan


def test_without_the_index_the_same_query_scans_the_table(database, make_app):
    """The check above can fail: drop the index and the plan changes."""
    app = _migrated(make_app, database.url)
    alice = Api(app, "alice")
    room = alice.call("POST", "/api/rooms", status=201, json={"name": "big"})
    database.psql(
        "INSERT INTO messages (room_id, author_id, body, created_at) "
        f"SELECT {room['id']}, {alice.user_id}, 'filler ' || i, now() "
        "FROM generate_series(1, 20000) AS i; "
        "DROP INDEX ix_messages_search_vector; ANALYZE messages"
    )
    _, [(statement, parameters)] = _search_statements(app, lambda: alice.search(q="zeppelin"))
    assert "ix_messages_search_vector" not in _plan(app, statement, parameters)


def test_an_edit_is_found_at_once_and_a_deleted_message_never(database, make_app):
    app = _migrated(make_app, database.url)
    alice = Api(app, "alice")
    alice.call("POST", "/api/rooms", status=201, json={"name": "lounge"})
    sent = alice.call(
        "POST", "/api/rooms/lounge/messages", status=201, json={"body": "first draft"}
    )
    alice.call("PATCH", f"/api/messages/{sent['id']}", json={"body": "final wording"})
    assert alice.search(q="draft")["messages"] == []
    assert [m["id"] for m in alice.search(q="wording")["messages"]] == [sent["id"]]
    alice.call("DELETE", f"/api/messages/{sent['id']}")
    assert alice.search(q="wording")["messages"] == []


CORPUS = [
    "I love running in the park",
    "She runs every morning",
    "The quick brown fox jumps",
    "a quick fox, not brown",
    "cats purr and dogs bark",
    "Cats sleep all day",
    "dogs chase the mail carrier",
    "meeting moved to Thursday",
    "Thursday meetings are cancelled",
    "deploying the new release tonight",
    "the release was deployed",
    "col:near is not a special word here",
    "well-known issue with the build",
    "build failed again",
]
# Queries whose answers must agree. (Where the two differ is listed in
# docs/api.md: English stop words, a query of only excluded words.)
QUERIES = [
    "run",
    "running",
    "runs",
    "quick fox",
    '"quick fox"',
    '"quick brown fox"',
    "cats or dogs",
    "cats -dogs",
    "cat",
    "meeting thursday",
    "deploy",
    "release -tonight",
    "col:near",
    "well-known",
    "build",
    '"build failed"',
    "nothing matches this",
    "!!!",
    'dogs "mail carrier"',
    "purr or sleep or chase",
]


def _load_corpus(api):
    api.call("POST", "/api/rooms", status=201, json={"name": "corpus"})
    for body in CORPUS:
        api.call("POST", "/api/rooms/corpus/messages", status=201, json={"body": body})


def test_embedded_mode_gives_the_same_answers(database, make_app, tmp_path):
    answers = {}
    for backend, url in [
        ("postgresql", database.url),
        ("sqlite", f"sqlite:///{tmp_path}/embedded.db"),
    ]:
        api = Api(_migrated(make_app, url), "alice")
        _load_corpus(api)
        answers[backend] = {
            q: [m["body"] for m in api.search(q=q, limit=50)["messages"]] for q in QUERIES
        }
    assert answers["sqlite"] == answers["postgresql"]
    # ... and they are not all empty: the comparison means something.
    assert sum(bool(hits) for hits in answers["postgresql"].values()) >= 15


# --- reactions under concurrency (PostgreSQL row locks) -------------------------------------


def test_concurrent_new_emoji_never_make_more_than_20(database, make_app):
    import threading

    app = _migrated(make_app, database.url)
    owner = Api(app, "owner")
    owner.call("POST", "/api/rooms", status=201, json={"name": "busy"})
    sent = owner.call("POST", "/api/rooms/busy/messages", status=201, json={"body": "react!"})
    reactors = [Api(app, f"user{n}") for n in range(30)]
    for reactor in reactors:
        reactor.call("POST", "/api/rooms/busy/members")
    statuses = []
    start = threading.Barrier(len(reactors))

    def react(reactor, n):
        start.wait()
        response = reactor.client.put(
            f"/api/messages/{sent['id']}/reactions/:e{n}:", headers=reactor.headers
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=react, args=(r, n)) for n, r in enumerate(reactors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200] * 20 + [409] * 10
    assert (
        database.psql(
            f"SELECT count(DISTINCT emoji) FROM reactions WHERE message_id = {sent['id']}"
        )
        == "20"
    )
