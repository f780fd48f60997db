"""The sharded queue notices a hung Redis on its own (app/library_hooks/redis_queue.py,
_Shard.watch), under each worker class: a real Redis is stopped (SIGSTOP, so its
connections stay open and nothing answers) and the manager must turn not live
within a PING's interval and timeout, then live again once Redis answers. And
it does not take a listener that is behind for a hung Redis: a listener held
longer than the timeout by a message it handles keeps its connection.

Each run is a fresh interpreter patched for eventlet or gevent that opens no
other socket meanwhile: with nothing else going on, a listener that is only
woken by some later socket reusing its descriptor's number (what closing its
connection from the watcher did under eventlet) is never woken, as in
tests/integration/test_scaleout.py's hung-Redis test when it failed in CI."""

import json
import os
import select
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Both probes start so: patched for the worker class in argv[1], a manager on
# the Redis in argv[2] with a PING every 0.5 s and a 1 s timeout, and
# wait_for(live, timeout) to wait until it is live or not.
START = r"""
import sys
worker = sys.argv[1]
if worker == "eventlet":
    import eventlet; eventlet.monkey_patch()
else:
    from gevent import monkey; monkey.patch_all()
import json, time
import socketio
import app.library_hooks.redis_queue as sq
sq.HEALTH_INTERVAL, sq.HEALTH_TIMEOUT = 0.5, 1.0
manager = sq.ShardedRedisManager(sys.argv[2], channel="probe")
server = socketio.Server(client_manager=manager, async_mode=worker)
manager.initialize()   # as the server does at its first connection
server.manager_initialized = True
def wait_for(live, timeout):
    deadline = time.monotonic() + timeout
    while manager.live is not live and time.monotonic() < deadline:
        time.sleep(0.05)
    return manager.live is live
"""

# Prints one JSON line per change of `live`, with the seconds since the start;
# reads "stopped" and "continued" on stdin to know when to look.
PROBE = (
    START
    + r"""
started = time.monotonic()
def say(**fields):
    print(json.dumps({"t": round(time.monotonic() - started, 2), **fields}), flush=True)
say(up=wait_for(True, 10))
sys.stdin.readline()               # Redis is stopped now
t0 = time.monotonic()
say(noticed=wait_for(False, 8), after=round(time.monotonic() - t0, 2))
sys.stdin.readline()               # Redis answers again
t0 = time.monotonic()
say(back=wait_for(True, 10), after=round(time.monotonic() - t0, 2))
"""
)


def heard(probe, timeout=20):
    """The probe's next line, as JSON ({} if it says nothing in time)."""
    ready, _, _ = select.select([probe.stdout], [], [], timeout)
    return json.loads(probe.stdout.readline() or "{}") if ready else {}


def start(script, worker, redis_server, *args):
    return subprocess.Popen(
        [sys.executable, "-c", script, worker, redis_server.url(), *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tell(probe, what):
    probe.stdin.write(what + "\n")
    probe.stdin.flush()


@pytest.mark.parametrize("worker", ["eventlet", "gevent"])
def test_a_hung_redis_is_noticed_with_nothing_else_going_on(redis_server, worker):
    probe = start(PROBE, worker, redis_server)
    try:
        up = heard(probe)
        assert up.get("up") is True, up
        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        try:
            tell(probe, "stopped")
            noticed = heard(probe)
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        # One PING interval and one timeout (1.5 s here); the probe waits 8 s.
        assert noticed.get("noticed") is True, noticed
        tell(probe, "continued")
        back = heard(probe)
        assert back.get("back") is True, back
    finally:
        probe.kill()
        _, errors = probe.communicate()
        print(errors)  # the probe's log, shown with a failure


# The listener is held for HELD seconds after one broadcast (a green sleep:
# the watcher runs meanwhile and PINGs), either while it handles that
# broadcast (argv[3] "handling") or before its next read ("reading": bytes wait
# unread on its socket, as for a listener not scheduled); prints whether the
# manager stayed live and on its first connection throughout.
BEHIND = (
    START
    + r"""
HELD = 4.0
wait_for(True, 10)
shard = next(iter(manager._shards.values()))
first = shard.conn
handled = []
if sys.argv[3] == "handling":
    real = manager.on_queue_message
    def held(payload):
        time.sleep(HELD)
        real(payload)
        handled.append(time.monotonic())
    manager.on_queue_message = held
else:
    real_read = first.read_response
    calls = []
    def late(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the read after the broadcast's
            time.sleep(HELD)
            handled.append(time.monotonic())
        return real_read(*args, **kwargs)
    first.read_response = late
manager.emit("held", {}, namespace="/")
started = time.monotonic()
always_live = True
while not handled and time.monotonic() < started + HELD + 5:
    always_live = always_live and manager.live is True and shard.conn is first
    time.sleep(0.05)
time.sleep(2 * sq.HEALTH_TIMEOUT)  # and a PING or two after it
print(json.dumps({
    "handled_after": round(handled[0] - started, 2) if handled else None,
    "always_live": always_live and manager.live is True and shard.conn is first,
}), flush=True)
"""
)


@pytest.mark.parametrize("held", ["handling", "reading"])
@pytest.mark.parametrize("worker", ["eventlet", "gevent"])
def test_a_listener_behind_is_not_taken_for_a_hung_redis(redis_server, worker, held):
    probe = start(BEHIND, worker, redis_server, held)
    try:
        seen = heard(probe)
    finally:
        probe.kill()
        _, errors = probe.communicate()
        print(errors)
    # Held 4 s, four times the PING timeout: the PINGs' replies waited unread.
    assert seen.get("handled_after", 0) >= 4.0, seen
    assert seen.get("always_live") is True, seen
    assert "did not answer a PING" not in errors, errors
