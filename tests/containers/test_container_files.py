"""The container files: docker/Dockerfile, docker-compose.yml, nginx/nginx.conf.

These files are checked statically here: their structure against the
design, hadolint on the Dockerfile, the Compose Specification's JSON schema on
the compose file, and `nginx -t` (the host's nginx) on a loopback rendering of
nginx.conf. They run for real in test_compose.py beside this file (Docker),
and the same topology runs as local processes in the integration tests
(scripts/cluster.py); the tests here
also hold compose to the same entrypoint roles and server command as that
cluster, and nginx.conf to the cluster's routing.

The linters come from requirements-dev.txt and nginx from `make system-deps`:
a missing tool fails its test with a pointer to `make test`, never a skip.
"""

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

try:
    import yaml
except ImportError as exc:  # pragma: no cover - only without the dev requirements
    raise ImportError(
        "PyYAML is missing: run `make test`, which installs requirements-dev.txt"
    ) from exc

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "nginx" / "nginx.conf"
CLUSTER_TEMPLATE = ROOT / "nginx" / "cluster.conf.template"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT = ROOT / "entrypoint.sh"
HEALTHCHECK_SCRIPT = ROOT / "docker" / "healthcheck.py"

APP_PORT = 5000
APP_SERVICES = ("migrator", "api")
ROLES = {"migrator": "migrate", "api": "serve"}


# --- helpers -----------------------------------------------------------------


def find_tool(name, extra_dirs=()):
    """The tool's path: the venv's bin first (pip-installed linters), then PATH."""
    venv_bin = Path(sys.executable).parent
    for directory in (venv_bin, *map(Path, extra_dirs)):
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(
        f"`{name}` is not installed, so this check cannot run: run `make test`, "
        f"which installs it (requirements-dev.txt and scripts/install-system-deps.sh)."
    )


def run_tool(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kwargs)
    return result.returncode, (result.stdout + result.stderr).strip()


