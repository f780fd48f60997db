"""Private PostgreSQL, Redis and nginx servers on loopback, for tests and the local cluster.

Each server gets its own directory and a free port, runs in the foreground as
a child process, and is stopped (and its directory removed if temporary) by
stop(). PostgreSQL refuses to run as root, so as root it runs as `postgres`.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class ServiceError(RuntimeError):
    pass


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(port, host="127.0.0.1", timeout=30.0, proc=None, what="server", log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{what} exited with {proc.returncode}" + _tail(log))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ServiceError(f"{what} did not listen on {host}:{port} within {timeout}s" + _tail(log))


def _tail(path, lines=20):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return "\n--- " + path + " ---\n" + "".join(f.readlines()[-lines:])


def _find_binary(name, patterns=()):
    found = shutil.which(name)
    if found:
        return found
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    raise ServiceError(f"{name} not found; run `make system-deps` (as root) to install it")


def stop_process(proc, sig=signal.SIGTERM, timeout=15.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


class Service:
    name = "service"

    def __init__(self, base_dir=None, port=None):
        self._own_dir = base_dir is None
        self.dir = base_dir or tempfile.mkdtemp(prefix=f"chat-{self.name}-")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.proc = None
        self.log_path = os.path.join(self.dir, f"{self.name}.log")

    def _spawn(self, argv, user=None, env=None):
        log = open(self.log_path, "ab")
        if user and os.geteuid() == 0:
            argv = ["runuser", "-u", user, "--", *argv]
        self.proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        log.close()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self, remove=None):
        stop_process(self.proc)
        self.proc = None
        if remove if remove is not None else self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()  # a server that did not come up must not outlive the error
            raise

    def __exit__(self, *exc):
        self.stop()


class Postgres(Service):
    name = "postgres"
    user = "postgres"

    def __init__(self, base_dir=None, port=None):
        super().__init__(base_dir, port)
        # Debian keeps the server binaries in /usr/lib/postgresql/<version>/bin.
        self.bin = os.path.dirname(
            os.path.realpath(_find_binary("initdb", ["/usr/lib/postgresql/*/bin/initdb"]))
        )
        self.data = os.path.join(self.dir, "data")
        self.sockets = os.path.join(self.dir, "sock")

    def _run_as(self, argv):
        if os.geteuid() == 0:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise ServiceError(
                f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done

    def start(self):
        if os.geteuid() == 0:
            shutil.chown(self.dir, self.user)
            os.chmod(self.dir, 0o755)
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._run_as(
                [
                    os.path.join(self.bin, "initdb"),
                    "-D",
                    self.data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "-N",
                ]
            )
        os.makedirs(self.sockets, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.sockets, self.user)
            if os.path.exists(self.log_path):
                shutil.chown(self.log_path, self.user)
        self._spawn(
            [
                os.path.join(self.bin, "postgres"),
                "-D",
                self.data,
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                self.sockets,
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            user=self.user,
        )
        wait_for_port(self.port, proc=self.proc, what="PostgreSQL", log=self.log_path)
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [os.path.join(self.bin, "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise ServiceError("PostgreSQL is not accepting connections" + _tail(self.log_path))
            time.sleep(0.2)

    def psql(self, sql, dbname="postgres"):
        return self._run_as(
            [
                os.path.join(self.bin, "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ]
        ).stdout

    def create_database(self, name):
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name):
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, dbname="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def stop(self, remove=None):
        # SIGINT is PostgreSQL's fast shutdown.
        stop_process(self.proc, signal.SIGINT)
        self.proc = None
        if remove if remove is not None else self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class Redis(Service):
    name = "redis"
    extra_args: tuple = ()  # more redis-server options (a replica's --replicaof)

    def start(self):
        self._spawn(
            [
                _find_binary("redis-server", ["/usr/bin/redis-server"]),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--protected-mode",
                "yes",
                *self.extra_args,
            ]
        )
        wait_for_port(self.port, proc=self.proc, what="Redis", log=self.log_path)
        return self

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"


class Nginx(Service):
    """nginx with a config file the caller renders (it must use self.dir for its paths)."""

    name = "nginx"

    def __init__(self, config_text, base_dir=None, port=None):
        super().__init__(base_dir, port)
        self.config_path = os.path.join(self.dir, "nginx.conf")
        with open(self.config_path, "w") as f:
            f.write(config_text)

    def binary(self):
        return _find_binary("nginx", ["/usr/sbin/nginx"])

    def test_config(self):
        return subprocess.run(
            [
                self.binary(),
                "-t",
                "-c",
                self.config_path,
                "-p",
                self.dir,
                "-e",
                os.path.join(self.dir, "error.log"),
            ],
            capture_output=True,
            text=True,
        )

    def start(self):
        self._spawn(
            [
                self.binary(),
                "-c",
                self.config_path,
                "-p",
                self.dir,
                "-e",
                os.path.join(self.dir, "error.log"),
                "-g",
                "daemon off;",
            ]
        )
        wait_for_port(
            self.port, proc=self.proc, what="nginx", log=os.path.join(self.dir, "error.log")
        )
        return self

    def url(self):
        return f"http://127.0.0.1:{self.port}"


class RedisCluster:
    """A Redis Cluster of `masters` redis-server processes in cluster mode (no
    replicas), each on its own free port with its own bus port, joined with
    `redis-cli --cluster create`. Each node keeps its nodes.conf in its own
    directory, so a node stopped with stop_node() and started again with
    start_node() rejoins the cluster with the same slots (its data is gone:
    like the single Redis, nothing is persisted)."""

    name = "redis-cluster"

    def __init__(self, base_dir=None, masters=3):
        self._own_dir = base_dir is None
        self.dir = base_dir or tempfile.mkdtemp(prefix=f"chat-{self.name}-")
        os.makedirs(self.dir, exist_ok=True)
        self.nodes = [_ClusterNode(os.path.join(self.dir, f"node-{i}")) for i in range(masters)]

    @property
    def port(self):
        return self.nodes[0].port

    @property
    def pids(self):
        return [node.pid for node in self.nodes]

    def start(self):
        for node in self.nodes:
            node.start()
        # Nodes restarted from their nodes.conf already have every slot: they only
        # need to find each other again.
        if "cluster_slots_assigned:16384" not in self.nodes[0].cli("CLUSTER", "INFO"):
            created = subprocess.run(
                [
                    _find_binary("redis-cli", ["/usr/bin/redis-cli"]),
                    "--cluster",
                    "create",
                    *[f"127.0.0.1:{node.port}" for node in self.nodes],
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if created.returncode != 0:
                raise ServiceError(
                    f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}"
                )
        self.wait_ok()
        return self

    def wait_ok(self, timeout=30.0):
        """Until every node says cluster_state:ok and knows every other node."""
        deadline = time.monotonic() + timeout
        while not all(self._state_ok(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise ServiceError(
                    "Redis Cluster did not reach cluster_state:ok"
                    + "".join(_tail(n.log_path) for n in self.nodes)
                )
            time.sleep(0.2)

    def _state_ok(self, node):
        info = node.cli("CLUSTER", "INFO", check=False)
        return "cluster_state:ok" in info and f"cluster_known_nodes:{len(self.nodes)}" in info

    def stop_node(self, index):
        self.nodes[index].stop(remove=False)

    def start_node(self, index):
        self.nodes[index].start()
        self.wait_ok()

    def stop(self, remove=None):
        for node in self.nodes:
            node.stop(remove=False)
        if remove if remove is not None else self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self):
        """The REDIS_URL for the app: every node as a startup node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class RedisSentinel:
    """Redis watched by Sentinel: a primary, a replica of it and three sentinels
    (`redis-server --sentinel`, quorum 2), each a process on its own loopback
    port. The sentinels call a primary down after DOWN_AFTER_MS without an
    answer and promote the replica; url() is the app's redis+sentinel:// URL
    (app/library_hooks/redis_urls.py). Nothing is persisted, as with the single Redis."""

    name = "redis-sentinel"
    SERVICE = "chat"
    DOWN_AFTER_MS = 1000
    FAILOVER_TIMEOUT_MS = 5000

    def __init__(self, base_dir=None, sentinels=3):
        self._own_dir = base_dir is None
        self.dir = base_dir or tempfile.mkdtemp(prefix=f"chat-{self.name}-")
        os.makedirs(self.dir, exist_ok=True)
        self.servers = [Redis(os.path.join(self.dir, f"server-{i}")) for i in range(2)]
        self.servers[1].extra_args = ("--replicaof", "127.0.0.1", str(self.servers[0].port))
        self.sentinels = [
            _Sentinel(os.path.join(self.dir, f"sentinel-{i}")) for i in range(sentinels)
        ]

    @property
    def port(self):
        return self.sentinels[0].port

    @property
    def pids(self):
        return [p.pid for p in (*self.servers, *self.sentinels) if p.pid]

    def start(self):
        for server in self.servers:
            server.start()
        self._wait(
            lambda: "master_link_status:up" in _cli(self.servers[1].port, "INFO", "replication"),
            "the replica did not sync with the primary",
        )
        for sentinel in self.sentinels:
            sentinel.start(
                self.SERVICE, self.servers[0].port, self.DOWN_AFTER_MS, self.FAILOVER_TIMEOUT_MS
            )
        self.wait_ok()
        return self

    def wait_ok(self, timeout=30.0):
        """Until every sentinel knows the primary, a replica and the other sentinels."""

        def ok(sentinel):
            fields = _cli(sentinel.port, "SENTINEL", "MASTER", self.SERVICE).split()
            info = dict(zip(fields[::2], fields[1::2]))
            return (
                info.get("flags") == "master"
                and int(info.get("num-slaves", 0)) >= 1
                and int(info.get("num-other-sentinels", 0)) >= len(self.sentinels) - 1
            )

        self._wait(
            lambda: all(ok(s) for s in self.sentinels),
            "the sentinels did not all agree on the primary",
            timeout,
        )

    def _wait(self, condition, what, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (subprocess.SubprocessError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ServiceError(
                    what + "".join(_tail(p.log_path) for p in (*self.servers, *self.sentinels))
                )
            time.sleep(0.2)

    def primary(self):
        """The server the sentinels name as primary now."""
        for sentinel in self.sentinels:
            try:
                host_port = _cli(
                    sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE
                ).split()
            except subprocess.SubprocessError:
                continue
            if len(host_port) == 2:
                return next((s for s in self.servers if s.port == int(host_port[1])), None)
        return None

    def kill_primary(self):
        """SIGKILLs the primary (the sentinels then promote the replica); returns it."""
        primary = self.primary()
        os.killpg(primary.proc.pid, signal.SIGKILL)
        primary.proc.wait(10)
        return primary

    def stop(self, remove=None):
        for process in (*self.sentinels, *self.servers):
            process.stop(remove=False)
        if remove if remove is not None else self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self):
        """The REDIS_URL for the app: every sentinel, and the service's name."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.SERVICE}"

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class _Sentinel(Service):
    name = "sentinel"

    def start(self, service=None, primary_port=None, down_after_ms=1000, failover_ms=5000):
        config = os.path.join(self.dir, "sentinel.conf")
        if service is not None or not os.path.exists(config):
            # Sentinel rewrites its file as it learns (replicas, other sentinels,
            # a failover): written once, kept across a restart.
            with open(config, "w") as f:
                f.write(
                    f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                    f"sentinel monitor {service} 127.0.0.1 {primary_port} 2\n"
                    f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
                    f"sentinel failover-timeout {service} {failover_ms}\n"
                    f"sentinel parallel-syncs {service} 1\n"
                )
        self._spawn([_find_binary("redis-server", ["/usr/bin/redis-server"]), config, "--sentinel"])
        wait_for_port(self.port, proc=self.proc, what="Redis Sentinel", log=self.log_path)
        return self


def _cli(port, *args):
    return subprocess.run(
        [
            _find_binary("redis-cli", ["/usr/bin/redis-cli"]),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout


class _ClusterNode(Redis):
    name = "redis-node"

    def __init__(self, base_dir):
        super().__init__(base_dir)
        self.bus_port = free_port()

    def start(self):
        self._spawn(
            [
                _find_binary("redis-server", ["/usr/bin/redis-server"]),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--protected-mode",
                "yes",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                str(self.bus_port),
                "--cluster-node-timeout",
                "3000",
            ]
        )
        wait_for_port(self.port, proc=self.proc, what="Redis Cluster node", log=self.log_path)
        return self

    def cli(self, *args, check=True):
        done = subprocess.run(
            [
                _find_binary("redis-cli", ["/usr/bin/redis-cli"]),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if check and done.returncode != 0:
            raise ServiceError(f"redis-cli {' '.join(args)} failed: {done.stderr}")
        return done.stdout
