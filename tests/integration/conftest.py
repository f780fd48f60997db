"""Fixtures for the integration tests on real services (loopback only).

- `postgres`: one private PostgreSQL for the whole session (scripts/localservices.py),
  started the first time a test asks for it and stopped at the end.
- `database`: a fresh, empty database on it for each test, dropped afterwards.
- `make_app`: the Flask app in this process, on a given database URL (test client,
  in-process migrations); its connections are closed after the test.
- `service_env`, `spawn`, `run`: run the real commands (`flask ...`, `entrypoint.sh`,
  gunicorn) as subprocesses, each in its own process group, with a timeout, their
  output in files, and every one of them stopped after the test.
- `user` (a fresh account through nginx) and `connect` (a Socket.IO client on a
  chosen instance), for the modules that run a local cluster (the `cluster`
  fixture itself is in tests/conftest.py).
"""

import dataclasses
import os
import signal
import subprocess
import time
import uuid

import pytest
from localservices import Postgres, Redis, free_port, wait_for_port
from socket_clients import ChatClient, register

from app.config import env_names

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VENV_BIN = os.path.join(ROOT, ".venv", "bin")
# Cheap hashing: the tests are not about password strength.
FAST_HASH = "pbkdf2:sha256:1000"
CHAT_TABLES = ("users", "rooms", "memberships", "messages")

# Settings the app, entrypoint.sh or gunicorn read: never inherited from the
# environment that runs the tests (a REDIS_URL there would change every result).
_APP_VARIABLES = env_names()


# --- PostgreSQL ---------------------------------------------------------------


