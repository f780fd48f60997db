"""redis+sentinel:// URLs (app/library_hooks/redis_urls.py): parsed, refused with a reason,
and handed to limits and python-socketio in their own dialects."""

import pytest
from limits.storage import storage_from_string
from socketio.redis_manager import parse_redis_sentinel_url

from app.config import Config, ConfigError
from app.library_hooks.redis_urls import (
    SentinelURL,
    is_sentinel_url,
    limits_storage,
    parse_sentinel_url,
    socketio_url,
)

URL = "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380,sentinel-3/chat/2"


def test_a_sentinel_url_names_sentinels_service_database_and_password():
    assert parse_sentinel_url(URL) == SentinelURL(
        (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26379)),
        "chat",
        2,
        None,
        "s3cret",
    )
    assert parse_sentinel_url("redis+sentinel://u:p%40w@h:1/svc") == SentinelURL(
        (("h", 1),), "svc", 0, "u", "p@w"
    )
    assert is_sentinel_url(URL) and not is_sentinel_url("redis://h:6379/0")
    assert not is_sentinel_url(None)


@pytest.mark.parametrize(
    "url, reason",
    [
        ("redis+sentinel://h:1", "service_name"),
        ("redis+sentinel://h:1/a/b/c", "service_name"),
        ("redis+sentinel://h:x/chat", "port"),
        ("redis+sentinel://h:1/chat/zero", "database"),
        ("redis+sentinel://:1/chat", "host"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_saying_why(url, reason):
    with pytest.raises(ValueError, match=reason):
        parse_sentinel_url(url)
    with pytest.raises(ConfigError, match="redis\\+sentinel://"):
        Config.from_env({"APP_ENV": "testing", "SECRET_KEY": "s", "REDIS_URL": url})


def test_python_socketio_reads_its_dialect_the_same():
    sentinels, service, kwargs = parse_redis_sentinel_url(socketio_url(URL))
    assert sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26379)]
    assert service == "chat"
    assert kwargs == {"password": "s3cret", "db": 2}


def test_the_rate_limits_use_limits_sentinel_storage_on_the_same_service():
    config = Config.from_env({"APP_ENV": "testing", "SECRET_KEY": "s", "REDIS_URL": URL})
    flask_config = config.as_flask_config()
    uri, options = limits_storage(URL)
    assert flask_config["RATELIMIT_STORAGE_URI"] == uri
    assert flask_config["RATELIMIT_STORAGE_OPTIONS"] == options
    assert options["db"] == 2
    storage = storage_from_string(uri, **options)  # nothing is connected yet
    assert type(storage).__name__ == "RedisSentinelStorage"
    assert storage.service_name == "chat"
    plain = Config.from_env({"APP_ENV": "testing", "SECRET_KEY": "s", "REDIS_URL": "redis://r"})
    assert plain.as_flask_config()["RATELIMIT_STORAGE_URI"] == "redis://r"
