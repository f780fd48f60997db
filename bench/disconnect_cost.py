"""CPU per Socket.IO disconnect in one instance's client manager, by sockets held.

    python -m bench.disconnect_cost                  # 1,000, 5,000, 12,500 sockets
    python -m bench.disconnect_cost --sockets 20000 --rounds 5

Each socket is in the rooms a chat socket is in on an instance: its own (its
sid), its user's channel and three chat rooms (one of --big-room members,
two of 20). The figure is the CPU time of `manager.disconnect` for --sample
sockets (then connected again, so every disconnect sees the same manager),
per disconnect: python-socketio's Manager, which looks at every room of the
namespace for the socket's, against the app's (library_hooks.room_index),
which keeps each socket's rooms. No server, no network: the manager alone.
"""

import argparse
import statistics
import time

import socketio
from socketio.manager import Manager

from app.library_hooks.room_index import ChatManager


def filled(manager: Manager, sockets: int, big_room: int) -> list[str]:
    socketio.Server(client_manager=manager)  # the manager's server, for its ids
    sids = []
    small_rooms = max(1, sockets * 2 // 20)
    for i in range(sockets):
        sid = manager.connect(f"eio-{i}", "/")
        manager.enter_room(sid, "/", f"user:{i}")
        manager.enter_room(sid, "/", f"room:big-{i // big_room}")
        manager.enter_room(sid, "/", f"room:small-{(2 * i) % small_rooms}")
        manager.enter_room(sid, "/", f"room:small-{(2 * i + 1) % small_rooms}")
        sids.append(sid)
    return sids


def per_disconnect_us(manager: Manager, sids: list[str], sample: int) -> float:
    """CPU µs per disconnect of `sample` sockets; each is connected again after."""
    step = max(1, len(sids) // sample)
    places = range(0, len(sids), step)[:sample]
    spent = 0.0
    for n, place in enumerate(places):
        sid = sids[place]
        rooms = manager.get_rooms(sid, "/")
        started = time.process_time()
        manager.disconnect(sid, "/")
        spent += time.process_time() - started
        again = manager.connect(f"again-{n}-{sid}", "/")
        for room in rooms:
            if room != sid:
                manager.enter_room(again, "/", room)
        sids[place] = again
    return spent / len(places) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockets", default="1000,5000,12500")
    ap.add_argument("--big-room", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print("| sockets | rooms in the namespace | Manager (µs) | ChatManager (µs) | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for n in [int(x) for x in args.sockets.split(",")]:
        figures: dict[str, list[float]] = {"stock": [], "indexed": []}
        namespace_rooms = 0
        for _ in range(args.rounds):
            for label, make in (("stock", Manager), ("indexed", ChatManager)):
                manager = make()
                sids = filled(manager, n, args.big_room)
                namespace_rooms = len(manager.rooms["/"])
                figures[label].append(per_disconnect_us(manager, sids, args.sample))
        stock, indexed = (statistics.median(figures[k]) for k in ("stock", "indexed"))
        print(
            f"| {n:,} | {namespace_rooms:,} | {stock:,.1f} | {indexed:,.1f} | {stock / indexed:,.0f}× |"
        )


if __name__ == "__main__":
    main()
