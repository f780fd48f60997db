// What the page does as the socket comes and goes: on every (re)connect it
// joins its rooms, reloads who is online, catches the open room up, re-sends
// pending messages and says how many messages were missed.
import { SESSION_ENDED } from "./api.js";
import { serverEvents } from "./dispatch.js";
import { refreshInstance } from "./instance.js";
import { flushPending, renderPendingStatuses } from "./pending.js";
import { loadMembers } from "./presence.js";
import { goLive } from "./room-view.js";
import { loadRooms } from "./rooms.js";
import { endSession, session } from "./session.js";
import { connect, connection, joinRoom, setStatus } from "./socket.js";
import { current, rooms, timeline } from "./state.js";
import { forgetMyTyping } from "./typing.js";

// New DMs and rooms others put me in have no live event yet: look now and then.
const ROOM_POLL_MS = 30000;
let roomPoll = null;

function joinMemberRooms() {
  const joins = [];
  rooms.forEach((room) => { if (room.member) joins.push(joinRoom(room.name)); });
  return Promise.all(joins);
}

function missedText(missed) {
  if (!missed) return "Back online";
  return "Back online · " + missed + " missed message" + (missed === 1 ? "" : "s");
}

async function onConnect(isReconnect) {
  setStatus(isReconnect ? "reconnecting" : "connecting", isReconnect ? "Catching up…" : "Connecting…");
  refreshInstance();
  renderPendingStatuses();
  if (isReconnect) await loadRooms().catch(() => {});
  await joinMemberRooms();
  // Presence events sent before the joins did not reach us: ask afresh.
  if (current.name) loadMembers();
  const missed = current.name && timeline.historyLoaded ? await goLive(current.name) : 0;
  if (!connection.connected) return;
  flushPending();
  setStatus(isReconnect ? "back" : "connected", isReconnect ? missedText(missed) : undefined);
}

function onDisconnect() {
  timeline.live = false;
  forgetMyTyping();
  renderPendingStatuses();
}

export function goOnline() {
  connect(() => session.token, {
    onConnect,
    onDisconnect,
    onRefused: () => endSession(SESSION_ENDED),
    events: serverEvents,
  });
  clearInterval(roomPoll);
  roomPoll = setInterval(() => {
    if (connection.connected && document.visibilityState !== "hidden") {
      loadRooms().then(joinMemberRooms).catch(() => {});
    }
  }, ROOM_POLL_MS);
}

export function stopPolling() {
  clearInterval(roomPoll);
}
