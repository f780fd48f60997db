"""One load-generator process of the capacity bench (bench/capacity.py starts several).

    python -m bench.capacity_worker     # reads its config, then commands, from stdin

The first line on stdin is its config (JSON): the address of nginx, the token
secret, and its clients, each `[user id, source address, instance id, [rooms]]`.
Every later line is a command; each gets one JSON line back on stdout. The
clients are bench/sio.py's (one asyncio.Protocol each, no task per client):
every client binds its socket to its own loopback source address, so that
nginx's ip_hash spreads them, and the whole process stays well under the
open-file limit.

Message `client_id`s are `<phase>:<worker>:<seq>:<send time in µs>`: a receiver
finds the phase, the send time (for the latency, wall clock: all processes run
on one machine) and counts each message, without parsing the JSON.
"""

import asyncio
import json
import os
import random
import resource
import secrets
import sys
import time
from typing import Any

from bench import sio
from bench.sio import find_string_field, first_int_field, reconnect_pauses

TOKEN_SALT = "auth-token"  # app/auth.py's serializer salt
# A client of the hold whose connect is refused or times out tries again, as a
# returning crowd's clients would; after this many tries in all it is counted failed.
CONNECT_TRIES = 5


def make_token(serializer: Any, user_id: int) -> str:
    """A token as app/auth.py's issue_token makes it (generation 0)."""
    return serializer.dumps({"uid": user_id, "gen": 0, "jti": secrets.token_urlsafe(16)})


def parse_cid(cid: bytes) -> tuple[bytes, int] | None:
    """(phase, send time in µs) of a bench client_id, or None if it is not one."""
    parts = cid.split(b":")
    if len(parts) != 4 or not parts[3].isdigit():
        return None
    return parts[0], int(parts[3])


class Client(sio.SioClient):
    """A SioClient that counts events other than `message` without parsing them."""

    def _packet(self, payload: bytes) -> None:
        if payload.startswith(b'42["') and not payload.startswith(b'42["message",'):
            end = payload.find(b'"', 4)
            name = payload[4:end].decode("latin-1")
            owner = self.tag
            owner.worker.events[name] = owner.worker.events.get(name, 0) + 1
            return
        super()._packet(payload)


