"""The systems under test, all behind the same nginx config (nginx/cluster.conf.template):

- `chat` (eventlet or gevent): the chat itself, scripts/cluster.py's Cluster
  (PostgreSQL, Redis, N gunicorn instances, nginx with ip_hash);
- `node`: the Node Socket.IO 4 peer of bench/peers/node with the Redis adapter,
  N node processes on one Redis, the same nginx config, keeping users, rooms,
  memberships and messages in the chat's own PostgreSQL tables (created by the
  chat's migrations) and checking the same signed tokens: the fair peer;
- `node-redis`: the same peer in its first mode, messages in Redis only (no
  users, memberships or PostgreSQL): a floor for the socket path alone.

Every target registers its users, creates and joins rooms over the same REST
calls (the Node peer answers the three it needs).

Each target can say which process to weigh for memory (the gunicorn worker, or
the node process) and which processes make up each component, for CPU shares.
"""

import asyncio
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from cluster import CONN_PER_ADDRESS_MAX, TEMPLATE, Cluster, render_template  # noqa: E402
from localservices import (
    Nginx,
    Postgres,
    Redis,
    ServiceError,
    free_port,  # noqa: E402
    stop_process,
)

from bench.httpclient import HttpConnection  # noqa: E402

NODE_DIR = os.path.join(ROOT, "bench", "peers", "node")
PASSWORD = "bench-password-1"

