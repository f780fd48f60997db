"""Every setting, declared once: its environment variable, default, type and checks.

`Config` holds the app's settings, each field naming the variable it is read
from; `SERVER_SETTINGS` the variables only gunicorn (app/gunicorn_conf.py) or
entrypoint.sh read. `env_names()` lists them for tools that must not let an
outer environment leak into the processes they start (scripts/cluster.py, the
integration tests).

This module imports nothing outside the standard library: gunicorn_conf.py
reads ASYNC_MODE through it before the worker monkey-patches.
"""

import dataclasses
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

APP_ENVS = ("development", "production", "testing")
ASYNC_MODES = ("eventlet", "gevent", "threading")
# The Socket.IO queue over Redis: one channel per room, or python-socketio's one channel.
QUEUE_MODES = ("sharded", "classic")
# One line a record as text, or one JSON object a line (app/logs.py).
LOG_FORMATS = ("text", "json")
# The modes a gunicorn worker class serves (threading is for CLI commands and tests).
SERVER_ASYNC_MODES = ("eventlet", "gevent")
# The largest request body and Socket.IO packet, and how errors and docs say it.
MAX_REQUEST_BYTES = 64 * 1024
MAX_REQUEST_TEXT = f"{MAX_REQUEST_BYTES // 1024} KiB"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and why."""


def database_uri(url: str) -> str:
    """postgres:// and postgresql:// mean psycopg2 here (SQLAlchemy 2.1 would pick psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def _default_instance_id():
    return f"{socket.gethostname()}-{os.getpid()}"


def _text_or_none(raw: str) -> str | None:
    return raw or None


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _flag(raw: str) -> bool:
    """A boolean setting: 1/true/yes/on or 0/false/no/off, in any case; anything
    else is a ValueError (Config.from_env names the variable)."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"must be one of {'/'.join(TRUE_WORDS + FALSE_WORDS)}")


# A young collection every 7,000 new objects rather than the interpreter's 700:
# fewer objects in flight are caught alive and promoted, so far fewer full
# collections, each of which walks every object of a process holding thousands
# of sockets (docs/capacity.md, item 16). The other two are the interpreter's.
DEFAULT_GC_THRESHOLDS = (7000, 10, 10)


def _gc_thresholds(raw: str) -> tuple[int, int, int]:
    """Three positive integers separated by commas, for `gc.set_threshold`."""
    parts = raw.split(",")
    if len(parts) != 3:
        raise ValueError("not three values")
    values = tuple(int(part.strip()) for part in parts)
    if min(values) < 1:
        raise ValueError("not positive")
    return values[0], values[1], values[2]


def _expected(parse: object) -> str:
    """What a setting's value must be, for the refusal of a malformed one."""
    if parse is _flag:
        words = "/".join(TRUE_WORDS + FALSE_WORDS)
        return f"must be a boolean ({words}, in any case)"
    if parse is _gc_thresholds:
        return "must be three positive integers separated by commas (700,10,10, say)"
    if parse is float:
        return "must be a number"
    return "must be an integer"


def _setting(
    default: Any, env: str, parse: Callable[[str], Any] = str, empty_is_default: bool = True
):
    """A Config field read from the environment variable `env`, converted by `parse`
    (a ValueError names the variable); unset (or empty, unless empty_is_default is
    False) keeps the default."""
    metadata = {"env": env, "parse": parse, "empty_is_default": empty_is_default}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ServerSetting:
    """A variable read by gunicorn_conf.py or entrypoint.sh, not by the app."""

    env: str
    default: str | None
    read_by: str  # "gunicorn" or "entrypoint"


SERVER_SETTINGS = (
    ServerSetting("HOST", "0.0.0.0", "gunicorn"),
    ServerSetting("PORT", "5000", "gunicorn"),
    ServerSetting("WORKER_CONNECTIONS", "10000", "gunicorn"),
    ServerSetting("GUNICORN_TIMEOUT", "60", "gunicorn"),
    ServerSetting("GRACEFUL_TIMEOUT", "20", "gunicorn"),
    ServerSetting("ACCESS_LOG", "-", "gunicorn"),
    ServerSetting("GUNICORN_CMD_ARGS", "", "gunicorn"),
    # entrypoint.sh, a shell script, holds these defaults itself.
    ServerSetting("FLASK_APP", None, "entrypoint"),
    ServerSetting("FLASK_DEBUG", None, "entrypoint"),
    ServerSetting("DB_WAIT_SECONDS", None, "entrypoint"),
    ServerSetting("SCHEMA_WAIT_SECONDS", None, "entrypoint"),
)


