"""Flask commands: seed, wait-db, upgrade-once, check-schema, files cleanup, users."""

import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select, text

from app import auth, chat
from app.chat import accounts
from app.errors import ApiError
from app.extensions import db
from app.models import Membership, Message, Room, SeedItem, User
from app.schema_state import schema_status

SEEDS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "seeds")
# Any constant unique to this app: the key of the PostgreSQL advisory lock
# that makes concurrent migrators run one after the other.
MIGRATION_LOCK_KEY = 7_414_252_601


def _load(name: str):
    with open(os.path.join(SEEDS_DIR, name), encoding="utf-8") as f:
        return json.load(f)


class _Record:
    """Which seed items have been loaded before (the seed_items table).

    An item loaded once is never loaded again, even if it is gone: an operator
    who deleted a demo user or membership does not get it back at the next
    start. An item found in the database but not recorded (created by hand, or
    by a seed before this record existed) is recorded and left as it is."""

    def __init__(self):
        self.keys = set(db.session.scalars(select(SeedItem.key)))

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def add(self, key: str) -> None:
        if key not in self.keys:
            self.keys.add(key)
            db.session.add(SeedItem(key=key))


def seeding_allowed(config: Mapping[str, Any]) -> bool:
    """Demo data has a published password: in production only when asked for."""
    return config["APP_ENV"] != "production" or config["SEED_DEMO"]


def load_seeds() -> dict[str, int]:
    """Insert the seed items never loaded before; returns what was added, by kind."""
    added = {"users": 0, "rooms": 0, "memberships": 0, "messages": 0}
    record = _Record()
    users = {}
    for item in _load("users.json"):
        key = f"user/{item['username']}"
        user = db.session.scalar(select(User).where(User.username == item["username"]))
        if user is None and key not in record:
            user = User(
                username=item["username"],
                display_name=item["display_name"],
                password_hash=auth.hash_password(item["password"]),
            )
            db.session.add(user)
            added["users"] += 1
        record.add(key)
        if user is not None:
            users[user.username] = user
    db.session.flush()
    rooms = {}
    for item in _load("rooms.json"):
        key = f"room/{item['name']}"
        room = db.session.scalar(select(Room).where(Room.name == item["name"]))
        if room is None and key not in record:
            room = Room(
                name=item["name"],
                title=item.get("title", ""),
                kind="private" if item.get("private") else "public",
            )
            db.session.add(room)
            db.session.flush()
            added["rooms"] += 1
        record.add(key)
        if room is None:
            continue
        rooms[room.name] = room
        for username in item.get("members", []):
            key = f"membership/{room.name}/{username}"
            user = users.get(username)
            if (
                user is not None
                and key not in record
                and db.session.get(Membership, (room.id, user.id)) is None
            ):
                db.session.add(Membership(room_id=room.id, user_id=user.id))
                added["memberships"] += 1
            record.add(key)
    db.session.flush()
    for item in _load("messages.json"):
        key = f"message/{item['room']}/{item['client_id']}"
        room, author = rooms.get(item["room"]), users.get(item["author"])
        if key in record or room is None or author is None:
            record.add(key)
            continue
        exists = db.session.scalar(
            select(Message.id).where(
                Message.room_id == room.id,
                Message.author_id == author.id,
                Message.client_id == item["client_id"],
            )
        )
        if exists is None:
            db.session.add(
                Message(
                    room_id=room.id,
                    author_id=author.id,
                    body=item["body"],
                    client_id=item["client_id"],
                )
            )
            db.session.flush()
            added["messages"] += 1
        record.add(key)
    db.session.commit()
    return added


def _seed_and_say():
    if not seeding_allowed(current_app.config):
        click.echo(
            "seed: skipped: APP_ENV=production loads no demo data (set SEED_DEMO=1 to load it)"
        )
        return
    click.echo("seed: added " + ", ".join(f"{n} {k}" for k, n in load_seeds().items()))