def load_cluster_module():
    spec = importlib.util.spec_from_file_location(
        "cluster_under_test", ROOT / "scripts" / "cluster.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dockerfile_instructions():
    """[(INSTRUCTION, arguments)] with continuations joined and comments dropped."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def instruction_index(instructions, keyword, predicate):
    for index, (kw, args) in enumerate(instructions):
        if kw == keyword and predicate(args):
            return index
    return None


def copy_sources(args):
    """The source paths of a COPY instruction (flags dropped; JSON form accepted)."""
    words = json.loads(args) if args.startswith("[") else args.split()
    words = [w for w in words if not w.startswith("--")]
    return [w.rstrip("/") for w in words[:-1]]


def exec_form(args):
    assert args.startswith("["), f"use the exec (JSON) form, not a shell string: {args}"
    return json.loads(args)


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


@pytest.fixture(scope="module")
def server_command():
    return load_cluster_module().SERVER_COMMAND


def env_of(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def networks_of(service):
    networks = service.get("networks", [])
    return set(networks if isinstance(networks, list) else networks.keys())


def healthcheck_command(service):
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def interpolated_variables(text):
    """Variables compose substitutes: ${VAR...} and $VAR, not the escaped $$."""
    text = text.replace("$$", "")
    return set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))


def env_example():
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def nginx_location_block(text):
    """The directives of `location / { ... }`, comments dropped."""
    match = re.search(r"location / \{(.*?)\n\s*\}", text, re.S)
    assert match, "no `location / { ... }` block"
    lines = (line.split("#", 1)[0].strip() for line in match.group(1).splitlines())
    return [line for line in lines if line]


# --- Dockerfile ------------------------------------------------------------


def test_dockerfile_uses_a_current_slim_python_base():
    froms = [args for kw, args in dockerfile_instructions() if kw == "FROM"]
    assert froms, "no FROM"
    image = froms[-1].split()[0]
    match = re.fullmatch(r"python:3\.(\d+)(?:\.\d+)?-slim(?:-(\w+))?", image)
    assert match, f"the base is not a slim Python image: {image}"
    assert int(match.group(1)) >= 11, f"Python older than 3.11: {image}"
    assert match.group(2) in (None, "bookworm", "trixie"), f"an old Debian: {image}"


def test_dockerfile_runs_the_app_as_a_non_root_user():
    instructions = dockerfile_instructions()
    users = [(i, args) for i, (kw, args) in enumerate(instructions) if kw == "USER"]
    assert users, "no USER: the app would run as root"
    last_index, last_user = users[-1]
    assert last_user.split(":")[0] not in ("root", "0"), f"USER {last_user} is root"
    cmd_index = instruction_index(instructions, "CMD", lambda a: True)
    assert cmd_index is not None and last_index < cmd_index


def test_dockerfile_installs_dependencies_in_their_own_layer_before_the_app():
    instructions = dockerfile_instructions()
    copy_requirements = instruction_index(
        instructions, "COPY", lambda a: copy_sources(a) == ["requirements.txt"]
    )
    pip_install = instruction_index(
        instructions, "RUN", lambda a: "pip install" in a and "-r requirements.txt" in a
    )
    copy_app = instruction_index(instructions, "COPY", lambda a: "app" in copy_sources(a))
    assert copy_requirements is not None, "requirements.txt is not copied on its own"
    assert pip_install is not None, "no `pip install -r requirements.txt`"
    assert copy_app is not None, "the app package is not copied"
    assert copy_requirements < pip_install < copy_app
    assert "--no-cache-dir" in instructions[pip_install][1]


def test_dockerfile_copies_the_app_migrations_seeds_and_entrypoint():
    sources = {
        src for kw, args in dockerfile_instructions() if kw == "COPY" for src in copy_sources(args)
    }
    for needed in (
        "app",
        "migrations",
        "seeds",
        "wsgi.py",
        "entrypoint.sh",
        "docker/healthcheck.py",
    ):
        assert needed in sources, f"{needed} is not copied into the image"
    assert "." not in sources, "COPY . would bring the whole build context in"


def test_dockerfile_default_command_only_starts_gunicorn_with_the_project_config(server_command):
    instructions = dockerfile_instructions()
    assert not [a for kw, a in instructions if kw == "ENTRYPOINT"], (
        "the image's default must only start the app; compose picks a role with entrypoint.sh"
    )
    cmds = [a for kw, a in instructions if kw == "CMD"]
    assert cmds, "no CMD"
    assert (
        exec_form(cmds[-1])
        == server_command
        == ["gunicorn", "-c", "python:app.gunicorn_conf", "wsgi:app"]
    )


def test_dockerfile_healthcheck_uses_python_not_curl():
    checks = [a for kw, a in dockerfile_instructions() if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    command = exec_form(checks[0].split(" CMD ", 1)[1].strip())
    assert command[:2] == ["python", "docker/healthcheck.py"]
    assert "/readyz" in command
    assert "curl" not in DOCKERFILE.read_text(), "curl is not in the slim image"


def test_hadolint_passes_on_the_dockerfile():
    hadolint = find_tool("hadolint")
    code, output = run_tool([hadolint, str(DOCKERFILE)])
    assert code == 0, f"hadolint:\n{output}"


def test_dockerignore_keeps_local_state_out_and_what_the_image_needs_in():
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for excluded in (
        ".venv",
        ".git",
        "tests",
        "bench",
        "instance",
        "node_modules",
        ".cluster",
        ".env",
    ):
        assert excluded in patterns, f".dockerignore does not exclude {excluded}"
    for needed in (
        "requirements.txt",
        "app",
        "app/__init__.py",
        "migrations",
        "migrations/env.py",
        "seeds",
        "seeds/users.json",
        "wsgi.py",
        "entrypoint.sh",
        "docker/Dockerfile",
        "docker/healthcheck.py",
    ):
        hits = [p for p in patterns if not p.startswith("!") and fnmatch(needed, p)]
        assert not hits, f".dockerignore drops {needed} (by {hits}), which the image needs"


def test_entrypoint_offers_both_roles_and_defaults_to_the_same_server_command(server_command):
    text = ENTRYPOINT.read_text()
    assert os.access(ENTRYPOINT, os.X_OK), "entrypoint.sh is not executable"
    for role in ROLES.values():
        assert re.search(rf"^\s*{role}\)", text, re.M), f"entrypoint.sh has no {role} role"
    default = re.search(r"^\s*set -- (.+)$", text, re.M)
    assert default and default.group(1).split() == server_command


# --- the health check script -----------------------------------------------


def serve_status(status):
    """A throwaway HTTP server on loopback answering every GET with `status`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def run_healthcheck(port):
    env = dict(os.environ, PORT=str(port))
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK_SCRIPT), "/readyz"],
        env=env,
        capture_output=True,
        timeout=30,
    ).returncode


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_healthcheck_script_is_healthy_only_on_200(status, healthy):
    server = serve_status(status)
    try:
        assert (run_healthcheck(server.server_address[1]) == 0) is healthy
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_script_is_unhealthy_when_nothing_answers():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert run_healthcheck(port) != 0