def server_setting(name: str, env: Mapping[str, Any] | None = None) -> str | None:
    """A gunicorn/entrypoint variable's value, or its declared default."""
    env = os.environ if env is None else env
    default = next(s.default for s in SERVER_SETTINGS if s.env == name)
    return env.get(name, default)


def async_mode(env: Mapping[str, str] | None = None) -> str:
    """ASYNC_MODE as set (checked by Config.validate, or by gunicorn_conf.py for a server)."""
    env = os.environ if env is None else env
    return env.get("ASYNC_MODE", Config.ASYNC_MODE)


@dataclass
class Config:
    """Typed settings; `Config.from_env()` builds one from the environment."""

    APP_ENV: str = _setting("development", "APP_ENV", empty_is_default=False)
    SECRET_KEY: str = _setting("", "SECRET_KEY", empty_is_default=False)
    SQLALCHEMY_DATABASE_URI: str = _setting("sqlite:///chat.db", "DATABASE_URL", database_uri)
    REDIS_URL: str | None = _setting(None, "REDIS_URL", _text_or_none)
    QUEUE_MODE: str = _setting("sharded", "QUEUE_MODE")
    INSTANCE_ID: str = _setting(_default_instance_id, "INSTANCE_ID")
    ASYNC_MODE: str = _setting("eventlet", "ASYNC_MODE", empty_is_default=False)
    LOG_LEVEL: str = _setting("INFO", "LOG_LEVEL", str.upper, empty_is_default=False)
    LOG_FORMAT: str = _setting("text", "LOG_FORMAT", str.lower)
    TOKEN_TTL_SECONDS: int = _setting(7 * 24 * 3600, "TOKEN_TTL_SECONDS", int)
    # A bot's API token lives this long unless rotated (POST /api/bots/{username}/token).
    BOT_TOKEN_TTL_SECONDS: int = _setting(365 * 24 * 3600, "BOT_TOKEN_TTL_SECONDS", int)
    # Per webhook, cluster-wide (app/ratelimit.py): a burst of 20, 10 a second.
    WEBHOOK_RATE_LIMIT: str = _setting("20 per 2 seconds", "WEBHOOK_RATE_LIMIT")
    # werkzeug's method string: scrypt at N=2^17, r=8, p=1 (OWASP's minimum); a user
    # whose stored hash has other parameters gets a new one at their next login.
    PASSWORD_HASH_METHOD: str = _setting("scrypt:131072:8:1", "PASSWORD_HASH_METHOD")
    # Password hashes run in real threads, at most this many at once per process
    # (scrypt at N=2^17 holds 128 MiB while it runs); more wait their turn.
    PASSWORD_HASH_THREADS: int = _setting(2, "PASSWORD_HASH_THREADS", int)
    CORS_ORIGINS: str = _setting("", "CORS_ORIGINS", empty_is_default=False)
    SEND_RATE_LIMIT: str = _setting("20 per 2 seconds", "SEND_RATE_LIMIT")
    AUTH_RATE_LIMIT: str = _setting("30 per minute", "AUTH_RATE_LIMIT")
    # Per user, cluster-wide (app/ratelimit.py); "N per W seconds" in a moving
    # window is a burst of N and N/W a second sustained.
    ROOM_CREATE_RATE_LIMIT: str = _setting("20 per hour", "ROOM_CREATE_RATE_LIMIT")
    SOCKET_EVENT_RATE_LIMIT: str = _setting("30 per 3 seconds", "SOCKET_EVENT_RATE_LIMIT")
    CONNECT_RATE_LIMIT: str = _setting("30 per minute", "CONNECT_RATE_LIMIT")
    REACT_RATE_LIMIT: str = _setting("30 per 3 seconds", "REACT_RATE_LIMIT")
    SEARCH_RATE_LIMIT: str = _setting("10 per 5 seconds", "SEARCH_RATE_LIMIT")
    # Every Socket.IO packet one socket sends, in this process, before any other
    # limit (app/jsonlimits.py): a burst of N, then N/W a second.
    SOCKET_PACKET_RATE_LIMIT: str = _setting("60 per 3 seconds", "SOCKET_PACKET_RATE_LIMIT")
    # Seconds an Engine.IO connection has to complete its Socket.IO connect (0: no limit).
    SOCKET_CONNECT_TIMEOUT: int = _setting(10, "SOCKET_CONNECT_TIMEOUT", int)
    # Socket.IO events and connects at work at once in one process; the rest wait
    # their turn, events before connects (app/realtime/gate.py). 0: no
    # limit. Below the database pool's 15 connections, so that REST requests
    # still find one.
    SOCKET_HANDLERS_AT_ONCE: int = _setting(10, "SOCKET_HANDLERS_AT_ONCE", int)
    # Above 0, a gunicorn worker freezes each full garbage collection's survivors,
    # and walks them all again once they have grown this many times
    # (app/collector.py; docs/capacity.md says when it helps and when it hurts).
    # 0: the interpreter's own collections.
    GC_DEEP_GROWTH: float = _setting(0.0, "GC_DEEP_GROWTH", float)
    # A gunicorn worker's `gc.set_threshold`: new objects before a young
    # collection, young collections before a middle one, middle ones before a
    # full one may start (the interpreter then also waits until what survived
    # since the last full collection is a quarter of what that one kept).
    GC_THRESHOLDS: tuple[int, int, int] = _setting(
        DEFAULT_GC_THRESHOLDS, "GC_THRESHOLDS", _gc_thresholds
    )
    UPLOAD_RATE_LIMIT: str = _setting("30 per minute", "UPLOAD_RATE_LIMIT")
    # Uploads (app/chat/files.py): one file at most, and what one user may keep.
    MAX_UPLOAD_BYTES: int = _setting(10 * 1024 * 1024, "MAX_UPLOAD_BYTES", int)
    USER_QUOTA_BYTES: int = _setting(1024**3, "USER_QUOTA_BYTES", int)
    RATELIMIT_ENABLED: bool = _setting(True, "RATELIMIT_ENABLED", _flag, empty_is_default=False)
    PRESENCE_TTL_SECONDS: int = _setting(30, "PRESENCE_TTL_SECONDS", int)
    # Rooms of more members get no `presence` events (0: every room gets them):
    # one user's reconnect would otherwise be a delivery to each of them.
    PRESENCE_MAX_ROOM_MEMBERS: int = _setting(1000, "PRESENCE_MAX_ROOM_MEMBERS", int)
    # How often each instance looks for sockets whose token expired or was
    # revoked, and closes them (app/realtime/sessions.py).
    SESSION_CHECK_SECONDS: int = _setting(5, "SESSION_CHECK_SECONDS", int)
    # How often that check asks about every socket (the database for each user's
    # token generation, Redis for each token) rather than only reading what was
    # announced since its last pass: for changes made behind the app's back or
    # while Redis was out of reach.
    SESSION_FULL_CHECK_SECONDS: int = _setting(60, "SESSION_FULL_CHECK_SECONDS", int)
    # How long a process may use the user row it read for a token (app/user_cache.py);
    # a password change is seen at once all the same. 0: read it on every request.
    USER_CACHE_SECONDS: int = _setting(30, "USER_CACHE_SECONDS", int)
    # How often an instance looks whether the database's schema is newer than its
    # code (it then refuses API work with 503; app/health.py).
    SCHEMA_CHECK_SECONDS: int = _setting(5, "SCHEMA_CHECK_SECONDS", int)
    # What one socket may have waiting behind the oldest frame its client has not
    # taken before the server drops it (app/library_hooks/engineio_sockets.py).
    SOCKET_MAX_UNSENT_BYTES: int = _setting(1 << 20, "SOCKET_MAX_UNSENT_BYTES", int)
    MAX_CONTENT_LENGTH: int = MAX_REQUEST_BYTES
    PROXY_HOPS: int = _setting(0, "PROXY_HOPS", int)
    # The demo users have a published password: with APP_ENV=production,
    # `flask seed` and `flask upgrade-once` load them only when this is set.
    SEED_DEMO: bool = _setting(False, "SEED_DEMO", _flag)
    TESTING: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Config":
        env = os.environ if env is None else env
        values = {}
        for f in dataclasses.fields(cls):
            name = f.metadata.get("env")
            raw = env.get(name) if name else None
            if raw is None or (raw == "" and f.metadata["empty_is_default"]):
                continue
            try:
                values[f.name] = f.metadata["parse"](raw)
            except ValueError:
                raise ConfigError(f"{name} {_expected(f.metadata['parse'])}, got {raw!r}") from None
        config = cls(**values)
        config.TESTING = config.APP_ENV == "testing"
        if not config.SECRET_KEY and config.APP_ENV != "production":
            config.SECRET_KEY = secrets.token_urlsafe(32)
        return config.validate()

    def validate(self) -> "Config":
        """Every check on the settings, for a Config from the environment or built directly."""
        if self.APP_ENV not in APP_ENVS:
            raise ConfigError(
                f"APP_ENV must be development, production or testing, got {self.APP_ENV!r}"
            )
        if self.APP_ENV == "production" and not self.SECRET_KEY:
            raise ConfigError(
                "SECRET_KEY is not set. In production (APP_ENV=production) it is "
                "required, so that tokens stay valid across restarts and instances: "
                "set SECRET_KEY to a long random string shared by every instance."
            )
        if self.ASYNC_MODE not in ASYNC_MODES:
            raise ConfigError(
                f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, got {self.ASYNC_MODE!r}"
            )
        if self.LOG_FORMAT not in LOG_FORMATS:
            raise ConfigError(
                f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {self.LOG_FORMAT!r}"
            )
        if self.QUEUE_MODE not in QUEUE_MODES:
            raise ConfigError(
                f"QUEUE_MODE must be one of {', '.join(QUEUE_MODES)}, got {self.QUEUE_MODE!r}"
            )
        if (
            self.QUEUE_MODE == "classic"
            and self.REDIS_URL
            and self.REDIS_URL.startswith("redis+cluster://")
        ):
            raise ConfigError(
                "QUEUE_MODE=classic needs a single Redis server; a Redis "
                "Cluster (redis+cluster://) needs QUEUE_MODE=sharded"
            )
        if self.REDIS_URL and self.REDIS_URL.startswith("redis+sentinel://"):
            from app.library_hooks import parse_sentinel_url

            try:
                parse_sentinel_url(self.REDIS_URL)
            except ValueError as exc:
                raise ConfigError(
                    "REDIS_URL: a Redis Sentinel URL is "
                    "redis+sentinel://[[user]:password@]host:port[,host:port...]"
                    f"/service_name[/db] ({exc})"
                ) from None
        if self.SOCKET_MAX_UNSENT_BYTES < MAX_REQUEST_BYTES:
            raise ConfigError(
                f"SOCKET_MAX_UNSENT_BYTES must be at least the largest "
                f"request ({MAX_REQUEST_BYTES} bytes), got "
                f"{self.SOCKET_MAX_UNSENT_BYTES}"
            )
        if self.PASSWORD_HASH_THREADS < 1:
            raise ConfigError(
                f"PASSWORD_HASH_THREADS must be at least 1, got {self.PASSWORD_HASH_THREADS}"
            )
        if self.APP_ENV == "production" and self.CORS_ORIGINS.strip() == "*":
            raise ConfigError("CORS_ORIGINS='*' is refused in production: list the origins")
        return self

    def as_flask_config(self) -> dict[str, Any]:
        """The settings plus the derived keys the extensions read."""
        values = dict(self.__dict__)
        storage_uri: str = self.REDIS_URL or "memory://"
        storage_options: dict[str, Any] = {}
        if storage_uri.startswith("redis+sentinel://"):
            from app.library_hooks import limits_storage  # limits' dialect of the URL

            storage_uri, storage_options = limits_storage(storage_uri)
        values.update(
            # No pool_pre_ping: app/dbpool.py checks a connection on checkout
            # without a round trip.
            SQLALCHEMY_ENGINE_OPTIONS={},
            RATELIMIT_STORAGE_URI=storage_uri,
            RATELIMIT_STORAGE_OPTIONS=storage_options,
            RATELIMIT_HEADERS_ENABLED=True,
            RATELIMIT_STRATEGY="moving-window",
            # Redis down: count in memory per instance rather than fail requests.
            RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
            RATELIMIT_SWALLOW_ERRORS=True,
            API_TITLE="Chat API",
            API_VERSION="1.0",
            OPENAPI_VERSION="3.0.3",
            OPENAPI_URL_PREFIX="/api",
            OPENAPI_JSON_PATH="openapi.json",
            JSON_SORT_KEYS=False,
        )
        return values

    @property
    def cors_allowed_origins(self) -> str | list[str] | None:
        """Socket.IO CORS: the listed origins; unset, same origin only in production
        (None, python-engineio's default) and any origin in development."""
        origins = [o.strip() for o in self.CORS_ORIGINS.split(",") if o.strip()]
        if origins == ["*"]:
            return "*"
        if not origins:
            return "*" if self.APP_ENV != "production" else None
        return origins


def env_names(*read_by: str) -> frozenset[str]:
    """The environment variables the app ("app"), gunicorn ("gunicorn") or
    entrypoint.sh ("entrypoint") read; all of them without arguments."""
    wanted = set(read_by or ("app", "gunicorn", "entrypoint"))
    names: set[str] = set()
    if "app" in wanted:
        names.update(f.metadata["env"] for f in dataclasses.fields(Config) if f.metadata.get("env"))
    names.update(s.env for s in SERVER_SETTINGS if s.read_by in wanted)
    return frozenset(names)
