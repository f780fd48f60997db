#!/usr/bin/env python3
"""The compose topology as local processes, without Docker.

A private PostgreSQL and Redis, N app instances started through entrypoint.sh
(instance 1 in the `migrate` role, the rest in the `serve` role, all at once,
so the replicas really wait for the migrator), and nginx rendered from
nginx/cluster.conf.template in front of them, sticky by client address
(ip_hash) or by a cookie (`--sticky cookie`).

    scripts/cluster.py up --instances 4 --port 8080 --state-dir .cluster [--async-mode gevent]
    scripts/cluster.py status --state-dir .cluster      # JSON
    scripts/cluster.py down --state-dir .cluster
    scripts/cluster.py run --instances 4 --port 8080    # foreground; Ctrl-C stops all

`--redis-cluster` runs a local 3-master Redis Cluster instead of one Redis,
`--redis-sentinel` a primary, a replica and three sentinels (the app gets a
redis+sentinel:// URL).

In the foreground (`run`, what `make cluster` starts) the script supervises
the instances like compose's `restart: unless-stopped`: an instance that dies
is reported and started again with the same id and port, in the serve role,
while the others keep serving; one that keeps dying at once is restarted
after a growing delay (up to RESTART_DELAY_MAX seconds).

Tests use the Cluster class directly.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "scripts")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
from localservices import (
    Nginx,
    Postgres,
    Redis,
    RedisCluster,
    RedisSentinel,
    ServiceError,  # noqa: E402
    free_port,
    stop_process,
)

from app.config import env_names  # noqa: E402  (the standard library only)

SERVER_COMMAND = ["gunicorn", "-c", "python:app.gunicorn_conf", "wsgi:app"]
TEMPLATE = os.path.join(ROOT, "nginx", "cluster.conf.template")
# nginx's stickiness modes: nginx/sticky/<mode>/{http,upstream}.conf.
STICKY_MODES = ("ip_hash", "cookie")
# nginx's limit of connections at once per client address (`limit_conn`; nginx
# takes 1 to 65535): room for an office behind one NAT address, where a browser
# tab holds one WebSocket (docs/compose.md).
CONN_PER_ADDRESS = 512
CONN_PER_ADDRESS_MAX = 65535
# What the app and gunicorn read: never inherited, the cluster sets those itself.
INHERITED_SETTINGS_DROPPED = env_names("app", "gunicorn")


def say(message):
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def http_get(url, timeout=2.0, source=None):
    """(status, headers, body) for a GET; status 0 if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except (urllib.error.URLError, OSError):
        return 0, {}, b""


# Restart policy of the foreground supervisor: the first restart at once, then
# delays doubling from RESTART_DELAY_FIRST while an instance keeps dying within
# STABLE_SECONDS of its start.
RESTART_DELAY_FIRST = 1.0
RESTART_DELAY_MAX = 30.0
STABLE_SECONDS = 10.0


class Instance:
    def __init__(self, index, port, role, log_path):
        self.index = index
        self.id = f"api-{index}"
        self.port = port
        self.role = role
        self.log_path = log_path
        self.proc = None
        self.started_at = None
        self.restarts = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def to_dict(self):
        return {
            "id": self.id,
            "port": self.port,
            "pid": self.pid,
            "role": self.role,
            "url": self.url,
            "log": self.log_path,
            "restarts": self.restarts,
        }