# --- docker-compose.yml -------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec():
    checker = find_tool("check-jsonschema")
    code, output = run_tool([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert code == 0, f"check-jsonschema:\n{output}"


def test_compose_has_the_five_services(services):
    # Besides, in profiles (off unless asked for): Redis Sentinel's.
    always = {name for name, service in services.items() if not service.get("profiles")}
    assert always == {"db", "redis", "migrator", "api", "nginx"}


def test_database_uses_postgres_with_a_named_volume_and_a_pg_isready_check(compose, services):
    db = services["db"]
    assert re.fullmatch(r"postgres:1[67](?:[.-].*)?", db["image"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in compose.get("volumes", {}), "the database volume is not a named volume"
    assert "pg_isready" in healthcheck_command(db)


def test_redis_has_a_ping_health_check(services):
    assert services["redis"]["image"].startswith("redis:7")
    assert "redis-cli ping" in healthcheck_command(services["redis"])


def test_app_services_build_the_one_image(services):
    for name in APP_SERVICES:
        build = services[name]["build"]
        assert build["dockerfile"] == "docker/Dockerfile" and build["context"] == "."


def test_app_services_use_the_local_cluster_roles_and_server_command(services, server_command):
    cluster_source = (ROOT / "scripts" / "cluster.py").read_text()
    for name, role in ROLES.items():
        service = services[name]
        assert service["entrypoint"] == ["./entrypoint.sh", role]
        assert service["command"] == server_command
        assert f'"{role}"' in cluster_source, f"scripts/cluster.py never uses the {role} role"


def test_migrator_is_healthy_only_when_readyz_says_ready(services):
    migrator = services["migrator"]
    command = healthcheck_command(migrator)
    assert command.startswith("CMD python docker/healthcheck.py") and "/readyz" in command
    assert "urllib" in HEALTHCHECK_SCRIPT.read_text()
    assert migrator["depends_on"]["db"]["condition"] == "service_healthy"


def test_api_waits_for_a_healthy_migrator_and_redis(services):
    depends = services["api"]["depends_on"]
    assert depends["migrator"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"


def test_api_can_be_scaled(services):
    api = services["api"]
    for key in ("container_name", "ports", "hostname"):
        assert key not in api, f"`api` sets {key}, so `--scale api=N` would break"
    for name in APP_SERVICES:
        # Unset, the app uses hostname-pid: unique per replica.
        assert "INSTANCE_ID" not in env_of(services[name])


def test_app_settings_are_production_behind_one_proxy(services):
    for name in APP_SERVICES:
        env = env_of(services[name])
        assert env["APP_ENV"] == "production"
        assert str(env["PROXY_HOPS"]) == "1"
        assert env["ASYNC_MODE"] == "${ASYNC_MODE:-eventlet}"
        assert str(env.get("PORT", APP_PORT)) == str(APP_PORT)
        assert env["REDIS_URL"].startswith("${REDIS_URL:-redis://redis:")  # or the sentinels
        assert "@db:5432/" in env["DATABASE_URL"]


def test_database_is_on_the_backend_network_only(compose, services):
    assert networks_of(services["db"]) == {"backend"}
    assert networks_of(services["redis"]) == {"backend"}
    assert networks_of(services["nginx"]) == {"frontend"}
    for name in APP_SERVICES:
        assert networks_of(services[name]) == {"backend", "frontend"}
    assert set(compose["networks"]) == {"backend", "frontend"}


def test_nginx_publishes_https_and_http_and_mounts_its_config_read_only(services):
    nginx = services["nginx"]
    assert nginx["ports"] == ["${CHAT_PORT:-8443}:443", "${CHAT_HTTP_PORT:-8080}:80"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    # The certificate directory: the operator's, or a volume nginx makes one in.
    assert "${CHAT_TLS_DIR:-nginx-tls}:/etc/nginx/tls" in nginx["volumes"]
    assert env_of(nginx)["HTTPS_PORT"] == "${CHAT_PORT:-8443}"
    assert set(nginx["depends_on"]) == set(APP_SERVICES)
    assert nginx["depends_on"]["migrator"]["condition"] == "service_healthy"


def test_nginx_image_supports_resolving_upstream_servers(services):
    """Open-source nginx takes `server ... resolve` in an upstream from 1.27.3 on."""
    assert services["nginx"]["build"] == {"context": "nginx"}
    base = re.search(r"^FROM (\S+)", (ROOT / "nginx" / "Dockerfile").read_text(), re.M).group(1)
    match = re.fullmatch(r"nginx:(\d+)\.(\d+)(?:\.(\d+))?(?:-\w+)?", base)
    assert match, "pin the nginx image to a version"
    major, minor, patch = (int(g) if g else None for g in match.groups())
    # A floating 1.27 tag is 1.27.5 now; a pinned 1.27.x must be 1.27.3 or later.
    assert (major, minor) >= (1, 27) and ((major, minor) != (1, 27) or (patch or 3) >= 3)


def test_no_secret_is_hard_coded(services):
    for name, service in services.items():
        for key, value in env_of(service).items():
            if key.endswith("_FILE"):  # a path to a secret, not one
                assert str(value).startswith("/run/secrets/"), (name, key, value)
                continue
            if "SECRET" in key or "PASSWORD" in key:
                assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", str(value)), (
                    f"{name}.{key} must come from .env as ${{{key}:?...}}, not {value!r}"
                )
    for name in APP_SERVICES:
        url = env_of(services[name])["DATABASE_URL"]
        assert ":${POSTGRES_PASSWORD:?" in url, "the database password must come from .env"


def test_env_example_lists_every_variable_compose_interpolates():
    used = interpolated_variables(COMPOSE.read_text())
    listed = env_example()
    assert used - set(listed) == set(), "used in docker-compose.yml, missing from .env.example"
    assert set(listed) - used == set(), "in .env.example, unused by docker-compose.yml"
    # Empty secrets: compose refuses to start until they are set in .env.
    assert listed["SECRET_KEY"] == "" and listed["POSTGRES_PASSWORD"] == ""


# --- nginx/nginx.conf ---------------------------------------------------------


def test_nginx_conf_balances_every_app_instance_with_ip_hash():
    text = NGINX_CONF.read_text()
    upstream = re.search(r"upstream chat \{(.*?)\}", text, re.S)
    assert upstream, "no `upstream chat` block"
    body = upstream.group(1)
    # The stickiness mode's file (compose mounts nginx/sticky/$STICKY there),
    # ip_hash unless STICKY says otherwise.
    assert re.search(r"^\s*include /etc/nginx/sticky/upstream\.conf;", body, re.M)
    assert re.search(r"^\s*include /etc/nginx/sticky/http\.conf;", text, re.M)
    compose = COMPOSE.read_text()
    assert "./nginx/sticky/${STICKY:-ip_hash}:/etc/nginx/sticky:ro" in compose
    default = (ROOT / "nginx" / "sticky" / "ip_hash" / "upstream.conf").read_text()
    assert re.search(r"^ip_hash;", default, re.M)
    assert re.search(r"^\s*zone \w+ \d+[km];", body, re.M), "`resolve` needs a shared zone"
    for name in APP_SERVICES:
        assert re.search(rf"^\s*server {name}:{APP_PORT} resolve\b", body, re.M), (
            f"the upstream does not resolve {name}:{APP_PORT}"
        )
    assert re.search(r"^\s*resolver 127\.0\.0\.11 valid=10s\b", text, re.M), (
        "Docker's DNS must be re-asked, or new replicas get no traffic"
    )
    assert re.search(r"map \$http_upgrade \$connection_upgrade", text)
    assert re.search(r"^\s*listen 80;", text, re.M), "compose publishes container port 80"


def test_nginx_conf_proxies_like_the_local_cluster():
    """Same location block as nginx/cluster.conf.template: upgrade, headers, timeouts."""
    compose_location = nginx_location_block(NGINX_CONF.read_text())
    assert compose_location == nginx_location_block(CLUSTER_TEMPLATE.read_text())
    timeouts = dict(
        line.rstrip(";").split()[:2]
        for line in compose_location
        if line.startswith(("proxy_read_timeout", "proxy_send_timeout"))
    )
    assert timeouts and all(int(v.rstrip("s")) >= 3600 for v in timeouts.values())


def test_nginx_conf_limits_connections_per_address_like_the_local_cluster():
    """The same per-address connection limit, refusal and default as the local
    cluster's template (tests/integration/test_nginx_conn_limit.py runs it)."""
    cluster = load_cluster_module()
    template = CLUSTER_TEMPLATE.read_text().replace(
        "${CONN_PER_ADDRESS}", str(cluster.CONN_PER_ADDRESS)
    )
    pattern = re.compile(r"^\s*(limit_conn\w*\s.*|error_page 429 .*|return 429 .*)$", re.M)
    lines = [m.group(0).strip() for m in pattern.finditer(NGINX_CONF.read_text())]
    assert lines == [m.group(0).strip() for m in pattern.finditer(template)]
    assert "limit_conn_zone $binary_remote_addr zone=chat_conn_per_address:10m;" in lines
    assert f"limit_conn chat_conn_per_address {cluster.CONN_PER_ADDRESS};" in lines
    assert {"limit_conn_status 429;", "limit_conn_log_level warn;"} <= set(lines)
    # Every location with error_pages of its own answers the limit's 429 too.
    assert lines.count("error_page 429 @too_many_connections;") == 2


@pytest.mark.parametrize("sticky", ["ip_hash", "cookie"])
def test_nginx_accepts_the_config_rendered_for_loopback(tmp_path, sticky):
    """`nginx -t` on nginx.conf with the upstream's service names on loopback.

    What this cannot check here: the local nginx is Debian's 1.22, older than
    1.27.3, so it knows neither the `resolve` parameter (removed from the
    rendered copy) nor the `migrator`/`api` names (Docker's DNS at
    127.0.0.11, replaced by 127.0.0.1 ports). Re-resolving the names as
    replicas come and go is therefore not exercised; everything else in the
    file (the map, the zone, ip_hash, the proxy settings) is parsed as is.
    """
    nginx = find_tool("nginx", extra_dirs=["/usr/sbin", "/usr/local/sbin"])
    text = NGINX_CONF.read_text()
    rendered, count = re.subn(
        r"server (migrator|api):5000 resolve\b",
        lambda m: f"server 127.0.0.1:{5001 + APP_SERVICES.index(m.group(1))}",
        text,
    )
    assert count == len(APP_SERVICES)
    assert not re.search(r"^\s*server .*\bresolve\b", rendered, re.M)
    # What tls-entrypoint.sh puts in /run/chat-nginx at start: the redirect's
    # port and the certificate (a throwaway one here).
    assert rendered.count("/run/chat-nginx/") == 3
    rendered = rendered.replace("/run/chat-nginx/", f"{tmp_path}/")
    (tmp_path / "https-port.conf").write_text(
        'map $host $chat_https_port_suffix {\n    default ":8443";\n}\n'
    )
    code, output = run_tool(
        [
            find_tool("openssl"),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(tmp_path / "tls.key"),
            "-out",
            str(tmp_path / "tls.crt"),
        ]
    )
    assert code == 0, output
    rendered = rendered.replace("/etc/nginx/sticky/", f"{ROOT / 'nginx' / 'sticky' / sticky}/")
    config = tmp_path / "nginx.conf"
    config.write_text(rendered)
    code, output = run_tool(
        [
            nginx,
            "-t",
            "-c",
            str(config),
            "-p",
            str(tmp_path),
            "-e",
            "stderr",
            "-g",
            f"pid {tmp_path}/nginx.pid;",
        ]
    )
    assert code == 0, f"nginx -t:\n{output}"


# --- locked down --------------------------------------------------------------


# What a service adds back after `cap_drop: [ALL]` (docker-compose.yml says why).
COMPOSE_ADDED_CAPABILITIES = {
    "db": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"],
    "nginx": ["CHOWN", "SETGID", "SETUID"],
}


def test_every_service_is_limited_read_only_and_without_capabilities(services):
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and float(limits["cpus"]) > 0, name
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert service.get("cap_add", []) == COMPOSE_ADDED_CAPABILITIES.get(name, []), name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_redis_requires_the_password_from_a_secret(compose, services):
    redis = services["redis"]
    script = " ".join(redis["command"])
    assert "requirepass" in script and "/run/secrets/redis_password" in script
    assert "REDISCLI_AUTH" in healthcheck_command(redis)
    assert redis["secrets"] == ["redis_password"]
    assert compose["secrets"]["redis_password"] == {
        "file": "${CHAT_REDIS_PASSWORD_FILE:-./.secrets/redis_password}"
    }
    for name in APP_SERVICES:
        env = env_of(services[name])
        assert env["REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
        assert services[name]["secrets"] == ["redis_password"]
    assert ".secrets" in DOCKERIGNORE.read_text().split()


def test_entrypoint_puts_the_secret_passwords_into_the_urls(tmp_path):
    """entrypoint.sh with DATABASE_PASSWORD_FILE and REDIS_PASSWORD_FILE: the
    URLs the app gets carry the (URL-quoted) passwords."""
    (tmp_path / "db").write_text("d/b@pw\n")
    (tmp_path / "redis").write_text("r:pw\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "flask").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "flask").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "DATABASE_URL": "postgresql://chat@db:5432/chat",
        "DATABASE_PASSWORD_FILE": str(tmp_path / "db"),
        "REDIS_URL": "redis://redis:6379/0",
        "REDIS_PASSWORD_FILE": str(tmp_path / "redis"),
    }
    script = 'echo "$DATABASE_URL"; echo "$REDIS_URL"'
    code, output = run_tool(
        ["sh", str(ENTRYPOINT), "serve", "sh", "-c", script], env=env, cwd=tmp_path
    )
    assert code == 0, output
    urls = [line for line in output.splitlines() if "://" in line]
    assert urls == [
        "postgresql://chat:d%2Fb%40pw@db:5432/chat",
        "redis://:r%3Apw@redis:6379/0",
    ]


def test_nginx_conf_serves_https_redirects_http_and_sets_the_forwarded_headers():
    text = NGINX_CONF.read_text()
    assert re.search(r"^\s*listen 443 ssl;", text, re.M)
    assert "ssl_certificate /run/chat-nginx/tls.crt;" in text
    assert "return 308 https://$host$chat_https_port_suffix$request_uri;" in text
    assert "add_header Strict-Transport-Security $chat_hsts always;" in text
    assert "proxy_cookie_flags ~ secure;" in text
    location = nginx_location_block(text)
    # Set by nginx whatever the client sent: the app trusts exactly these.
    assert "proxy_set_header X-Forwarded-Proto $chat_forwarded_proto;" in location
    assert "proxy_set_header X-Forwarded-Host $http_host;" in location
    # An outer proxy's X-Forwarded-Proto counts only from the listed addresses.
    geo = re.search(r"geo \$chat_from_outer_proxy \{(.*?)\}", text, re.S).group(1)
    assert [ln.strip() for ln in geo.splitlines() if ln.strip()] == ["default 0;"]


class EchoHeaders(BaseHTTPRequestHandler):
    """An upstream that answers with the request headers it got, as JSON."""

    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def loopback_nginx(tmp_path):
    """nginx/nginx.conf run by the host's nginx on loopback, in front of
    EchoHeaders, with 127.0.0.2 listed as a trusted outer TLS proxy."""
    nginx = find_tool("nginx", extra_dirs=["/usr/sbin", "/usr/local/sbin"])
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), EchoHeaders)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    http_port, https_port = free_loopback_port(), free_loopback_port()
    text = re.sub(
        r"server (migrator|api):5000 resolve\b",
        f"server 127.0.0.1:{upstream.server_address[1]}",
        NGINX_CONF.read_text(),
    )
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    geo = "geo $chat_from_outer_proxy {\n        default 0;\n"
    assert geo in text
    text = text.replace(geo, geo + "        127.0.0.2 1;\n")
    text = text.replace("/run/chat-nginx/", f"{tmp_path}/")
    text = text.replace("/etc/nginx/sticky/", f"{ROOT / 'nginx' / 'sticky' / 'ip_hash'}/")
    text = text.replace("access_log /dev/stdout chat;", f"access_log {tmp_path}/access.log chat;")
    (tmp_path / "https-port.conf").write_text(
        f'map $host $chat_https_port_suffix {{\n    default ":{https_port}";\n}}\n'
    )
    code, output = run_tool(
        [
            find_tool("openssl"),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tmp_path / "tls.key"),
            "-out",
            str(tmp_path / "tls.crt"),
        ]
    )
    assert code == 0, output
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    process = subprocess.Popen(
        [
            nginx,
            "-c",
            str(config),
            "-p",
            str(tmp_path),
            "-e",
            "stderr",
            "-g",
            f"pid {tmp_path}/nginx.pid; daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                threading.Event().wait(0.1)
        yield {"http": http_port, "https": https_port, "ca": str(tmp_path / "tls.crt")}
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()


def nginx_get(port, headers, source="127.0.0.1", ca=None):
    import http.client
    import ssl

    if ca:
        context = ssl.create_default_context(cafile=ca)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=10, source_address=(source, 0), context=context
        )
    else:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=10, source_address=(source, 0)
        )
    try:
        connection.request("GET", "/x?y=1", headers=headers)
        response = connection.getresponse()
        body = response.read()
        seen = json.loads(body) if response.status == 200 else {}
        return response.status, dict(response.getheaders()), seen
    finally:
        connection.close()


def test_nginx_sets_the_forwarded_headers_itself_and_trusts_only_a_listed_proxy(
    loopback_nginx,
):
    """X-Forwarded-Proto is nginx's scheme, or a listed outer proxy's value;
    X-Forwarded-Host is the Host nginx got; a client's own values count for
    nothing; plain HTTP from a client is redirected to HTTPS."""
    ports = loopback_nginx
    spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    # A client over plain HTTP, claiming HTTPS: redirected all the same.
    status, headers, _ = nginx_get(ports["http"], spoofed)
    assert status == 308
    assert headers["Location"] == f"https://127.0.0.1:{ports['https']}/x?y=1"
    # Over HTTPS: the scheme and host nginx saw, whatever the client wrote.
    status, headers, seen = nginx_get(
        ports["https"],
        {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"},
        ca=ports["ca"],
    )
    assert status == 200
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{ports['https']}"
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    # The listed outer TLS proxy (127.0.0.2) over plain HTTP: its https is
    # believed, nothing is redirected; its http is redirected.
    status, headers, seen = nginx_get(
        ports["http"], {**spoofed, "Host": "chat.example"}, source="127.0.0.2"
    )
    assert status == 200, headers
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-host"] == "chat.example"
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    status, _, _ = nginx_get(ports["http"], {"X-Forwarded-Proto": "http"}, source="127.0.0.2")
    assert status == 308


# --- Redis Sentinel (compose profile `sentinel`, deploy/swarm/sentinel.yml) ----


def test_the_sentinel_profile_and_the_swarm_overlay_run_a_replica_and_three_sentinels():
    import yaml

    compose = yaml.safe_load(COMPOSE.read_text())
    overlay = yaml.safe_load((ROOT / "deploy" / "swarm" / "sentinel.yml").read_text())
    url = "redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/chat"
    names = ["redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"]
    for name in names:
        assert compose["services"][name]["profiles"] == ["sentinel"], name
        assert "profiles" not in overlay["services"][name]
        for services in (compose["services"], overlay["services"]):
            script = services[name]["command"][-1]
            # By address: a Redis or sentinel resolving a dead name blocks for seconds.
            assert "client info" in script and "master_host" in script, name
    for name in names[1:]:
        assert "sentinel monitor chat $$primary 6379 2" in compose["services"][name]["command"][-1]
    # The replica and the sentinels ask for the same password as the primary.
    for name in names:
        assert compose["services"][name]["secrets"] == ["redis_password"], name
    assert "masterauth" in compose["services"]["redis-replica"]["command"][-1]
    for name in names[1:]:
        assert "sentinel auth-pass chat" in compose["services"][name]["command"][-1]
    # The app: one Redis by default, the sentinels' URL with the profile.
    assert compose["x-app"]["environment"]["REDIS_URL"] == "${REDIS_URL:-redis://redis:6379/0}"
    assert url in (ROOT / "Makefile").read_text() and url in ENV_EXAMPLE.read_text()
    for name in ("migrator", "api"):
        assert overlay["services"][name]["environment"]["REDIS_URL"] == url
    from app.library_hooks.redis_urls import parse_sentinel_url

    assert parse_sentinel_url(url).service_name == "chat"
