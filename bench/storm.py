"""Reconnect storm: clients spread evenly over 4 instances in one room while a
sender (on a surviving instance) keeps sending; one instance is killed with
SIGKILL. Its quarter of the clients reconnect through nginx the way
socket.io-client does (first try after 0.5-1.5 s, then doubling up to 5 s),
join again and `sync` from the last id they saw. Reported: time from the kill
until all of them are connected again and until all are synced, and whether
any acknowledged message is missing from any client afterwards."""

import asyncio
import time

from bench import load, sio
from bench.sio import find_string_field, first_int_field, reconnect_pauses
from bench.stats import summarize


class Member:
    """One client of the storm: its socket (replaced on reconnect) and what it has seen."""

    def __init__(self, index, source, token, instance, prefix):
        self.index, self.source, self.token, self.instance = index, source, token, instance
        self.prefix = prefix
        self.client = None
        self.seen = set()  # message ids (live or synced)
        self.live = 0
        self.duplicates = 0
        self.synced_count = 0
        self.last_id = 0
        self.lost_at = self.back_at = self.synced_at = None
        self.attempts = 0

    def on_message(self, client, raw):
        cid = find_string_field(raw, b"client_id")
        if cid is None or not cid.startswith(self.prefix):
            return
        self._add(first_int_field(raw, b"id"))
        self.live += 1

    def _add(self, mid):
        if mid is None:
            return
        if mid in self.seen:
            self.duplicates += 1
        self.seen.add(mid)
        self.last_id = max(self.last_id, mid)


