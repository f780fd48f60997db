"""Who is online, across every instance.

With Redis, each instance keeps its sockets under its own id and refreshes an
"alive" key with a short expiry; a user is online while any socket of theirs
lives on an instance whose alive key exists. An instance that dies without
cleaning up stops counting when its key expires, and the next sweep by any
live instance removes its sockets and announces who went offline.
Without Redis (embedded mode) the same interface is kept in memory.

Every key shares the hash tag {presence}, so that on a Redis Cluster they all
live in one slot and the multi-key commands and transactions below work
unchanged (presence is a few commands per connect and per heartbeat: one
shard carries it easily).

Also here: the `presence` events that tell a user's rooms they came online or
went offline, and the heartbeat that keeps this instance alive and sweeps dead
ones (started once per process by app/realtime/lifecycle.py).
"""

import logging
import secrets
import threading
from collections.abc import Collection
from typing import Any, cast

from flask import Flask, current_app

from app import chat
from app.extensions import db
from app.library_hooks import HotPathCommands, redis_client
from app.models import User
from app.realtime import room_channel
from app.realtime.server import socketio
from app.schemas import author_schema

log = logging.getLogger(__name__)


class MemoryPresence:
    def __init__(self):
        self._sids = {}  # user_id -> set of sids
        self._lock = threading.Lock()

    def connect(self, sid: str, user_id: int) -> bool:
        with self._lock:
            sids = self._sids.setdefault(user_id, set())
            was_online = bool(sids)
            sids.add(sid)
        return not was_online

    def disconnect(self, sid: str, user_id: int) -> bool:
        with self._lock:
            sids = self._sids.get(user_id, set())
            sids.discard(sid)
            if not sids:
                self._sids.pop(user_id, None)
                return True
        return False

    def online_user_ids(self, user_ids: Collection[int]) -> set[int]:
        return {uid for uid in user_ids if self._sids.get(uid)}

    def sids_of(self, user_id: int) -> list[str]:
        return list(self._sids.get(user_id, ()))

    def heartbeat(self) -> list[int]:
        return []

    def forget_instance(self) -> None:
        with self._lock:
            self._sids.clear()


# The Lua below keeps the rules of _alive_instances() and _live_sids(): a socket
# counts while its instance is in the instances set and its alive key exists.
# KEYS[1] is the user's key, so that a Redis Cluster client routes the call to
# the node of the {presence} hash tag; the other keys, built in the script,
# share that tag and so that slot. ARGV: prefix, instance, sid, user id[, ttl].
_ONLINE_LUA = """
local function online(p, user_key, also_alive)
  for _, member in ipairs(redis.call('SMEMBERS', user_key)) do
    local instance = string.match(member, '^(.-)|')
    if instance == also_alive or (
        redis.call('SISMEMBER', p .. ':instances', instance) == 1
        and redis.call('EXISTS', p .. ':alive:' .. instance) == 1) then
      return true
    end
  end
  return false
end
"""

# Marks this instance alive and adds the socket; 1 if the user was offline before.
CONNECT_SCRIPT = (
    _ONLINE_LUA
    + """
local p, instance, sid, uid, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local user_key = p .. ':user:' .. uid
local was_online = online(p, user_key, instance)
redis.call('SET', p .. ':alive:' .. instance, '1', 'EX', ttl)
redis.call('SADD', p .. ':instances', instance)
redis.call('SADD', user_key, instance .. '|' .. sid)
redis.call('HSET', p .. ':sids:' .. instance, sid, uid)
if was_online then return 0 end
return 1
"""
)

# Removes the socket; 1 if the user has no live socket left.
DISCONNECT_SCRIPT = (
    _ONLINE_LUA
    + """
local p, instance, sid, uid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local user_key = p .. ':user:' .. uid
redis.call('SREM', user_key, instance .. '|' .. sid)
redis.call('HDEL', p .. ':sids:' .. instance, sid)
if online(p, user_key, nil) then return 0 end
return 1
"""
)


