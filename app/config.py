"""Every setting, read from environment variables in one place."""
import os
import secrets
import socket
from dataclasses import dataclass, field

ASYNC_MODES = ("eventlet", "gevent", "threading")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and why."""


def _env_int(env, name, default):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def database_uri(url):
    """postgres:// and postgresql:// mean psycopg2 here (SQLAlchemy 2.1 would pick psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _default_instance_id():
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Config:
    """Typed settings; `Config.from_env()` builds one from the environment."""

    APP_ENV: str = "development"
    SECRET_KEY: str = ""
    SQLALCHEMY_DATABASE_URI: str = "sqlite:///chat.db"
    REDIS_URL: str | None = None
    INSTANCE_ID: str = field(default_factory=_default_instance_id)
    ASYNC_MODE: str = "eventlet"
    LOG_LEVEL: str = "INFO"
    TOKEN_TTL_SECONDS: int = 7 * 24 * 3600
    # How long a process serves a token's user from memory (app/auth.py); 0: never.
    USER_CACHE_SECONDS: int = 10
    PASSWORD_HASH_METHOD: str = "scrypt"
    CORS_ORIGINS: str = ""
    SEND_RATE_LIMIT: str = "20 per 2 seconds"
    AUTH_RATE_LIMIT: str = "30 per minute"
    RATELIMIT_ENABLED: bool = True
    PRESENCE_TTL_SECONDS: int = 30
    MAX_CONTENT_LENGTH: int = 64 * 1024
    PROXY_HOPS: int = 0
    TESTING: bool = False

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        app_env = env.get("APP_ENV", "development")
        if app_env not in ("development", "production", "testing"):
            raise ConfigError(
                f"APP_ENV must be development, production or testing, got {app_env!r}")
        secret = env.get("SECRET_KEY", "")
        if not secret:
            if app_env == "production":
                raise ConfigError(
                    "SECRET_KEY is not set. In production (APP_ENV=production) it is "
                    "required, so that tokens stay valid across restarts and instances: "
                    "set SECRET_KEY to a long random string shared by every instance.")
            secret = secrets.token_urlsafe(32)
        async_mode = env.get("ASYNC_MODE", "eventlet")
        if async_mode not in ASYNC_MODES:
            raise ConfigError(
                f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, got {async_mode!r}")
        cors = env.get("CORS_ORIGINS", "")
        if app_env == "production" and cors.strip() == "*":
            raise ConfigError("CORS_ORIGINS='*' is refused in production: list the origins")
        return cls(
            APP_ENV=app_env,
            SECRET_KEY=secret,
            SQLALCHEMY_DATABASE_URI=database_uri(
                env.get("DATABASE_URL") or cls.SQLALCHEMY_DATABASE_URI),
            REDIS_URL=env.get("REDIS_URL") or None,
            INSTANCE_ID=env.get("INSTANCE_ID") or _default_instance_id(),
            ASYNC_MODE=async_mode,
            LOG_LEVEL=env.get("LOG_LEVEL", "INFO").upper(),
            TOKEN_TTL_SECONDS=_env_int(env, "TOKEN_TTL_SECONDS", cls.TOKEN_TTL_SECONDS),
            USER_CACHE_SECONDS=_env_int(env, "USER_CACHE_SECONDS", cls.USER_CACHE_SECONDS),
            PASSWORD_HASH_METHOD=env.get("PASSWORD_HASH_METHOD") or cls.PASSWORD_HASH_METHOD,
            CORS_ORIGINS=cors,
            SEND_RATE_LIMIT=env.get("SEND_RATE_LIMIT") or cls.SEND_RATE_LIMIT,
            AUTH_RATE_LIMIT=env.get("AUTH_RATE_LIMIT") or cls.AUTH_RATE_LIMIT,
            RATELIMIT_ENABLED=env.get("RATELIMIT_ENABLED", "1") not in ("0", "false", "no"),
            PRESENCE_TTL_SECONDS=_env_int(env, "PRESENCE_TTL_SECONDS", cls.PRESENCE_TTL_SECONDS),
            PROXY_HOPS=_env_int(env, "PROXY_HOPS", cls.PROXY_HOPS),
            TESTING=app_env == "testing",
        )

    def validate(self):
        """The rules from_env() applies, for a Config built directly too."""
        if self.APP_ENV == "production" and not self.SECRET_KEY:
            raise ConfigError("SECRET_KEY is not set. In production (APP_ENV=production) "
                              "it is required: set it to a long random string shared by "
                              "every instance.")
        if self.ASYNC_MODE not in ASYNC_MODES:
            raise ConfigError(f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, "
                              f"got {self.ASYNC_MODE!r}")
        if self.APP_ENV == "production" and self.CORS_ORIGINS.strip() == "*":
            raise ConfigError("CORS_ORIGINS='*' is refused in production: list the origins")
        return self

    def as_flask_config(self):
        """The settings plus the derived keys the extensions read."""
        values = dict(self.__dict__)
        values.update(
            SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
            RATELIMIT_STORAGE_URI=self.REDIS_URL or "memory://",
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
    def cors_allowed_origins(self):
        """Socket.IO CORS: the listed origins; unset, same origin only in production
        (None, python-engineio's default) and any origin in development."""
        origins = [o.strip() for o in self.CORS_ORIGINS.split(",") if o.strip()]
        if origins == ["*"]:
            return "*"
        if not origins:
            return "*" if self.APP_ENV != "production" else None
        return origins
