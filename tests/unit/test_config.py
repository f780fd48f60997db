"""Config.from_env(): settings from the environment, with clear errors."""

import os
import socket

import pytest

from app import create_app
from app.config import Config, ConfigError


def test_production_without_secret_key_raises_a_clear_config_error():
    with pytest.raises(ConfigError, match="SECRET_KEY") as excinfo:
        Config.from_env({"APP_ENV": "production"})
    assert "production" in str(excinfo.value)


def test_production_with_an_empty_secret_key_raises():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Config.from_env({"APP_ENV": "production", "SECRET_KEY": ""})


def test_production_with_a_secret_key_is_accepted():
    config = Config.from_env({"APP_ENV": "production", "SECRET_KEY": "s" * 40})
    assert config.SECRET_KEY == "s" * 40
    assert config.APP_ENV == "production"


def test_development_invents_a_secret_key():
    first = Config.from_env({"APP_ENV": "development"})
    second = Config.from_env({"APP_ENV": "development"})
    assert len(first.SECRET_KEY) >= 32
    assert first.SECRET_KEY != second.SECRET_KEY


def test_app_env_defaults_to_development():
    config = Config.from_env({})
    assert config.APP_ENV == "development"
    assert config.SECRET_KEY


def test_unknown_app_env_raises():
    with pytest.raises(ConfigError, match="APP_ENV"):
        Config.from_env({"APP_ENV": "staging"})


def test_instance_id_defaults_to_hostname_and_pid():
    config = Config.from_env({})
    assert config.INSTANCE_ID == f"{socket.gethostname()}-{os.getpid()}"


def test_instance_id_dataclass_default_is_hostname_and_pid():
    assert Config().INSTANCE_ID == f"{socket.gethostname()}-{os.getpid()}"


def test_instance_id_comes_from_the_environment():
    assert Config.from_env({"INSTANCE_ID": "api-3"}).INSTANCE_ID == "api-3"


def test_instance_id_is_sent_as_x_instance(tmp_path):
    config = Config.from_env(
        {
            "INSTANCE_ID": "api-7",
            "APP_ENV": "testing",
            "DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
            "ASYNC_MODE": "threading",
        }
    )
    response = create_app(config).test_client().get("/healthz")
    assert response.headers["X-Instance"] == "api-7"


def test_testing_env_sets_testing():
    assert Config.from_env({"APP_ENV": "testing"}).TESTING is True
    assert Config.from_env({"APP_ENV": "development"}).TESTING is False


def test_unknown_async_mode_raises():
    with pytest.raises(ConfigError, match="ASYNC_MODE"):
        Config.from_env({"ASYNC_MODE": "asyncio"})


def test_non_integer_setting_raises_naming_it():
    with pytest.raises(ConfigError, match="TOKEN_TTL_SECONDS"):
        Config.from_env({"TOKEN_TTL_SECONDS": "a week"})


def test_gc_thresholds_are_three_positive_integers():
    assert Config.from_env({}).GC_THRESHOLDS == (7000, 10, 10)
    assert Config.from_env({"GC_THRESHOLDS": "7000, 10,100"}).GC_THRESHOLDS == (7000, 10, 100)
    for raw in ("7000,10", "7000,10,10,10", "0,10,10", "a,b,c", "7000;10;10"):
        with pytest.raises(ConfigError, match="GC_THRESHOLDS must be three positive integers"):
            Config.from_env({"GC_THRESHOLDS": raw})
    with pytest.raises(ConfigError, match="GC_DEEP_GROWTH must be a number"):
        Config.from_env({"GC_DEEP_GROWTH": "twice"})


def test_integer_settings_are_parsed():
    config = Config.from_env({"TOKEN_TTL_SECONDS": "60", "PROXY_HOPS": "1"})
    assert (config.TOKEN_TTL_SECONDS, config.PROXY_HOPS) == (60, 1)


def test_database_url_defaults_to_sqlite():
    assert Config.from_env({}).SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")


@pytest.mark.parametrize("url", ["postgres://u:p@db/chat", "postgresql://u:p@db/chat"])
def test_postgres_database_url_uses_psycopg2(url):
    config = Config.from_env({"DATABASE_URL": url})
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg2://u:p@db/chat"


def test_redis_url_empty_means_no_redis():
    assert Config.from_env({"REDIS_URL": ""}).REDIS_URL is None


def test_ratelimit_can_be_disabled():
    assert Config.from_env({"RATELIMIT_ENABLED": "0"}).RATELIMIT_ENABLED is False
    assert Config.from_env({}).RATELIMIT_ENABLED is True


def test_default_limits_match_the_contract():
    config = Config.from_env({})
    assert config.SEND_RATE_LIMIT == "20 per 2 seconds"
    assert config.MAX_CONTENT_LENGTH == 64 * 1024


def test_cors_wildcard_is_refused_in_production():
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Config.from_env({"APP_ENV": "production", "SECRET_KEY": "s", "CORS_ORIGINS": "*"})


def test_cors_origins_are_a_list():
    config = Config.from_env({"CORS_ORIGINS": "https://a.example, https://b.example"})
    assert config.cors_allowed_origins == ["https://a.example", "https://b.example"]


def test_cors_unset_allows_any_origin_in_development():
    assert Config.from_env({}).cors_allowed_origins == "*"


def test_cors_unset_means_same_origin_in_production():
    config = Config.from_env({"APP_ENV": "production", "SECRET_KEY": "s"})
    assert config.cors_allowed_origins is None