@dataclasses.dataclass
class Database:
    """One database on the private server: its name, URL, and psql on it."""

    server: Postgres
    name: str
    url: str

    def psql(self, sql):
        return self.server.psql(sql, self.name).strip()

    def tables(self):
        return self.psql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).split()

    def revisions(self):
        return self.psql("SELECT version_num FROM alembic_version ORDER BY 1").split()

    def counts(self):
        """Rows per table of the chat schema, e.g. {"users": 3, ...}."""
        row = self.psql("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in CHAT_TABLES))
        return dict(zip(CHAT_TABLES, map(int, row.split("|"))))


@pytest.fixture(scope="session")
def postgres():
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_server():
    """A private Redis server for the module (a test that needs its own makes one)."""
    server = Redis().start()
    yield server
    server.stop()


@pytest.fixture
def database(postgres):
    name = f"it_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    yield Database(postgres, name, url)
    postgres.drop_database(name)


# --- the app in this process --------------------------------------------------


@pytest.fixture
def make_app():
    """make_app(url) -> a Flask app on that database (threading mode, test settings)."""
    from app import create_app
    from app.config import Config, database_uri
    from app.extensions import db

    apps = []

    def make(url, **overrides):
        settings = dict(
            APP_ENV="testing",
            SECRET_KEY="integration-secret",
            SQLALCHEMY_DATABASE_URI=database_uri(url),
            ASYNC_MODE="threading",
            PASSWORD_HASH_METHOD=FAST_HASH,
            INSTANCE_ID="integration-1",
            AUTH_RATE_LIMIT="1000 per minute",
        )
        settings.update(overrides)
        app = create_app(Config(**settings))
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- subprocesses ----------------------------------------------------------------


@pytest.fixture
def statements(app):
    """The SQL statements `app` (the module's fixture) runs while the test runs,
    whitespace collapsed."""
    from sqlalchemy import event

    from app.extensions import db

    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def service_env():
    """service_env(database_url, **more) -> the environment for flask/entrypoint/gunicorn."""

    def make(database_url, **more):
        env = {k: v for k, v in os.environ.items() if k not in _APP_VARIABLES}
        env.update(
            PATH=VENV_BIN + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
            FLASK_APP="app:create_app",
            DATABASE_URL=database_url,
            SECRET_KEY="integration-secret",
            APP_ENV="production",
            INSTANCE_ID="integration-sub",
            ASYNC_MODE="eventlet",
            PASSWORD_HASH_METHOD=FAST_HASH,
            PYTHONUNBUFFERED="1",
            # Short enough that a test never hangs on a default of minutes.
            DB_WAIT_SECONDS="20",
            SCHEMA_WAIT_SECONDS="60",
            GRACEFUL_TIMEOUT="3",
        )
        env.update({k: str(v) for k, v in more.items()})
        return env

    return make


class Process:
    """A command in its own process group; stdout and stderr go to files."""

    def __init__(self, argv, env, out_dir, name):
        self.argv = list(argv)
        self.name = name
        self.stdout_path = os.path.join(out_dir, f"{name}.out")
        self.stderr_path = os.path.join(out_dir, f"{name}.err")
        self.started = time.monotonic()
        self.elapsed = None
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.returncode

    @property
    def stdout(self):
        with open(self.stdout_path, errors="replace") as f:
            return f.read()

    @property
    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def poll(self):
        return self.popen.poll()

    def wait(self, timeout):
        """Waits for the exit; a timeout kills the group and fails the test."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(signal.SIGKILL)
            pytest.fail(f"{self.name} did not finish within {timeout}s\n{self.report()}")
        self.elapsed = time.monotonic() - self.started
        return self

    def wait_for_output(self, text, timeout, stream="stderr"):
        """Polls stdout or stderr until it contains text; fails on exit or timeout."""
        deadline = time.monotonic() + timeout
        while text not in getattr(self, stream):
            if self.poll() is not None:
                pytest.fail(
                    f"{self.name} exited ({self.returncode}) before printing "
                    f"{text!r}\n{self.report()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{self.name} did not print {text!r} within {timeout}s\n{self.report()}"
                )
            time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the whole group, waits for the leader, then kills what is left."""
        for s in (sig, signal.SIGKILL):
            try:
                os.killpg(self.popen.pid, s)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.popen.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # stragglers (e.g. a worker whose master is gone)
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def report(self):
        return (
            f"$ {' '.join(self.argv)}\nexit: {self.popen.returncode}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


@pytest.fixture
def spawn(tmp_path):
    """spawn(argv, env, name=...) -> a running Process, stopped after the test."""
    started = []

    def start(argv, env, name=None):
        name = name or f"p{len(started)}-{os.path.basename(argv[0])}"
        process = Process(argv, env, str(tmp_path), name)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def gunicorn_on_sqlite(tmp_path, spawn, service_env):
    """gunicorn_on_sqlite(**env) -> (the running gunicorn Process, its port): the
    app under gunicorn's config, on SQLite in tmp_path, listening on loopback."""

    def start(**more):
        port = free_port()
        env = service_env(
            f"sqlite:///{tmp_path}/chat.db",
            APP_ENV="development",
            HOST="127.0.0.1",
            PORT=port,
            XDG_RUNTIME_DIR=str(tmp_path),
            **more,
        )
        argv = ["gunicorn", "-c", "python:app.gunicorn_conf", "wsgi:app"]
        server = spawn(argv, env, name="gunicorn")
        wait_for_port(port, timeout=60, proc=server.popen, what="gunicorn", log=server.stderr_path)
        return server, port

    return start


@pytest.fixture
def run(spawn):
    """run(argv, env, timeout=60) -> a finished Process (returncode, stdout, stderr)."""

    def run_(argv, env, timeout=60, name=None):
        return spawn(argv, env, name).wait(timeout)

    return run_


# --- fixtures on the module's `cluster` (tests/conftest.py) ----------------------


@pytest.fixture
def user(cluster):
    """Registers a fresh user (through nginx) and returns its Account."""
    accounts = []

    def make():
        account = register(cluster.url)
        accounts.append(account)
        return account

    yield make
    for account in accounts:
        account.session.close()


@pytest.fixture
def connect(cluster):
    """connect(account, where, **options): a connected ChatClient.

    `where` is an instance number (1-4; the socket goes straight to it) or a URL
    (nginx's, usually). Every client is disconnected when the test ends.
    """
    clients = []

    def make(account, where, **options):
        url = cluster.instances[where - 1].url if isinstance(where, int) else where
        name = f"{account.username}@{where}"
        client = ChatClient(url, account.token, name=name, **options)
        clients.append(client)
        return client.connect()

    yield make
    for client in clients:
        client.disconnect()


@pytest.fixture
def redis_client(cluster):
    """A client of the cluster's Redis (a RedisCluster client on a Redis Cluster)."""
    from app.library_hooks import redis_client as connect

    client = connect(cluster.redis.url(), decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def load(cluster):
    """load(tag, **options) -> a started fault_load.ChatLoad, closed after the test."""
    from fault_load import ChatLoad

    loads = []

    def make(tag, **options):
        chat = ChatLoad(cluster, tag, **options)
        loads.append(chat)
        return chat.start()

    yield make
    for chat in loads:
        chat.close()
