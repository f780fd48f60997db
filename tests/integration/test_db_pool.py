"""The pool's checkout check (app/dbpool.py) on a real PostgreSQL: no round trip
for a live connection, and a connection the server ended is replaced, not used."""

import time

import pytest
from sqlalchemy import text

from app.dbpool import server_has_hung_up
from app.extensions import db


@pytest.fixture
def app(make_app, database):
    return make_app(database.url)


def backend_pid(app):
    with app.app_context():
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.remove()  # back to the pool
    return pid


def test_a_checkout_sends_nothing_but_the_statements(app, statements):
    backend_pid(app)
    del statements[:]
    backend_pid(app)
    assert statements == ["SELECT pg_backend_pid()"]


def test_a_connection_the_server_ended_is_replaced_on_checkout(app, database):
    first = backend_pid(app)
    assert backend_pid(app) == first  # the pool reuses it
    database.psql(f"SELECT pg_terminate_backend({first})")
    time.sleep(0.5)  # the backend exits a moment after it is told to
    second = backend_pid(app)  # no error: a new connection
    assert second != first


def test_every_pooled_connection_survives_a_server_restart(app, database):
    with app.app_context():
        # Two connections checked out at once, so the pool holds two.
        one, two = db.engine.connect(), db.engine.connect()
        one.close()
        two.close()
    database.server.stop(remove=False)
    database.server.start()
    for _ in range(3):
        backend_pid(app)  # every checkout finds a live connection


def test_server_has_hung_up_sees_a_live_and_an_ended_connection(app, database):
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            assert server_has_hung_up(raw.dbapi_connection) is False
            cur = raw.dbapi_connection.cursor()
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            raw.dbapi_connection.rollback()
            database.psql(f"SELECT pg_terminate_backend({pid})")
            deadline = time.monotonic() + 5
            while not server_has_hung_up(raw.dbapi_connection):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            raw.invalidate()
