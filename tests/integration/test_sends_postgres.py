"""A send on a real PostgreSQL: two statements under the room's row lock, and a
client_id stored once even when its earlier send commits while a retry waits
for that lock."""

import threading
import time

import psycopg2
import pytest
from flask_migrate import upgrade
from test_search_postgres import Api

pytestmark = pytest.mark.integration


@pytest.fixture
def app(database, make_app):
    app = make_app(database.url, RATELIMIT_ENABLED=False)
    with app.app_context():
        upgrade()
    return app


def test_a_send_is_one_locked_read_and_one_insert(app, statements):
    alice = Api(app, "alice")
    alice.call("POST", "/api/rooms", status=201, json={"name": "quiet"})
    del statements[:]
    alice.call(
        "POST", "/api/rooms/quiet/messages", status=201, json={"body": "hi", "client_id": "c1"}
    )
    # The token's user aside (app/auth.py), which is not the send's work.
    work = [
        s
        for s in statements
        if s.split()[0] not in ("BEGIN", "COMMIT") and not s.startswith("SELECT users.")
    ]
    assert len(work) == 2, work
    read, insert = work
    assert read.startswith("SELECT rooms.") and "LEFT OUTER JOIN messages" in read, read
    assert read.endswith("FOR UPDATE OF rooms"), read
    assert insert.startswith("INSERT INTO messages"), insert


def test_a_retry_that_waited_for_the_lock_gets_the_send_that_held_it(app, database):
    alice = Api(app, "alice")
    alice.call("POST", "/api/rooms", status=201, json={"name": "busy"})
    room_id = int(database.psql("SELECT id FROM rooms WHERE name = 'busy'"))
    user_id = alice.user_id

    # Another session holds the room's lock, as a first send of "c1" would.
    holder = psycopg2.connect(database.url)
    cursor = holder.cursor()
    cursor.execute("SELECT id FROM rooms WHERE id = %s FOR UPDATE", (room_id,))

    retries = 4
    answers = []

    def retry():
        answers.append(
            alice.client.post(
                "/api/rooms/busy/messages",
                headers=alice.headers,
                json={"body": "once", "client_id": "c1"},
            )
        )

    threads = [threading.Thread(target=retry) for _ in range(retries)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while int(database.psql("SELECT count(*) FROM pg_locks WHERE NOT granted")) < retries:
        assert time.monotonic() < deadline, "the retries never waited for the room's lock"
        time.sleep(0.05)
    # They all wait, their snapshots taken: the first send commits now.
    cursor.execute(
        "INSERT INTO messages (room_id, author_id, body, client_id, created_at) "
        "VALUES (%s, %s, 'once', 'c1', now()) RETURNING id",
        (room_id, user_id),
    )
    first_id = cursor.fetchone()[0]
    holder.commit()
    holder.close()
    for thread in threads:
        thread.join(30)

    assert [a.status_code for a in answers] == [200] * retries, [a.get_data() for a in answers]
    assert {a.get_json()["id"] for a in answers} == {first_id}
    assert database.psql("SELECT count(*) FROM messages WHERE client_id = 'c1'") == "1"