class RedisPresence:
    PREFIX = "{presence}"

    def __init__(self, url: str, instance_id: str, ttl: int) -> None:
        self.redis = redis_client(
            url,
            socket_timeout=5,
            socket_connect_timeout=3,
            health_check_interval=15,
            decode_responses=True,
        )
        # Sockets are kept under this process's incarnation of the instance, not the
        # bare id: an instance restarted after a crash (same id) must not revive the
        # dead process's sockets. Those stay under the old incarnation, whose alive
        # key expires, and a sweep removes them and announces who went offline.
        self.instance = f"{instance_id}#{secrets.token_hex(4)}"
        self.ttl = ttl
        # This process's own sockets (sid -> user id), so that the heartbeat can
        # write them back if Redis lost them (restarted without persistence, or
        # down when they connected).
        self.local: dict[str, int] = {}
        # A connect and a disconnect are one round trip each (EVALSHA; redis-py
        # loads the script again after a Redis restart).
        self._connect = self.redis.register_script(CONNECT_SCRIPT)
        self._disconnect = self.redis.register_script(DISCONNECT_SCRIPT)
        self.commands = HotPathCommands(self.redis)

    def _key(self, *parts):
        return ":".join((self.PREFIX, *map(str, parts)))

    def _alive_instances(self):
        instances = sorted(self.redis.smembers(self._key("instances")))
        if not instances:
            return set()
        alive = self.redis.mget([self._key("alive", i) for i in instances])
        return {i for i, flag in zip(instances, alive) if flag}

    def _live_sids(self, members, alive):
        return [m.split("|", 1)[1] for m in members if m.split("|", 1)[0] in alive]

    def _user_members(self, user_ids):
        pipe = self.redis.pipeline(transaction=False)
        for uid in user_ids:
            pipe.smembers(self._key("user", uid))
        return dict(zip(user_ids, pipe.execute()))

    def _mark_alive(self, pipe):
        pipe.set(self._key("alive", self.instance), "1", ex=self.ttl)
        pipe.sadd(self._key("instances"), self.instance)

    def connect(self, sid: str, user_id: int) -> bool:
        self.local[sid] = user_id
        return bool(
            self.commands.run_script(
                self._connect,
                [self._key("user", user_id)],
                [self.PREFIX, self.instance, sid, user_id, self.ttl],
            )
        )

    def disconnect(self, sid: str, user_id: int) -> bool:
        self.local.pop(sid, None)
        return bool(
            self.commands.run_script(
                self._disconnect,
                [self._key("user", user_id)],
                [self.PREFIX, self.instance, sid, user_id],
            )
        )

    def online_user_ids(self, user_ids: Collection[int]) -> set[int]:
        user_ids = list(user_ids)
        if not user_ids:
            return set()
        alive = self._alive_instances()
        members = self._user_members(user_ids)
        return {uid for uid in user_ids if self._live_sids(members[uid], alive)}

    def sids_of(self, user_id: int) -> list[str]:
        alive = self._alive_instances()
        return self._live_sids(self._user_members([user_id])[user_id], alive)

    def heartbeat(self) -> list[int]:
        """Refresh this instance, sweep dead ones; returns user ids now offline."""
        pipe = self.redis.pipeline()
        self._mark_alive(pipe)
        pipe.hlen(self._key("sids", self.instance))
        if pipe.execute()[-1] != len(self.local):
            self._restore_local()
        alive = self._alive_instances()
        gone = []
        for instance in cast(set[str], self.redis.smembers(self._key("instances"))):
            if instance in alive:
                continue
            # One sweeper per dead instance.
            if not self.redis.set(
                self._key("sweep", instance), self.instance, nx=True, ex=self.ttl
            ):
                continue
            sockets = cast(dict[str, str], self.redis.hgetall(self._key("sids", instance)))
            pipe = self.redis.pipeline()
            for sid, uid in sockets.items():
                pipe.srem(self._key("user", uid), f"{instance}|{sid}")
            pipe.delete(self._key("sids", instance))
            pipe.srem(self._key("instances"), instance)
            pipe.execute()
            log.info("presence: swept %d sockets of dead instance %s", len(sockets), instance)
            users = {int(uid) for uid in sockets.values()}
            gone.extend(sorted(users - self.online_user_ids(users)))
        return gone

    def _restore_local(self):
        """Writes this instance's sockets to Redis again, from self.local."""
        local = dict(self.local)
        pipe = self.redis.pipeline()
        pipe.delete(self._key("sids", self.instance))
        for sid, uid in local.items():
            pipe.sadd(self._key("user", uid), f"{self.instance}|{sid}")
            pipe.hset(self._key("sids", self.instance), sid, uid)
        pipe.execute()
        # A socket that closed meanwhile must not be left behind as online.
        closed = {sid: uid for sid, uid in local.items() if sid not in self.local}
        if closed:
            pipe = self.redis.pipeline()
            for sid, uid in closed.items():
                pipe.srem(self._key("user", uid), f"{self.instance}|{sid}")
                pipe.hdel(self._key("sids", self.instance), sid)
            pipe.execute()
        log.info(
            "presence: wrote %d sockets of this instance back to Redis", len(local) - len(closed)
        )

    def forget_instance(self) -> None:
        """On a clean shutdown: drop this instance's sockets at once."""
        self.local.clear()
        sockets = cast(dict[str, str], self.redis.hgetall(self._key("sids", self.instance)))
        pipe = self.redis.pipeline()
        for sid, uid in sockets.items():
            pipe.srem(self._key("user", uid), f"{self.instance}|{sid}")
        pipe.delete(self._key("sids", self.instance), self._key("alive", self.instance))
        pipe.srem(self._key("instances"), self.instance)
        pipe.execute()

    def ping(self) -> Any:
        return self.redis.ping()


class Presence:
    """Proxy bound to the backend chosen by create_app()."""

    def __init__(self):
        self.backend = MemoryPresence()

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL")
        if url:
            self.backend = RedisPresence(
                url, app.config["INSTANCE_ID"], app.config["PRESENCE_TTL_SECONDS"]
            )
        else:
            self.backend = MemoryPresence()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


presence = Presence()


def announce(user: User, online: bool) -> None:
    """Tells every room the user is in that they came online or went offline,
    but for rooms of more than PRESENCE_MAX_ROOM_MEMBERS members (their members
    read who is online from the member list)."""
    most = current_app.config["PRESENCE_MAX_ROOM_MEMBERS"]
    for name in chat.small_room_names_of(user.id, most):
        socketio.emit(
            "presence",
            {"room": name, "user": author_schema.dump(user), "online": online},
            to=room_channel(name),
        )


def heartbeat_loop(app: Flask) -> None:
    """Every third of the expiry: refresh this instance, sweep dead ones, and
    announce the users who went offline with them."""
    interval = max(1, app.config["PRESENCE_TTL_SECONDS"] / 3)
    while True:
        socketio.sleep(interval)
        try:
            with app.app_context():
                for user_id in presence.heartbeat():
                    user = db.session.get(User, user_id)
                    if user is not None:
                        announce(user, False)
        except Exception:
            log.exception("presence heartbeat failed; retrying")