async def storm(
    target,
    tokens,
    mapping,
    clients=200,
    kill_index=2,
    send_rate=20.0,
    before_s=1.5,
    after_s=1.5,
    timeout=60.0,
    tag="r",
):
    if target.count < 2:
        raise ValueError("the storm needs at least two instances")
    room = f"storm-{tag}"
    prefix = f"{tag}:"
    await target.create_room(room, tokens[0])
    victim = target.instance_id(kill_index)
    placement = load.balanced(mapping, clients)
    members = [
        Member(i, source, tokens[i % len(tokens)], instance, prefix.encode())
        for i, (instance, source) in enumerate(placement)
    ]
    loop = asyncio.get_running_loop()
    recovered = asyncio.Event()
    pending = set()
    reconnect_tasks = []
    state = {"kill_at": None}

    async def open_member(m):
        m.client = await sio.connect(
            target.host,
            target.port,
            auth={"token": m.token},
            source=m.source,
            on_message=m.on_message,
            on_close=on_close,
            tag=m,
        )
        ack = await asyncio.wait_for(m.client.call("join", {"room": room}), 15)
        if not (isinstance(ack, dict) and ack.get("ok")):
            raise RuntimeError(f"join failed: {ack}")

    async def sync(m, after):
        # From the last id seen before the connection dropped: messages that
        # arrive live after the new join must not move the starting point.
        while True:
            ack = await asyncio.wait_for(m.client.call("sync", {"room": room, "after": after}), 15)
            if not (isinstance(ack, dict) and ack.get("ok")):
                raise RuntimeError(f"sync failed: {ack}")
            for message in ack["messages"]:
                after = max(after, message["id"])
                if str(message.get("client_id") or "").startswith(prefix):
                    m._add(message["id"])
                    m.synced_count += 1
            if not ack.get("has_more"):
                return

    async def reconnect(m):
        after = m.last_id
        for pause in reconnect_pauses():
            await asyncio.sleep(pause)
            m.attempts += 1
            try:
                await open_member(m)
                m.back_at = time.monotonic()
                await sync(m, after)
                m.synced_at = time.monotonic()
                break
            except Exception:
                if m.client is not None:
                    m.client.close()
        pending.discard(m.index)
        if not pending:
            recovered.set()

    def on_close(client):
        m = client.tag
        if state["kill_at"] is None or m.client is not client or m.lost_at is not None:
            return
        m.lost_at = time.monotonic()
        pending.add(m.index)
        reconnect_tasks.append(loop.create_task(reconnect(m)))

    results = await load.gather_limited([lambda m=m: open_member(m) for m in members], 64)
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        for m in members:
            if m.client:
                m.client.close()
        raise RuntimeError(f"storm: {len(failed)} clients could not connect: {failed[0]!r}")

    # The sender sits on a surviving instance and retries (same client_id) until acked.
    survivors = [i for i in mapping if i != victim]
    sender_source = mapping[survivors[0]][0]
    sender = await sio.connect(
        target.host, target.port, auth={"token": tokens[0]}, source=sender_source
    )
    await sender.call("join", {"room": room})
    acked = {}
    send_errors = []
    sending = [True]

    async def send_loop():
        seq = 0
        while sending[0]:
            seq += 1
            cid = f"{prefix}{seq}"
            for _ in range(5):
                try:
                    ack = await asyncio.wait_for(
                        sender.call(
                            "send", {"room": room, "body": f"storm {seq}", "client_id": cid}
                        ),
                        10,
                    )
                    if isinstance(ack, dict) and ack.get("ok"):
                        acked[cid] = ack["message"]["id"]
                        break
                    send_errors.append(str(ack)[:200])
                except Exception as exc:
                    send_errors.append(repr(exc)[:200])
            await asyncio.sleep(1.0 / send_rate)

    sender_task = loop.create_task(send_loop())
    await asyncio.sleep(before_s)
    victims = [m for m in members if m.instance == victim]
    meter = load.ComponentMeter(target)
    state["kill_at"] = kill_at = time.monotonic()
    target.kill_instance(kill_index)
    try:
        await asyncio.wait_for(recovered.wait(), timeout)
        complete = True
    except TimeoutError:
        complete = False
    cpu = meter.read()
    await asyncio.sleep(after_s)
    sending[0] = False
    await sender_task
    await asyncio.sleep(1.0)  # the last broadcasts
    for t in reconnect_tasks:
        t.cancel()
    # Every acknowledged message must be with every client, live or synced.
    want = set(acked.values())
    lost = sum(len(want - m.seen) for m in members)
    lost_clients = sum(1 for m in members if want - m.seen)
    missing_by_instance = {}
    missing_sample = []
    for m in members:
        gap = want - m.seen
        if gap:
            missing_by_instance[m.instance] = missing_by_instance.get(m.instance, 0) + 1
            if len(missing_sample) < 3:
                missing_sample.append(
                    {
                        "client": m.index,
                        "instance": m.instance,
                        "victim": m.instance == victim,
                        "missing": sorted(gap)[:10],
                        "last_id": m.last_id,
                        "live": m.live,
                        "synced": m.synced_count,
                    }
                )
    sender.close()
    for m in members:
        if m.client:
            m.client.close()

    def since_kill(values):
        return [v - kill_at for v in values if v is not None]

    back = since_kill(m.back_at for m in victims)
    synced = since_kill(m.synced_at for m in victims)
    dropped = since_kill(m.lost_at for m in victims)
    return {
        "clients": clients,
        "instances": target.count,
        "killed": victim,
        "victims": len(victims),
        "victims_disconnected": len(dropped),
        "complete": complete,
        "disconnect_detected_s": summarize(dropped, digits=3),
        "reconnected_s": summarize(back, digits=3),
        "synced_s": summarize(synced, digits=3),
        "all_back_s": round(max(back), 3) if back and complete else None,
        "all_synced_s": round(max(synced), 3) if synced and complete else None,
        "attempts": summarize([m.attempts for m in victims], digits=1),
        "messages_acked": len(want),
        "recovered_by_sync": sum(m.synced_count for m in victims),
        "duplicates_dropped": sum(m.duplicates for m in members),
        "lost": lost,
        "clients_missing_messages": lost_clients,
        "missing_by_instance": missing_by_instance,
        "missing_sample": missing_sample,
        "send_errors": len(send_errors),
        "send_error_sample": send_errors[:3],
        "cpu_cores": cpu,
    }
