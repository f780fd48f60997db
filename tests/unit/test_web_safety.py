"""Web safety: password hashing, signed expiring tokens, the production settings
(SECRET_KEY required, CORS origins listed and never `*`), security headers and
the Content Security Policy, and hostile text staying data.

(That hostile message bodies and display names run nothing in a real browser is
checked end to end in tests/e2e/test_chat_page.py::
test_hostile_message_and_display_name_render_as_text.)
"""

import base64
import json

import pytest
from itsdangerous import URLSafeTimedSerializer
from unit_helpers import PASSWORD, assert_error, test_config
from werkzeug.security import check_password_hash

from app import create_app
from app.config import Config, ConfigError
from app.extensions import db
from app.models import User

HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


# --- passwords ------------------------------------------------------------------


def test_passwords_are_hashed_with_scrypt_by_default():
    assert Config().PASSWORD_HASH_METHOD == "scrypt:131072:8:1"
    production = Config.from_env({"APP_ENV": "production", "SECRET_KEY": "s" * 40})
    assert production.PASSWORD_HASH_METHOD == "scrypt:131072:8:1"


class TestDefaultHashing:
    @pytest.fixture
    def config_overrides(self):
        return {"PASSWORD_HASH_METHOD": Config.PASSWORD_HASH_METHOD}

    def test_stored_hash_is_slow_salted_scrypt(self, app, register):
        register("alice")
        register("bob")  # same password
        with app.app_context():
            hashes = {u.username: u.password_hash for u in db.session.scalars(db.select(User))}
        method, salt, digest = hashes["alice"].split("$")
        name, n, r, p = method.split(":")
        assert name == "scrypt"
        assert int(n) >= 2**17 and int(r) >= 8 and int(p) >= 1
        assert len(salt) >= 16
        assert PASSWORD not in hashes["alice"]
        assert hashes["alice"] != hashes["bob"], "salted: same password, different hash"
        assert check_password_hash(hashes["alice"], PASSWORD)

    def test_login_checks_the_scrypt_hash(self, client, register):
        register("alice")
        ok = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        bad = client.post("/api/auth/login", json={"username": "alice", "password": "wrong-one"})
        assert ok.status_code == 200
        assert_error(bad, 401, "unauthorized")


def test_responses_never_carry_a_password_or_its_hash(client, register, app):
    user = register("alice")
    with app.app_context():
        stored = db.session.scalar(db.select(User.password_hash))
    for response in (
        client.get("/api/me", headers=user.headers),
        client.get("/api/users?q=a", headers=user.headers),
        client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD}),
    ):
        text = response.get_data(as_text=True)
        assert PASSWORD not in text and stored not in text and "password" not in text


# --- tokens --------------------------------------------------------------------------


def _payload(token):
    data = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def test_token_holds_only_the_user_id_generation_and_token_id_signed_with_the_secret_key(
    app, alice
):
    payload = _payload(alice.token)
    assert set(payload) == {"uid", "gen", "jti"}
    assert payload["uid"] == alice.user["id"] and payload["gen"] == 0
    assert len(payload["jti"]) >= 16
    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="auth-token")
    assert serializer.loads(alice.token, max_age=app.config["TOKEN_TTL_SECONDS"]) == payload


def test_a_token_cannot_be_forged_for_another_user(client, alice, bob):
    payload, timestamp, signature = alice.token.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(
            json.dumps({"uid": bob.user["id"]}, separators=(",", ":")).encode()
        )
        .decode()
        .rstrip("=")
    )
    forged = ".".join([forged_payload, timestamp, signature])
    assert_error(
        client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized"
    )


def test_tokens_expire_after_token_ttl_seconds():
    assert Config().TOKEN_TTL_SECONDS == 7 * 24 * 3600
    assert Config.from_env({"TOKEN_TTL_SECONDS": "3600"}).TOKEN_TTL_SECONDS == 3600
    # (tests/unit/test_access_control.py uses tokens signed in the past.)


