// The state several modules share, in small named pieces. State that only one
// module needs lives in that module (pending sends, typing, members, socket).
import { onReset } from "./reset.js";

// name -> room view (GET /api/rooms), with `unread` and `last_read_id`.
export const rooms = new Map();

// The open room. `generation` bumps whenever it changes, so that answers that
// come back late for a room no longer open are dropped.
export const current = { name: null, generation: 0 };

export function isOpen(roomName) { return roomName === current.name; }

export function currentRoom() { return rooms.get(current.name) || null; }

// The open room's messages, by id, and how far we know them.
export const timeline = {
  messages: new Map(),
  syncAfter: 0,          // every message up to this id is known
  live: false,           // joined and synced on this connection
  hasOlder: false,
  historyLoaded: false,
};

export function resetTimeline() {
  timeline.messages = new Map();
  timeline.syncAfter = 0;
  timeline.live = false;
  timeline.hasOlder = false;
  timeline.historyLoaded = false;
}

export function maxId() {
  let m = 0;
  timeline.messages.forEach((_, id) => { if (id > m) m = id; });
  return m;
}

// How many of the newest messages a catch-up asks for again. Two messages sent
// through different instances can reach a socket in the other order; a socket
// lost between the two must not skip the older one for good (docs/client.md).
export const SYNC_OVERLAP = 20;

// Where a catch-up starts: before the SYNC_OVERLAP newest messages we have
// (before the oldest, with fewer), and never after what is known complete.
export function syncStart() {
  const ids = [...timeline.messages.keys()].sort((a, b) => b - a);
  let start = 0;
  if (ids.length > SYNC_OVERLAP) start = ids[SYNC_OVERLAP];
  else if (ids.length) start = ids[ids.length - 1] - 1;
  return Math.min(timeline.syncAfter, start);
}

export function minId() {
  let m = null;
  timeline.messages.forEach((_, id) => { if (m === null || id < m) m = id; });
  return m;
}

// Logged out: nothing open, nothing known; late answers are dropped.
export function resetState() {
  rooms.clear();
  current.name = null;
  current.generation += 1;
  resetTimeline();
}

onReset(resetState);