class Member:
    """One user: its socket (replaced on reconnect), its rooms and what it has seen."""

    __slots__ = (
        "worker",
        "uid",
        "source",
        "instance",
        "rooms",
        "client",
        "joined",
        "last_id",
        "storm_seen",
        "storm_live",
        "live_dups",
        "lost_at",
        "back_at",
        "joined_at",
        "synced_at",
        "attempts",
        "victim",
    )

    def __init__(self, worker: "Worker", uid: int, source: str, instance: str, rooms: list[str]):
        self.worker, self.uid, self.source, self.instance, self.rooms = (
            worker,
            uid,
            source,
            instance,
            rooms,
        )
        self.client: Client | None = None
        self.joined = False
        self.last_id: dict[str, int] = {}
        self.storm_seen: dict[int, str] | None = None  # message id -> client_id
        self.storm_live: set[int] = set()  # ids delivered live on the current socket
        self.live_dups = 0
        self.lost_at = self.back_at = self.joined_at = self.synced_at = None
        self.attempts = 0
        self.victim = False

    def on_message(self, client: Client, raw: bytes) -> None:
        w = self.worker
        mid = first_int_field(raw, b"id")
        room = find_string_field(raw, b"room")
        if room is not None and mid is not None:
            name = room.decode()
            if mid > self.last_id.get(name, 0):
                self.last_id[name] = mid
        cid = find_string_field(raw, b"client_id")
        if cid is None:
            return
        parsed = parse_cid(cid)
        if parsed is None:
            return
        phase, sent_us = parsed
        if phase == w.phase:
            w.latencies.append(time.time() * 1e6 - sent_us)
            w.counts[cid] = w.counts.get(cid, 0) + 1
        if self.storm_seen is not None and phase == b"storm" and mid is not None:
            if mid in self.storm_live:
                self.live_dups += 1
            self.storm_live.add(mid)
            self.storm_seen[mid] = cid.decode()


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        from itsdangerous import URLSafeTimedSerializer

        self.host = config["host"]
        self.port = config["port"]
        self.index = config["worker"]
        serializer = URLSafeTimedSerializer(config["secret"], salt=TOKEN_SALT)
        self.tokens: dict[int, str] = {}
        self.serializer = serializer
        self.members = [Member(self, *c) for c in config["clients"]]
        self.events: dict[str, int] = {}
        self.phase = b""
        self.latencies: list[float] = []
        self.counts: dict[bytes, int] = {}
        self.seq = 0
        self.storm_victim: str | None = None
        self.sending = False
        self.reconnect_errors: list[str] = []
        self.connect_retries = 0
        self.tasks: set[asyncio.Task] = set()

    def token(self, uid: int) -> str:
        token = self.tokens.get(uid)
        if token is None:
            token = self.tokens[uid] = make_token(self.serializer, uid)
        return token

    # --- connecting and joining ---------------------------------------------

    async def open(self, m: Member, timeout: float = 30.0) -> None:
        m.client = await sio.connect(
            self.host,
            self.port,
            auth={"token": self.token(m.uid)},
            source=m.source,
            timeout=timeout,
            on_message=m.on_message,
            on_close=self.on_close,
            tag=m,
        )
        # SioClient's class is fixed by sio.connect; ours counts other events cheaply.
        m.client.__class__ = Client

    async def join(self, m: Member, timeout: float = 60.0) -> None:
        assert m.client is not None
        for room in m.rooms:
            ack = await asyncio.wait_for(m.client.call("join", {"room": room}), timeout)
            if not (isinstance(ack, dict) and ack.get("ok")):
                raise RuntimeError(f"join {room} refused: {str(ack)[:200]}")

    async def limited(self, members: list[Member], job: Any, concurrency: int) -> dict:
        it = iter(members)
        failed = 0
        first_error = None
        ok = 0

        async def run() -> None:
            nonlocal failed, first_error, ok
            for m in it:
                try:
                    await job(m)
                    ok += 1
                except Exception as exc:
                    failed += 1
                    if first_error is None:
                        first_error = repr(exc)[:300]

        await asyncio.gather(*(run() for _ in range(max(1, min(concurrency, len(members))))))
        return {"ok": ok, "failed": failed, "first_error": first_error}

    async def open_retrying(self, m: Member) -> None:
        """A connect that, refused or timed out, is tried again after the pauses
        socket.io-client makes, CONNECT_TRIES times in all (each retry counted)."""
        pauses = reconnect_pauses()
        for attempt in range(1, CONNECT_TRIES + 1):
            try:
                await self.open(m)
                return
            except Exception:
                if m.client is not None:
                    m.client.close()
                    m.client = None
                if attempt == CONNECT_TRIES:
                    raise
                self.connect_retries += 1
                await asyncio.sleep(next(pauses))

    async def cmd_connect(self, concurrency: int = 64) -> dict:
        todo = [m for m in self.members if m.client is None or not m.client.is_open]
        t0 = time.monotonic()
        self.connect_retries = 0
        out = await self.limited(todo, self.open_retrying, concurrency)
        out["elapsed_s"] = round(time.monotonic() - t0, 3)
        out["retries"] = self.connect_retries
        return out

    async def cmd_join(self, concurrency: int = 32) -> dict:
        todo = [m for m in self.members if m.client is not None and m.client.is_open]

        async def job(m: Member) -> None:
            await self.join(m)
            m.joined = True

        t0 = time.monotonic()
        out = await self.limited(todo, job, concurrency)
        out["elapsed_s"] = round(time.monotonic() - t0, 3)
        return out

    def cmd_stats(self) -> dict:
        rooms: dict[str, int] = {}
        per_instance: dict[str, int] = {}
        open_ = 0
        for m in self.members:
            if m.client is not None and m.client.is_open:
                open_ += 1
                per_instance[m.instance] = per_instance.get(m.instance, 0) + 1
                if m.joined:
                    for r in m.rooms:
                        rooms[r] = rooms.get(r, 0) + 1
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "clients": len(self.members),
            "open": open_,
            "per_instance": per_instance,
            "joined_per_room": rooms,
            "events": dict(self.events),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        }

    # --- measured phases ------------------------------------------------------

    def cmd_phase(self, name: str) -> dict:
        """Starts counting deliveries of messages of phase `name`."""
        self.phase = name.encode()
        self.latencies = []
        self.counts = {}
        return {"phase": name}

    def cmd_collect(self) -> dict:
        """Latencies (ms) and per-message receipt counts since the phase started."""
        out = {
            "latencies_ms": [round(v / 1000.0, 2) for v in self.latencies],
            "counts": {k.decode(): v for k, v in self.counts.items()},
        }
        self.latencies = []
        self.counts = {}
        return out

    async def send_one(self, m: Member, room: str, phase: str, acked: dict, errors: list) -> None:
        self.seq += 1
        cid = f"{phase}:{self.index}:{self.seq}:{int(time.time() * 1e6)}"
        for _ in range(5):  # the same client_id until acknowledged
            try:
                if m.client is None or not m.client.is_open:
                    raise ConnectionError("sender not connected")
                ack = await asyncio.wait_for(
                    m.client.call(
                        "send", {"room": room, "body": f"{phase} {self.seq}", "client_id": cid}
                    ),
                    10,
                )
                if isinstance(ack, dict) and ack.get("ok"):
                    acked[cid] = [room, ack["message"]["id"]]
                    return
                errors.append(str(ack)[:200])
            except Exception as exc:
                errors.append(repr(exc)[:200])
            await asyncio.sleep(0.2)

    async def cmd_send(
        self,
        phase: str,
        rate: float,
        seconds: float,
        room: str | None = None,
        kinds: list[int] | None = None,
    ) -> dict:
        """Sends `rate` messages a second for `seconds`, open loop.

        With `room`, from the first connected member of that room; otherwise
        round-robin over the members not on the storm's victim instance, each
        into its rooms number `kinds` (0: the big room, 1 and 2: the small ones)."""
        acked: dict[str, list] = {}
        errors: list[str] = []
        if rate <= 0:
            return {"acked": acked, "errors": 0, "error_sample": []}
        if room is not None:
            senders = [
                (m, room) for m in self.members if room in m.rooms and m.client and m.client.is_open
            ][:1]
        else:
            kinds = kinds or [1, 2]
            pool = [
                m
                for m in self.members
                if m.client and m.client.is_open and m.joined and m.instance != self.storm_victim
            ]
            random.Random(self.index).shuffle(pool)
            senders = [(m, m.rooms[kinds[i % len(kinds)]]) for i, m in enumerate(pool)]
        if not senders:
            return {"acked": acked, "errors": 1, "error_sample": ["no sender"]}
        interval = 1.0 / rate
        t0 = time.monotonic()
        n = 0
        pending = set()
        self.sending = True
        while self.sending:
            due = t0 + n * interval
            if due - t0 >= seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            m, r = senders[n % len(senders)]
            task = asyncio.ensure_future(self.send_one(m, r, phase, acked, errors))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        if pending:
            await asyncio.wait(pending, timeout=60)
        return {"acked": acked, "errors": len(errors), "error_sample": errors[:3], "sent": n}

    def cmd_stop_send(self) -> dict:
        self.sending = False
        return {"stopped": True}

    # --- the storm --------------------------------------------------------------

    def cmd_storm_arm(self, victim: str) -> dict:
        """From now on the clients of `victim` reconnect when their socket drops;
        every client records the storm's messages it gets."""
        self.storm_victim = victim
        n = 0
        for m in self.members:
            if m.client is not None and m.client.is_open and m.joined:
                m.storm_seen = {}
                m.storm_live = set()
                if m.instance == victim:
                    m.victim = True
                    n += 1
        return {"victims": n}

    def on_close(self, client: Client) -> None:
        m = client.tag
        if not m.victim or m.client is not client or m.lost_at is not None:
            return
        m.lost_at = time.time()
        task = asyncio.get_event_loop().create_task(self.reconnect(m))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def sync(self, m: Member, room: str, after: int) -> None:
        assert m.client is not None
        while True:
            ack = await asyncio.wait_for(m.client.call("sync", {"room": room, "after": after}), 30)
            if not (isinstance(ack, dict) and ack.get("ok")):
                raise RuntimeError(f"sync refused: {str(ack)[:200]}")
            for message in ack["messages"]:
                mid = message["id"]
                after = max(after, mid)
                cid = str(message.get("client_id") or "")
                if m.storm_seen is not None and cid.startswith("storm:"):
                    m.storm_seen[mid] = cid
            m.last_id[room] = max(m.last_id.get(room, 0), after)
            if not ack.get("has_more"):
                return

    async def reconnect(self, m: Member) -> None:
        after = {room: m.last_id.get(room, 0) for room in m.rooms}
        for pause in reconnect_pauses():
            await asyncio.sleep(pause)
            m.attempts += 1
            try:
                m.storm_live = set()
                await self.open(m)
                m.back_at = time.time()
                await self.join(m, timeout=30)
                m.joined_at = time.time()
                for room in m.rooms:
                    await self.sync(m, room, after[room])
                m.synced_at = time.time()
                return
            except Exception as exc:
                if len(self.reconnect_errors) < 5:
                    self.reconnect_errors.append(repr(exc)[:300])
                if m.client is not None:
                    m.client.close()
                m.back_at = None

    def cmd_storm_status(self) -> dict:
        victims = [m for m in self.members if m.victim]
        return {
            "victims": len(victims),
            "lost": sum(1 for m in victims if m.lost_at is not None),
            "back": sum(1 for m in victims if m.back_at is not None),
            "synced": sum(1 for m in victims if m.synced_at is not None),
        }

    def cmd_storm_result(self, acked: dict[str, list]) -> dict:
        """Every client must hold every acknowledged storm message of its rooms
        (acked: {client_id: [room, message id]}), and each once."""
        want: dict[str, set[int]] = {}
        for room, mid in acked.values():
            want.setdefault(room, set()).add(mid)
        lost = clients_missing = stored_dups = live_dups = 0
        for m in self.members:
            if m.storm_seen is None:
                continue
            missing = 0
            for room in m.rooms:
                missing += len(want.get(room, set()) - m.storm_seen.keys())
            lost += missing
            clients_missing += 1 if missing else 0
            live_dups += m.live_dups
            # A second stored copy of an acknowledged client_id: another id
            # for the same client_id than the one its sender was acknowledged.
            for mid, cid in m.storm_seen.items():
                first = acked.get(cid)
                if first is not None and first[1] != mid:
                    stored_dups += 1
        victims = [m for m in self.members if m.victim]
        return {
            "lost": lost,
            "clients_missing": clients_missing,
            "live_duplicates": live_dups,
            "stored_duplicates": stored_dups,
            "reconnect_errors": self.reconnect_errors,
            "victims": [
                [m.lost_at, m.back_at, m.synced_at, m.attempts, m.joined_at] for m in victims
            ],
        }

    def cmd_close(self) -> dict:
        for m in self.members:
            if m.client is not None:
                m.client.close()
        return {"closed": True}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    config = json.loads(await reader.readline())
    worker = Worker(config)
    out.write(json.dumps({"ready": len(worker.members), "pid": os.getpid()}) + "\n")
    out.flush()
    running: set[asyncio.Task] = set()

    async def handle(request: dict) -> None:
        rid = request.pop("id")
        name = request.pop("cmd")
        try:
            result = getattr(worker, f"cmd_{name}")(**request)
            if asyncio.iscoroutine(result):
                result = await result
        except Exception as exc:
            result = {"error": repr(exc)[:500]}
        out.write(json.dumps({"id": rid, "result": result}) + "\n")
        out.flush()

    # Commands run concurrently (a status query while a send goes on); each
    # answer carries its request's id.
    while True:
        line = await reader.readline()
        if not line:
            break
        request = json.loads(line)
        if request.get("cmd") == "close":
            await handle(request)
            await asyncio.sleep(0.5)
            break
        task = asyncio.ensure_future(handle(request))
        running.add(task)
        task.add_done_callback(running.discard)


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve())


if __name__ == "__main__":
    main()
