"""Input and settings that used to be accepted or crash: over-long integers in JSON,
made-up HTTP methods in the metrics, loose boolean settings, display names that
pose as someone else, repeated sends, old password hashes, IPv6 login limits."""

import threading
import time

import pytest
from unit_helpers import PASSWORD, assert_error, test_config
from werkzeug.security import generate_password_hash

from app import auth, create_app
from app.clientaddr import address_key
from app.config import Config, ConfigError
from app.extensions import db
from app.models import User

LONG_INTEGER = "1" * 4301  # past int()'s 4,300-digit limit: json.loads raises ValueError


# --- over-long integers are bad_request ------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"username": "alice", "password": ' + LONG_INTEGER + "}",
        '{"username": "alice", "password": "x", "extra": [-' + LONG_INTEGER + "]}",
    ],
)
def test_login_with_a_4301_digit_integer_is_bad_request(client, body):
    response = client.post("/api/auth/login", data=body, content_type="application/json")
    assert_error(response, 400, "bad_request")


def test_send_with_a_4301_digit_integer_is_bad_request(client, alice, make_room):
    make_room(alice, "lounge")
    response = client.post(
        "/api/rooms/lounge/messages",
        data='{"body": "hi", "client_id": ' + LONG_INTEGER + "}",
        content_type="application/json",
        headers=alice.headers,
    )
    assert_error(response, 400, "bad_request")


# --- metric labels are bounded ----------------------------------------------------------


def _series(client, name):
    text = client.get("/metrics").get_data(as_text=True)
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_made_up_methods_and_paths_add_no_label_sets(client):
    client.get("/healthz")
    client.open("/nowhere", method="XQWERTY0")
    before = _series(client, "chat_http_requests_total")
    for i in range(50):
        client.open(f"/made-up-{i}", method=f"XQWERTY{i}")
        client.get(f"/made-up-{i}")
    after = _series(client, "chat_http_requests_total")
    assert not any("XQWERTY" in line or "made-up" in line for line in after)
    assert len(after) <= len(before) + 2  # at most GET and /metrics' own, once
    assert any('method="other"' in line for line in after)


# --- boolean settings -------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["False", "false", "off", "OFF", "No", "no", "0", " 0 "])
def test_false_words_turn_seed_demo_off(raw):
    assert Config.from_env({"SEED_DEMO": raw}).SEED_DEMO is False


@pytest.mark.parametrize("raw", ["True", "true", "on", "YES", "1"])
def test_true_words_turn_seed_demo_on(raw):
    assert Config.from_env({"SEED_DEMO": raw}).SEED_DEMO is True


@pytest.mark.parametrize("name", ["SEED_DEMO", "RATELIMIT_ENABLED"])
@pytest.mark.parametrize("raw", ["2", "nope", "enabled", "t", "y"])
def test_other_boolean_values_are_refused_naming_the_variable(name, raw):
    with pytest.raises(ConfigError, match=f"{name} must be a boolean") as excinfo:
        Config.from_env({name: raw})
    assert repr(raw) in str(excinfo.value) and "yes" in str(excinfo.value)


def test_seed_demo_false_seeds_nothing_in_production(tmp_path):
    settings = Config.from_env({"APP_ENV": "production", "SECRET_KEY": "s", "SEED_DEMO": "False"})
    app = create_app(test_config(tmp_path, APP_ENV="production", SEED_DEMO=settings.SEED_DEMO))
    with app.app_context():
        db.create_all()
    result = app.test_cli_runner().invoke(args=["seed"])
    assert "seed: skipped" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


# --- display names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "display_name",
    [
        "\u202eecilA\u200b\u0085",  # right-to-left override, zero-width space, C1
        "Alice\u200b",  # zero-width space (Cf)
        "\u202eecilA",  # right-to-left override (Cf)
        "Al\u00adice",  # soft hyphen (Cf)
        "Alice\u2066",  # left-to-right isolate (Cf)
        "Alice\ufeff",  # zero-width no-break space (Cf)
        "Alice\u0085",  # next line (C1)
        "Alice\u009b",  # control sequence introducer (C1)
        "Alice\U000e0041",  # tag latin capital A (Cf)
    ],
)
def test_display_names_with_format_or_c1_characters_are_refused(client, display_name):
    response = client.post(
        "/api/auth/register",
        json={"username": "mallory", "password": PASSWORD, "display_name": display_name},
    )
    error = assert_error(response, 422, "validation_error")
    assert "display_name" in error["fields"]


@pytest.mark.parametrize("display_name", ["Alice", "Élodie Ñúñez", "李小龙", "Bob 😀", "O'Brien"])
def test_ordinary_display_names_are_accepted(register, display_name):
    assert register("someone", display_name=display_name).user["display_name"] == display_name


# --- repeated client_id counts against the send limit: tests/unit/test_limits.py ---


# --- password hashes --------------------------------------------------------------------


def test_the_default_hash_is_scrypt_at_n_2_17():
    assert Config().PASSWORD_HASH_METHOD == "scrypt:131072:8:1"


class TestHashUpgrade:
    @pytest.fixture
    def config_overrides(self):
        return {"PASSWORD_HASH_METHOD": "scrypt:131072:8:1"}

    def _stored(self, app, username):
        with app.app_context():
            return db.session.scalar(db.select(User.password_hash).filter_by(username=username))

    def test_an_old_scrypt_hash_is_replaced_at_the_next_login(self, app, client, register):
        register("alice")
        with app.app_context():
            user = db.session.scalar(db.select(User).filter_by(username="alice"))
            user.password_hash = generate_password_hash(PASSWORD, method="scrypt:32768:8:1")
            db.session.commit()
        assert self._stored(app, "alice").startswith("scrypt:32768:8:1$")

        wrong = client.post("/api/auth/login", json={"username": "alice", "password": "nope-nope"})
        assert_error(wrong, 401, "unauthorized")
        assert self._stored(app, "alice").startswith("scrypt:32768:8:1$")  # not on a failure

        ok = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert ok.status_code == 200, ok.get_json()
        upgraded = self._stored(app, "alice")
        assert upgraded.startswith("scrypt:131072:8:1$")
        again = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert again.status_code == 200
        assert self._stored(app, "alice") == upgraded  # already current: kept


class TestHashThreads:
    @pytest.fixture
    def config_overrides(self):
        return {"PASSWORD_HASH_THREADS": 2}

    def test_at_most_password_hash_threads_hash_at_once(self, app):
        running, most = 0, 0
        lock = threading.Lock()

        def slow_hash():
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            with lock:
                running -= 1

        def one():
            with app.app_context():
                auth._in_os_thread(slow_hash)

        threads = [threading.Thread(target=one) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert most == 2


# --- per-address limits key IPv6 clients by their /64 ---------------------------------


def test_address_keys():
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"


class TestIPv6LoginLimit:
    @pytest.fixture
    def config_overrides(self):
        return {"AUTH_RATE_LIMIT": "3 per minute", "RATELIMIT_ENABLED": True}

    def _login(self, client, address):
        return client.post(
            "/api/auth/login",
            json={"username": "nobody", "password": "whatever"},
            environ_base={"REMOTE_ADDR": address},
        )

    def test_addresses_of_one_ipv6_64_share_the_login_limit(self, client):
        statuses = [self._login(client, f"2001:db8:1:2::{i:x}").status_code for i in range(1, 6)]
        assert statuses == [401, 401, 401, 429, 429]
        # another /64 and an IPv4 client have their own budget
        assert self._login(client, "2001:db8:1:3::1").status_code == 401
        assert self._login(client, "192.0.2.7").status_code == 401