def _wait(what: str, probe: Callable[[], tuple[Any, str]], timeout: float, interval: float = 1.0):
    """Calls probe() until it returns a true value or timeout; logs while waiting."""
    deadline = time.monotonic() + timeout
    last_reason = None
    while True:
        try:
            result, reason = probe()
        except Exception as exc:
            result, reason = (
                None,
                f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
            )
        if result:
            return result
        if reason != last_reason:
            click.echo(f"waiting for {what}: {reason}", err=True)
            last_reason = reason
        if time.monotonic() >= deadline:
            raise click.ClickException(f"gave up waiting for {what} after {timeout:g}s: {reason}")
        time.sleep(interval)
        db.session.remove()


def register_commands(app: Flask) -> None:
    @app.cli.command("seed")
    def seed():
        """Load seeds/ once: a later run adds nothing, nor what was deleted since.
        With APP_ENV=production, only when SEED_DEMO=1."""
        _seed_and_say()

    @app.cli.command("wait-db")
    @click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait.")
    def wait_db(timeout: float) -> None:
        """Wait until the database accepts connections."""

        def probe():
            db.session.execute(text("SELECT 1"))
            return True, "connected"

        _wait("the database", probe, timeout)
        click.echo("database is reachable")

    @app.cli.command("upgrade-once")
    @click.option("--seed/--no-seed", default=True, show_default=True)
    def upgrade_once(seed: bool) -> None:
        """Migrate to head and seed, under a lock, so concurrent migrators run once."""
        engine = db.engine
        if engine.dialect.name != "postgresql":
            upgrade()
            if seed:
                _seed_and_say()
            return
        with engine.connect() as lock_conn:
            click.echo("taking the migration lock", err=True)
            lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            try:
                state, detail = schema_status(engine)
                click.echo(f"schema before: {state} ({detail})", err=True)
                if state == "unknown":
                    raise click.ClickException(detail)
                if state != "at_head":
                    upgrade()
                    click.echo("migrated to head", err=True)
                else:
                    click.echo("already at head; nothing to migrate", err=True)
                if seed:
                    _seed_and_say()
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                lock_conn.commit()

    files_group = click.Group("files", help="Uploaded files.")
    app.cli.add_command(files_group)

    @files_group.command("cleanup")
    @click.option(
        "--hours",
        default=24.0,
        show_default=True,
        help="Remove uploads never attached to a message that are older than this.",
    )
    @with_appcontext
    def files_cleanup(hours: float) -> None:
        """Remove uploads never attached to a message within `--hours` (24: the contract's)."""
        removed = chat.clean_up_files(timedelta(hours=hours))
        click.echo(f"removed {removed} unattached upload(s)")

    @app.cli.command("check-schema")
    @click.option(
        "--wait",
        "wait_seconds",
        default=0.0,
        show_default=True,
        help="Seconds to wait for the database to reach the head revision.",
    )
    def check_schema(wait_seconds: float) -> None:
        """Exit 0 when the database is at the code's head revision.

        Exits 3 at once on a revision this code does not know; exits 1 if the
        database is still behind (or unreachable) when --wait runs out.
        """

        def probe():
            state, detail = schema_status()
            if state == "unknown":
                raise SystemExit(_refuse(detail))
            return state == "at_head", f"{state}: {detail}"

        _wait("the schema to reach the code's head revision", probe, wait_seconds)
        click.echo("schema is at the code's head revision")

    users = AppGroup("users", help="Site administration: promote, demote, deactivate.")

    @users.command("promote")
    @click.argument("name")
    def promote(name: str) -> None:
        """Make NAME a site admin (reads every room's audit log)."""
        _user_command(lambda: accounts.set_site_admin(name, True), "is a site admin")

    @users.command("demote")
    @click.argument("name")
    def demote(name: str) -> None:
        """NAME is no longer a site admin."""
        _user_command(lambda: accounts.set_site_admin(name, False), "is no longer a site admin")

    @users.command("deactivate")
    @click.argument("name")
    def deactivate(name: str) -> None:
        """NAME cannot log in; their sessions end on every instance."""
        _user_command(lambda: accounts.deactivate(name), "is deactivated; their sessions ended")

    app.cli.add_command(users)


def _user_command(action: Callable[[], User], done: str) -> None:
    try:
        user = action()
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{user.username} {done}")


def _refuse(detail: str):
    click.echo(f"error: refusing to start: {detail}", err=True)
    return 3