class Cluster:
    def __init__(
        self,
        instances=4,
        port=None,
        state_dir=None,
        async_mode="eventlet",
        extra_env=None,
        access_log=False,
        redis_cluster=False,
        sticky="ip_hash",
        redis_sentinel=False,
        conn_per_address=CONN_PER_ADDRESS,
    ):
        if instances < 1:
            raise ValueError("at least one instance")
        if sticky not in STICKY_MODES:
            raise ValueError(f"sticky must be one of {', '.join(STICKY_MODES)}")
        self.sticky = sticky
        if not 1 <= conn_per_address <= CONN_PER_ADDRESS_MAX:
            raise ValueError(f"conn_per_address must be 1 to {CONN_PER_ADDRESS_MAX}")
        self.conn_per_address = conn_per_address
        self.count = instances
        self.port = port or free_port()
        self._own_dir = state_dir is None
        self.state_dir = os.path.abspath(state_dir or tempfile.mkdtemp(prefix="chat-cluster-"))
        self.async_mode = async_mode
        self.extra_env = dict(extra_env or {})
        self.access_log = access_log
        self.redis_cluster = redis_cluster  # a 3-master Redis Cluster instead of one server
        # A primary, a replica and three sentinels instead of one server.
        self.redis_sentinel = redis_sentinel
        if redis_cluster and redis_sentinel:
            raise ValueError("a Redis Cluster or Redis Sentinel, not both")
        self.secret = secrets.token_urlsafe(32)
        self.postgres = self.redis = self.nginx = None
        self.instances = []
        self.database_url = None
        self.supervisor_pid = None  # set while `run` supervises the instances

    # --- lifecycle --------------------------------------------------------

    def start(self, timeout=120):
        os.makedirs(os.path.join(self.state_dir, "logs"), exist_ok=True)
        os.chmod(self.state_dir, 0o755)  # PostgreSQL runs as its own user below it
        try:
            say(f"state in {self.state_dir}")
            self.postgres = Postgres(os.path.join(self.state_dir, "postgres")).start()
            # A state dir kept from an earlier `up` still has its database: reuse it.
            if self.postgres.psql("SELECT 1 FROM pg_database WHERE datname = 'chat'").strip():
                self.database_url = self.postgres.url("chat")
            else:
                self.database_url = self.postgres.create_database("chat")
            say(f"PostgreSQL on port {self.postgres.port}")
            if self.redis_cluster:
                self.redis = RedisCluster(os.path.join(self.state_dir, "redis")).start()
                say(f"Redis Cluster on {self.redis.url()}")
            elif self.redis_sentinel:
                self.redis = RedisSentinel(os.path.join(self.state_dir, "redis")).start()
                say(f"Redis with Sentinel: {self.redis.url()}")
            else:
                self.redis = Redis(os.path.join(self.state_dir, "redis")).start()
                say(f"Redis on port {self.redis.port}")
            for index in range(1, self.count + 1):
                role = "migrate" if index == 1 else "serve"
                log = os.path.join(self.state_dir, "logs", f"api-{index}.log")
                self.instances.append(Instance(index, free_port(), role, log))
            for instance in self.instances:
                self._spawn(instance)
            say(f"started {self.count} instance(s) ({self.async_mode}); waiting until ready")
            self.wait_ready(timeout=timeout)
            self.nginx = Nginx(
                self._nginx_config(), os.path.join(self.state_dir, "nginx"), port=self.port
            ).start()
            say(f"nginx on {self.url}")
            self.save_state()
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self):
        # Signal every instance first, then wait: they drain in parallel.
        for instance in self.instances:
            if instance.alive():
                try:
                    os.killpg(instance.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for instance in self.instances:
            stop_process(instance.proc, signal.SIGTERM, timeout=25)
        for service in (self.nginx, self.redis, self.postgres):
            if service is not None:
                service.stop(remove=False)
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- instances --------------------------------------------------------

    def env_for(self, instance):
        # The outer environment minus anything that would change how the app or
        # gunicorn runs: the cluster sets those itself.
        env = {k: v for k, v in os.environ.items() if k not in INHERITED_SETTINGS_DROPPED}
        venv_bin = os.path.dirname(sys.executable)
        env.update(
            {
                "PATH": f"{venv_bin}:{env.get('PATH', '')}",
                "FLASK_APP": "app:create_app",
                "APP_ENV": "production",
                # A local cluster is for trying the chat and for tests: demo users wanted.
                "SEED_DEMO": "1",
                "SECRET_KEY": self.secret,
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis.url(),
                "INSTANCE_ID": instance.id,
                "ASYNC_MODE": self.async_mode,
                "HOST": "127.0.0.1",
                "PORT": str(instance.port),
                "PROXY_HOPS": "1",
                "ACCESS_LOG": "-" if self.access_log else "",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, instance, role=None):
        role = role or instance.role
        log = open(instance.log_path, "ab")
        instance.proc = subprocess.Popen(
            [os.path.join(ROOT, "entrypoint.sh"), role, *SERVER_COMMAND],
            cwd=ROOT,
            env=self.env_for(instance),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        instance.started_at = time.monotonic()
        log.close()

    def wait_ready(self, instances=None, timeout=120):
        pending = list(instances or self.instances)
        deadline = time.monotonic() + timeout
        while pending:
            for instance in list(pending):
                if not instance.alive():
                    raise ServiceError(
                        f"{instance.id} exited with {instance.proc.returncode}; "
                        f"see {instance.log_path}\n" + _tail(instance.log_path)
                    )
                status, _, _ = http_get(instance.url + "/readyz", timeout=1)
                if status == 200:
                    pending.remove(instance)
            if pending and time.monotonic() > deadline:
                raise ServiceError("not ready in time: " + ", ".join(i.id for i in pending))
            time.sleep(0.2)

    def kill_instance(self, index, sig=signal.SIGKILL, wait=True):
        """Signal instance `index` (1-based); by default wait for it to exit."""
        instance = self.instances[index - 1]
        try:
            os.killpg(instance.proc.pid, sig)
        except ProcessLookupError:
            pass
        if wait:
            instance.proc.wait(30)
        return instance

    def restart_instance(self, index, timeout=60):
        """Start instance `index` again on its port, in the serve role."""
        instance = self.instances[index - 1]
        if instance.alive():
            self.kill_instance(index, signal.SIGTERM)
        self._spawn(instance, role="serve")
        self.wait_ready([instance], timeout=timeout)
        self.save_state()
        return instance

    # --- nginx and state --------------------------------------------------

    def _nginx_config(self):
        nginx_dir = os.path.join(self.state_dir, "nginx")
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            path = os.path.join(nginx_dir, "tmp", sub)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o777)  # nginx workers may run as nobody
        servers = "\n".join(
            f"        server 127.0.0.1:{i.port} max_fails=1 fail_timeout=2s;"
            for i in self.instances
        )
        with open(TEMPLATE) as f:
            template = f.read()
        return render_template(
            template,
            STATE_DIR=nginx_dir,
            PORT=self.port,
            UPSTREAM_SERVERS=servers,
            STICKY_DIR=os.path.join(ROOT, "nginx", "sticky", self.sticky),
            CONN_PER_ADDRESS=self.conn_per_address,
            ACCESS_LOG=f"{os.path.join(nginx_dir, 'access.log')} chat"
            if self.access_log
            else "off",
        )

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def status(self):
        return {
            "nginx_url": self.url,
            "nginx_pid": self.nginx.pid if self.nginx else None,
            "async_mode": self.async_mode,
            "sticky": self.sticky,
            "instances": [i.to_dict() for i in self.instances],
            "database_url": self.database_url,
            "redis_url": self.redis.url() if self.redis else None,
            "postgres_pid": self.postgres.pid if self.postgres else None,
            "redis_pid": (self.redis.pids[0] if self._redis_group else self.redis.pid)
            if self.redis
            else None,
            "redis_pids": (self.redis.pids if self._redis_group else [self.redis.pid])
            if self.redis
            else [],
            "state_dir": self.state_dir,
            "supervisor_pid": self.supervisor_pid,
        }

    @property
    def _redis_group(self):
        """Whether Redis is several processes (a Redis Cluster, or Sentinel's)."""
        return self.redis_cluster or self.redis_sentinel

    def save_state(self):
        with open(os.path.join(self.state_dir, "state.json"), "w") as f:
            json.dump(self.status(), f, indent=2)


class Supervisor:
    """Restarts dead instances of a running cluster, one pass per call of check().

    Like compose's restart policy: the death is reported, the instance starts
    again in the serve role on its port (so nginx's upstream entry and its id
    stay the same), and the others are never touched. Nothing here blocks: an
    instance's readiness is reported by a later pass."""

    def __init__(self, cluster, report=say):
        self.cluster = cluster
        self.report = report
        self.due = {}  # instance id -> monotonic time of its next start
        self.delays = {}  # instance id -> the delay used for the last restart
        self.starting = {}  # instance id -> monotonic time it was started again
        cluster.supervisor_pid = os.getpid()
        cluster.save_state()

    def check(self):
        now = time.monotonic()
        for instance in self.cluster.instances:
            if instance.alive():
                self._report_ready(instance, now)
                continue
            if instance.id not in self.due:
                self._schedule(instance, now)
            elif now >= self.due[instance.id]:
                del self.due[instance.id]
                instance.restarts += 1
                self.cluster._spawn(instance, role="serve")
                self.starting[instance.id] = now
                self.cluster.save_state()
                self.report(
                    f"{instance.id} started again on port {instance.port} "
                    f"(pid {instance.pid}, restart {instance.restarts})"
                )

    def _schedule(self, instance, now):
        lived = now - (instance.started_at or now)
        code = instance.proc.returncode if instance.proc else None
        # Dying soon after a start doubles the delay; a stable run resets it.
        previous = self.delays.get(instance.id, 0.0)
        delay = (
            0.0
            if lived >= STABLE_SECONDS or not previous and instance.restarts == 0
            else min(RESTART_DELAY_MAX, max(RESTART_DELAY_FIRST, 2 * previous))
        )
        self.delays[instance.id] = delay
        self.due[instance.id] = now + delay
        self.starting.pop(instance.id, None)
        self.report(
            f"{instance.id} exited ({_exit_reason(code)}) after {lived:.1f} s; "
            f"restarting it {f'in {delay:g} s' if delay else 'now'}; "
            f"log {instance.log_path}"
        )

    def _report_ready(self, instance, now):
        started = self.starting.get(instance.id)
        if started is None:
            return
        status, _, _ = http_get(instance.url + "/readyz", timeout=0.5)
        if status == 200:
            del self.starting[instance.id]
            self.report(f"{instance.id} is back and ready after {now - started:.1f} s")


def _exit_reason(code):
    if code is None:
        return "unknown status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def render_template(template, **values):
    """Fills ${UPPER_CASE} placeholders; nginx's own $variables are left alone."""

    def fill(match):
        if match.group(1) not in values:
            raise KeyError(f"no value for ${{{match.group(1)}}} in the nginx template")
        return str(values[match.group(1)])

    return re.sub(r"\$\{([A-Z_]+)\}", fill, template)


def _tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# --- command line -----------------------------------------------------------


def _read_state(state_dir):
    path = os.path.join(os.path.abspath(state_dir), "state.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def cmd_status(args):
    state = _read_state(args.state_dir)
    if state is None:
        print(json.dumps({"running": False, "state_dir": os.path.abspath(args.state_dir)}))
        return 1
    for instance in state["instances"]:
        instance["alive"] = _pid_alive(instance["pid"])
        status, _, _ = http_get(instance["url"] + "/readyz", timeout=1)
        instance["ready"] = status == 200
    state["running"] = any(i["alive"] for i in state["instances"])
    print(json.dumps(state, indent=2))
    return 0


def cmd_down(args):
    state = _read_state(args.state_dir)
    if state is None:
        say(f"nothing running from {args.state_dir}")
        return 0
    supervisor = state.get("supervisor_pid")
    if _pid_alive(supervisor):
        # A foreground `run` supervises these processes: ask it to stop them all
        # (it would restart instances stopped behind its back).
        os.kill(supervisor, signal.SIGTERM)
        _wait_gone([supervisor], 60)
        if _read_state(args.state_dir) is None:
            say("stopped")
            return 0
    apps = [i["pid"] for i in state["instances"]]
    services = [state.get("nginx_pid"), *(state.get("redis_pids") or [state.get("redis_pid")])]
    # The apps first, so that they close their sockets while Redis still answers.
    for group in (apps, services):
        for pid in group:
            _signal_group(pid, signal.SIGTERM)
        _wait_gone(group, 25)
    pids = apps + services
    # PostgreSQL last, with its fast-shutdown signal, once the apps are gone.
    _signal_group(state.get("postgres_pid"), signal.SIGINT)
    _wait_gone([state.get("postgres_pid")], 20)
    for pid in pids + [state.get("postgres_pid")]:
        _signal_group(pid, signal.SIGKILL)
    os.remove(os.path.join(os.path.abspath(args.state_dir), "state.json"))
    say("stopped")
    return 0


def _signal_group(pid, sig):
    if not pid:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while any(_pid_alive(p) for p in pids if p) and time.monotonic() < deadline:
        time.sleep(0.2)


def _print_summary(cluster):
    print(
        f"chat cluster ready: {cluster.url}  "
        f"({cluster.count} instances, {cluster.async_mode}, sticky {cluster.sticky})"
    )
    for i in cluster.instances:
        print(f"  {i.id:8} {i.role:8} {i.url}  pid {i.pid}  log {i.log_path}")
    print(f"  database {cluster.database_url}")
    print(f"  redis    {cluster.redis.url()}")
    sys.stdout.flush()


def cmd_up(args, foreground=False):
    state_dir = args.state_dir or (None if foreground else ".cluster")
    if state_dir and _read_state(state_dir):
        say(f"a cluster is already recorded in {state_dir}; run `down` first")
        return 1
    cluster = Cluster(
        instances=args.instances,
        port=args.port,
        state_dir=state_dir,
        async_mode=args.async_mode,
        access_log=args.access_log,
        redis_cluster=args.redis_cluster,
        redis_sentinel=args.redis_sentinel,
        sticky=args.sticky,
        conn_per_address=args.conn_per_address,
    )
    cluster.start()
    _print_summary(cluster)
    if not foreground:
        # The processes run in their own sessions and outlive this command.
        return 0
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print("Ctrl-C stops everything.", flush=True)
    supervisor = Supervisor(cluster)
    try:
        while not stopping:
            supervisor.check()
            time.sleep(0.2)
    finally:
        say("stopping")
        cluster.stop()
        if state_dir:
            try:
                os.remove(os.path.join(cluster.state_dir, "state.json"))
            except FileNotFoundError:
                pass
        say("stopped")
    return 0


def _conn_per_address(text):
    value = int(text)
    if not 1 <= value <= CONN_PER_ADDRESS_MAX:
        raise argparse.ArgumentTypeError(f"must be 1 to {CONN_PER_ADDRESS_MAX}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "run"):
        p = sub.add_parser(name, help="start (up: in the background; run: in the foreground)")
        p.add_argument("--instances", type=int, default=4)
        p.add_argument("--port", type=int, default=8080)
        p.add_argument("--state-dir", default=".cluster" if name == "up" else None)
        p.add_argument("--async-mode", choices=("eventlet", "gevent"), default="eventlet")
        p.add_argument("--access-log", action="store_true", help="log every request")
        p.add_argument(
            "--redis-cluster",
            action="store_true",
            help="a local 3-master Redis Cluster instead of one Redis server",
        )
        p.add_argument(
            "--redis-sentinel",
            action="store_true",
            help="Redis watched by Sentinel (a primary, a replica, three sentinels) "
            "instead of one Redis server",
        )
        p.add_argument(
            "--sticky",
            choices=STICKY_MODES,
            default=os.environ.get("STICKY") or "ip_hash",
            help="nginx's session affinity: by client address (ip_hash, the default) "
            "or by a cookie it sets (cookie); default from $STICKY",
        )
        p.add_argument(
            "--conn-per-address",
            type=_conn_per_address,
            default=CONN_PER_ADDRESS,
            help=f"nginx's limit of connections at once from one client address "
            f"(1 to {CONN_PER_ADDRESS_MAX}; default {CONN_PER_ADDRESS})",
        )
    for name in ("status", "down"):
        p = sub.add_parser(name)
        p.add_argument("--state-dir", default=".cluster")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return cmd_up(args)
        if args.command == "run":
            return cmd_up(args, foreground=True)
        if args.command == "status":
            return cmd_status(args)
        return cmd_down(args)
    except ServiceError as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