# The chat with its limits out of the way: the bench measures throughput, not
# the rate limiter, and registers its users with a cheap hash.
CHAT_BENCH_ENV = {
    "RATELIMIT_ENABLED": "0",
    "SEND_RATE_LIMIT": "1000000 per 1 second",
    "AUTH_RATE_LIMIT": "1000000 per 1 second",
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
}
# nginx's limit of connections per client address out of the way too: the load
# comes from a few loopback addresses (bench/load.py), thousands of sockets each.
BENCH_CONN_PER_ADDRESS = CONN_PER_ADDRESS_MAX


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def nginx_config(ports, state_dir, port):
    """The cluster's nginx config with `ports` as its upstream servers."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        path = os.path.join(state_dir, "tmp", sub)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in ports)
    with open(TEMPLATE) as f:
        template = f.read()
    return render_template(
        template,
        STATE_DIR=state_dir,
        PORT=port,
        UPSTREAM_SERVERS=servers,
        ACCESS_LOG="off",
        STICKY_DIR=os.path.join(ROOT, "nginx", "sticky", "ip_hash"),
        CONN_PER_ADDRESS=BENCH_CONN_PER_ADDRESS,
    )


def start_nginx(ports, state_dir):
    os.makedirs(state_dir, exist_ok=True)
    os.chmod(state_dir, 0o755)
    port = free_port()
    return Nginx(nginx_config(ports, state_dir, port), state_dir, port=port).start()


def tree(pid):
    """pid and its descendants, as psutil processes (those still alive)."""
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_kib(pid):
    """VmRSS of one process, from /proc/<pid>/status, in KiB (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Target:
    name = "target"
    kind = "target"
    instance_prefix = "api"

    def __init__(self, instances):
        self.count = instances
        self.host = "127.0.0.1"
        self.extra_nginx = []

    # --- to override ---
    def start(self):
        raise NotImplementedError

    def stop(self):
        for nginx in self.extra_nginx:
            nginx.stop(remove=True)
        self.extra_nginx = []

    @property
    def port(self):
        raise NotImplementedError

    def instance_ports(self):
        raise NotImplementedError

    def worker_pid(self, index):
        """The process whose RSS is the instance's memory (1-based index)."""
        raise NotImplementedError

    def components(self):
        """{component: [pid, ...]} of the processes whose CPU is counted."""
        raise NotImplementedError

    def kill_instance(self, index):
        raise NotImplementedError

    def instance_id(self, index):
        return f"{self.instance_prefix}-{index}"

    async def make_users(self, count, prefix, concurrency=8):
        tokens = [None] * count
        queue = list(range(count))

        async def worker():
            conn = HttpConnection(self.host, self.port, timeout=30)
            try:
                while queue:
                    i = queue.pop()
                    body = await conn.json(
                        "POST",
                        "/api/auth/register",
                        {"username": f"{prefix}u{i}", "password": PASSWORD},
                    )
                    tokens[i] = body["token"]
            finally:
                conn.close()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return tokens

    async def create_room(self, name, token):
        conn = HttpConnection(self.host, self.port, timeout=30)
        try:
            return await conn.json("POST", "/api/rooms", {"name": name, "title": "bench"}, token)
        finally:
            conn.close()

    async def join_room(self, name, token, conn=None):
        own = conn is None
        conn = conn or HttpConnection(self.host, self.port, timeout=30)
        try:
            return await conn.json("POST", f"/api/rooms/{name}/members", None, token)
        finally:
            if own:
                conn.close()

    def subset_nginx(self, n):
        """(host, port) of an nginx in front of the first n instances."""
        if n == self.count:
            return self.host, self.port
        state = tempfile.mkdtemp(prefix=f"bench-nginx{n}-")
        nginx = start_nginx(self.instance_ports()[:n], state)
        self.extra_nginx.append(nginx)
        return self.host, nginx.port

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class ChatTarget(Target):
    kind = "chat"
    instance_prefix = "api"

    def __init__(self, instances, async_mode="eventlet", extra_env=None):
        super().__init__(instances)
        self.async_mode = async_mode
        self.name = f"chat-{async_mode}"
        self.extra_env = {**CHAT_BENCH_ENV, **(extra_env or {})}
        self.cluster = None

    def start(self):
        log(f"starting {self.name} with {self.count} instances")
        self.cluster = Cluster(
            instances=self.count,
            async_mode=self.async_mode,
            extra_env=self.extra_env,
            conn_per_address=BENCH_CONN_PER_ADDRESS,
        ).start(timeout=180)
        return self

    def stop(self):
        super().stop()
        if self.cluster is not None:
            self._keep_logs()
            self.cluster.stop()
            self.cluster = None

    def _keep_logs(self):
        """The instances' and nginx's logs of the last run, in bench/results/raw/logs-<name>/."""
        dest = os.path.join(ROOT, "bench", "results", "raw", f"logs-{self.name}")
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest, exist_ok=True)
        state = self.cluster.state_dir
        for src in (os.path.join(state, "logs"), os.path.join(state, "nginx", "error.log")):
            try:
                if os.path.isdir(src):
                    for name in os.listdir(src):
                        shutil.copy(os.path.join(src, name), dest)
                elif os.path.exists(src):
                    shutil.copy(src, os.path.join(dest, "nginx-error.log"))
            except OSError:
                pass

    @property
    def port(self):
        return self.cluster.port

    def instance_ports(self):
        return [i.port for i in self.cluster.instances]

    def worker_pid(self, index):
        master = self.cluster.instances[index - 1].pid
        kids = tree(master)[1:]
        return kids[0].pid if kids else master

    def components(self):
        c = self.cluster
        app = [p.pid for i in c.instances if i.alive() for p in tree(i.pid)]
        return {
            "app": app,
            "nginx": [p.pid for p in tree(c.nginx.pid)],
            "redis": [c.redis.pid],
            "postgres": [p.pid for p in tree(c.postgres.pid)],
        }

    def kill_instance(self, index):
        self.cluster.kill_instance(index, signal.SIGKILL)