# --- production settings -------------------------------------------------------------


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Config.from_env({"APP_ENV": "production"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(test_config(tmp_path, APP_ENV="production", SECRET_KEY=""))


def test_production_refuses_cors_wildcard(tmp_path):
    with pytest.raises(ConfigError, match="CORS"):
        Config.from_env({"APP_ENV": "production", "SECRET_KEY": "s" * 40, "CORS_ORIGINS": "*"})
    with pytest.raises(ConfigError, match="CORS"):
        create_app(test_config(tmp_path, APP_ENV="production", CORS_ORIGINS="*"))


def test_production_cors_default_is_same_origin_and_origins_are_configurable():
    production = {"APP_ENV": "production", "SECRET_KEY": "s" * 40}
    assert Config.from_env(production).cors_allowed_origins is None  # same origin only
    listed = Config.from_env(
        {**production, "CORS_ORIGINS": "https://chat.example, https://b.example"}
    )
    assert listed.cors_allowed_origins == ["https://chat.example", "https://b.example"]


def _handshake(client, origin):
    return client.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": origin})


@pytest.mark.parametrize(
    "cors,origin,accepted",
    [
        ("", "http://localhost", True),  # production default: same origin
        ("", "https://evil.example", False),
        ("https://chat.example", "https://chat.example", True),
        ("https://chat.example", "https://evil.example", False),
    ],
)
def test_socketio_handshake_honours_the_allowed_origins(tmp_path, cors, origin, accepted):
    app = create_app(test_config(tmp_path, APP_ENV="production", CORS_ORIGINS=cors))
    response = _handshake(app.test_client(), origin)
    assert (response.status_code == 200) is accepted, response.get_data(as_text=True)
    if accepted and cors:
        assert response.headers["Access-Control-Allow-Origin"] == origin
    if not accepted:
        assert "Access-Control-Allow-Origin" not in response.headers


# Behind our nginx (PROXY_HOPS=1): nginx sets X-Forwarded-Proto (its $scheme, or
# an outer TLS proxy's value when it trusts that proxy) and X-Forwarded-Host (the
# Host it got), each one value, replacing whatever the client sent.
@pytest.mark.parametrize(
    "headers,origin,accepted",
    [
        # TLS at nginx, or at an outer load balancer nginx trusts: https.
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example"}, "https", True),
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example"}, "http", False),
        ({"X-Forwarded-Proto": "http", "X-Forwarded-Host": "chat.example"}, "http", True),
        # A value a client wrote ahead of the one nginx set counts for nothing.
        (
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example, chat.example"},
            "evil",
            False,
        ),
        ({"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "chat.example"}, "https", False),
    ],
)
def test_socketio_origin_behind_the_proxy_uses_only_what_nginx_sets(
    tmp_path, headers, origin, accepted
):
    app = create_app(test_config(tmp_path, APP_ENV="production", PROXY_HOPS=1))
    origin = {
        "https": "https://chat.example",
        "http": "http://chat.example",
        "evil": "https://evil.example",
    }[origin]
    response = app.test_client().get(
        "/socket.io/?EIO=4&transport=polling",
        headers={"Origin": origin, "Host": "nginx-upstream:5000", **headers},
    )
    assert (response.status_code == 200) is accepted, response.get_data(as_text=True)


def test_rest_api_grants_no_cross_origin_reads(client, alice):
    response = client.get("/api/me", headers={**alice.headers, "Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


# --- headers -------------------------------------------------------------------------


def _csp(response):
    header = response.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.mark.parametrize("path", ["/", "/api/docs"])
def test_pages_send_a_strict_content_security_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = _csp(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    # Same origin only: no ws:/wss: to any host (the page's socket is same-origin).
    assert csp["connect-src"] == ["'self'"]
    assert csp["base-uri"] == ["'none'"]
    # The one exception: style attributes, which the vendored emoji picker
    # sets for its layout. Scripts, <style> elements and everything else
    # stay strict; bodies are sanitized with `href` as their only attribute.
    assert csp["style-src-attr"] == ["'unsafe-inline'"]
    for name, directive in csp.items():
        if name != "style-src-attr":
            assert "'unsafe-inline'" not in directive and "'unsafe-eval'" not in directive
        assert "*" not in directive


def _responses(client, alice):
    return {
        "page": client.get("/"),
        "static": client.get("/static/js/main.js"),
        "json": client.get("/api/me", headers=alice.headers),
        "error 401": client.get("/api/me"),
        "error 404": client.get("/api/nowhere"),
        "error 413": client.post(
            "/api/auth/login", data=b"x" * (64 * 1024 + 1), content_type="application/json"
        ),
        "health": client.get("/healthz"),
        "openapi": client.get("/api/openapi.json"),
    }


@pytest.mark.parametrize(
    "header,value",
    [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ],
)
def test_every_response_carries_the_security_headers(client, alice, header, value):
    for name, response in _responses(client, alice).items():
        assert response.headers.get(header) == value, name
        response.close()


# --- hostile text stays data -----------------------------------------------------------


def test_hostile_body_and_display_name_come_back_as_json_data(client, register, make_room, send):
    mallory = register("mallory", display_name=HOSTILE[:64])
    make_room(mallory, "lounge")
    response = send(mallory, "lounge", HOSTILE)
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    message = response.get_json()
    assert message["body"] == HOSTILE
    assert message["author"]["display_name"] == HOSTILE[:64]


def test_the_page_renders_no_user_data_on_the_server(client, register):
    register("mallory", display_name=HOSTILE[:64])
    html = client.get("/").get_data(as_text=True)
    assert "onerror" not in html and "alert(" not in html


def test_the_page_escapes_what_it_does_render(tmp_path):
    hostile_id = '"><script>alert(3)</script>'
    app = create_app(test_config(tmp_path, INSTANCE_ID=hostile_id))
    html = app.test_client().get("/").get_data(as_text=True)
    assert "<script>alert(3)" not in html
    assert "&lt;script&gt;alert(3)" in html or "&#34;&gt;&lt;script" in html