def test_flask_config_carries_the_settings():
    values = Config.from_env({"SECRET_KEY": "k"}).as_flask_config()
    assert values["SECRET_KEY"] == "k"
    assert values["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert values["RATELIMIT_STORAGE_URI"] == "memory://"


def test_create_app_refuses_a_production_config_without_secret_key_built_directly():
    from app import create_app
    from app.config import Config, ConfigError

    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app(
            Config(
                APP_ENV="production",
                SECRET_KEY="",
                SQLALCHEMY_DATABASE_URI="sqlite://",
                ASYNC_MODE="threading",
            )
        )


def test_a_config_built_directly_is_checked_like_one_from_the_environment():
    with pytest.raises(ConfigError, match="APP_ENV"):
        Config(APP_ENV="staging").validate()


def test_every_variable_the_app_reads_is_listed_once_in_env_names():
    from app.config import env_names

    env = {
        "DATABASE_URL": "postgres://u:p@db/chat",
        "REDIS_URL": "redis://r",
        "SECRET_KEY": "k",
        "INSTANCE_ID": "api-9",
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "json",
        "TOKEN_TTL_SECONDS": "61",
        "PASSWORD_HASH_METHOD": "pbkdf2",
        "CORS_ORIGINS": "https://a.example",
        "SEND_RATE_LIMIT": "1 per second",
        "AUTH_RATE_LIMIT": "2 per second",
        "REACT_RATE_LIMIT": "3 per second",
        "SEARCH_RATE_LIMIT": "4 per second",
        "RATELIMIT_ENABLED": "0",
        "PRESENCE_TTL_SECONDS": "9",
        "PROXY_HOPS": "2",
        "ASYNC_MODE": "gevent",
        "APP_ENV": "development",
        "QUEUE_MODE": "classic",
        "ROOM_CREATE_RATE_LIMIT": "1 per hour",
        "SOCKET_EVENT_RATE_LIMIT": "1 per second",
        "CONNECT_RATE_LIMIT": "1 per minute",
        "SESSION_CHECK_SECONDS": "1",
        "SESSION_FULL_CHECK_SECONDS": "7",
        "SCHEMA_CHECK_SECONDS": "1",
        "USER_CACHE_SECONDS": "0",
        "SEED_DEMO": "1",
        "SOCKET_MAX_UNSENT_BYTES": "2000000",
        "PASSWORD_HASH_THREADS": "3",
        "SOCKET_PACKET_RATE_LIMIT": "5 per second",
        "SOCKET_CONNECT_TIMEOUT": "3",
        "SOCKET_HANDLERS_AT_ONCE": "4",
        "GC_DEEP_GROWTH": "2",
        "GC_THRESHOLDS": "700,10,10",
        "PRESENCE_MAX_ROOM_MEMBERS": "50",
        "UPLOAD_RATE_LIMIT": "5 per minute",
        "MAX_UPLOAD_BYTES": "1000",
        "USER_QUOTA_BYTES": "5000",
        "BOT_TOKEN_TTL_SECONDS": "3600",
        "WEBHOOK_RATE_LIMIT": "5 per second",
    }
    assert env_names("app") == set(env)
    base = {"APP_ENV": "testing", "SECRET_KEY": "s", "INSTANCE_ID": "api-8"}
    for name, value in env.items():
        assert Config.from_env({**base, name: value}) != Config.from_env(base), name


def test_env_names_cover_gunicorn_and_entrypoint_settings():
    from app.config import env_names

    assert {"HOST", "PORT", "WORKER_CONNECTIONS", "GUNICORN_CMD_ARGS"} <= env_names("gunicorn")
    assert {"DB_WAIT_SECONDS", "SCHEMA_WAIT_SECONDS", "FLASK_APP"} <= env_names("entrypoint")
    assert env_names() == env_names("app") | env_names("gunicorn") | env_names("entrypoint")


def test_the_cluster_script_drops_every_inherited_app_and_gunicorn_setting():
    import cluster  # scripts/ is on sys.path (tests/conftest.py)

    from app.config import env_names

    assert cluster.INHERITED_SETTINGS_DROPPED == env_names("app", "gunicorn")


def test_queue_mode_is_sharded_unless_classic_is_asked_for():
    assert Config.from_env({}).QUEUE_MODE == "sharded"
    assert Config.from_env({"QUEUE_MODE": "classic"}).QUEUE_MODE == "classic"
    with pytest.raises(ConfigError, match="QUEUE_MODE must be one of sharded, classic"):
        Config.from_env({"QUEUE_MODE": "fast"})


def test_the_classic_queue_is_refused_on_a_redis_cluster():
    with pytest.raises(ConfigError, match="Redis Cluster"):
        Config.from_env(
            {"QUEUE_MODE": "classic", "REDIS_URL": "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"}
        )


@pytest.mark.parametrize(
    "value, ok", [("65536", True), ("1048576", True), ("65535", False), ("0", False), ("-1", False)]
)
def test_the_socket_cap_is_at_least_the_largest_request(value, ok):
    env = {"APP_ENV": "testing", "SECRET_KEY": "s", "SOCKET_MAX_UNSENT_BYTES": value}
    if ok:
        assert Config.from_env(env).SOCKET_MAX_UNSENT_BYTES == int(value)
    else:
        with pytest.raises(ConfigError, match="SOCKET_MAX_UNSENT_BYTES"):
            Config.from_env(env)


def test_log_format_is_text_or_json():
    base = {"APP_ENV": "testing", "SECRET_KEY": "s"}
    assert Config.from_env(base).LOG_FORMAT == "text"
    assert Config.from_env({**base, "LOG_FORMAT": "JSON"}).LOG_FORMAT == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Config.from_env({**base, "LOG_FORMAT": "xml"})