class NodeTarget(Target):
    kind = "node"
    instance_prefix = "node"

    def __init__(self, instances, store="postgres"):
        super().__init__(instances)
        self.store = store
        self.name = "node" if store == "postgres" else f"node-{store}"
        self.secret = secrets.token_urlsafe(32)
        self.state_dir = None
        self.redis = self.nginx = self.postgres = None
        self.database_url = None
        self.procs = []
        self.ports = []

    def _migrate(self):
        """The chat's schema in a fresh database, by the chat's own migrations."""
        self.database_url = self.postgres.create_database("chat")
        env = {
            **os.environ,
            "FLASK_APP": "app:create_app",
            "APP_ENV": "production",
            "SECRET_KEY": self.secret,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url(),
        }
        flask = os.path.join(os.path.dirname(sys.executable), "flask")
        done = subprocess.run(
            [flask, "upgrade-once", "--no-seed"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise ServiceError(f"migrating the Node peer's database failed:\n{done.stderr}")

    def start(self):
        log(f"starting the Node peer ({self.store}) with {self.count} instances")
        node = shutil.which("node")
        if node is None:
            raise ServiceError("node is not installed")
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules")):
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True
            )
        self.state_dir = tempfile.mkdtemp(prefix="bench-node-")
        os.chmod(self.state_dir, 0o755)
        try:
            self.redis = Redis(os.path.join(self.state_dir, "redis")).start()
            if self.store == "postgres":
                self.postgres = Postgres(os.path.join(self.state_dir, "postgres")).start()
                self._migrate()
            for index in range(1, self.count + 1):
                self.ports.append(free_port())
                self.procs.append(self._spawn(index))
            self._wait_ready(list(range(1, self.count + 1)))
            self.nginx = start_nginx(self.ports, os.path.join(self.state_dir, "nginx"))
            return self
        except BaseException:
            self.stop()
            raise

    def _spawn(self, index):
        env = {
            **os.environ,
            "PORT": str(self.ports[index - 1]),
            "HOST": "127.0.0.1",
            "REDIS_URL": self.redis.url(),
            "INSTANCE_ID": self.instance_id(index),
            "STORE": self.store,
            "SECRET_KEY": self.secret,
            "DATABASE_URL": self.database_url or "",
        }
        log_file = open(os.path.join(self.state_dir, f"node-{index}.log"), "ab")
        proc = subprocess.Popen(
            [shutil.which("node"), "server.js"],
            cwd=NODE_DIR,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log_file.close()
        return proc

    def _wait_ready(self, indexes, timeout=30):
        import urllib.request

        deadline = time.monotonic() + timeout
        for index in indexes:
            while True:
                proc = self.procs[index - 1]
                if proc.poll() is not None:
                    raise ServiceError(f"node peer {index} exited with {proc.returncode}")
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.ports[index - 1]}/healthz", timeout=1
                    ):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise ServiceError(f"node peer {index} not ready") from None
                    time.sleep(0.1)

    def stop(self):
        super().stop()
        for proc in self.procs:
            stop_process(proc, signal.SIGTERM, timeout=5)
        self.procs = []
        for service in (self.nginx, self.redis, self.postgres):
            if service is not None:
                service.stop(remove=True)
        self.nginx = self.redis = self.postgres = None
        if self.state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    @property
    def port(self):
        return self.nginx.port

    def instance_ports(self):
        return list(self.ports)

    def worker_pid(self, index):
        return self.procs[index - 1].pid

    def components(self):
        parts = {
            "app": [p.pid for p in self.procs if p.poll() is None],
            "nginx": [p.pid for p in tree(self.nginx.pid)],
            "redis": [self.redis.pid],
        }
        if self.postgres is not None:
            parts["postgres"] = [p.pid for p in tree(self.postgres.pid)]
        return parts

    def kill_instance(self, index):
        proc = self.procs[index - 1]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def make_target(name, instances):
    if name in ("eventlet", "gevent"):
        return ChatTarget(instances, async_mode=name)
    if name == "node":
        return NodeTarget(instances)
    if name == "node-redis":
        return NodeTarget(instances, store="redis")
    raise ValueError(f"unknown target {name!r}")


def run_token():
    return secrets.token_hex(3)


def raise_fd_limit() -> int:
    """Raises this process's open-file limit to the hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
