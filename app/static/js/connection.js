// What the page does as the socket comes and goes: on every (re)connect it
// joins its rooms, reloads who is online, catches the open room up, re-sends
// pending messages and says how many messages were missed. The room list
// follows `room_added` / `room_removed` (dispatch.js), so it is not polled:
// it is reloaded on every reconnect and while live delivery is paused.
import { LOGIN_ENDED } from "./api.js";
import { resetDelivery, setCatchUp } from "./delivery-banner.js";
import { serverEvents } from "./dispatch.js";
import { refreshInstance } from "./instance.js";
import { flushPending, renderPendingStatuses } from "./pending.js";
import { loadMembers } from "./presence.js";
import { goLive } from "./room-view.js";
import { loadRooms } from "./rooms.js";
import { endLogin, login } from "./login.js";
import { connect, connection, joinRoom, setStatus } from "./socket.js";
import { current, rooms, timeline } from "./state.js";
import { forgetMyTyping } from "./typing.js";

function joinMemberRooms() {
  const joins = [];
  rooms.forEach((room) => { if (room.member) joins.push(joinRoom(room.name)); });
  return Promise.all(joins);
}

function missedText(missed) {
  if (!missed) return "Back online";
  return "Back online · " + missed + " missed message" + (missed === 1 ? "" : "s");
}

// While live delivery is paused: the room list (unread and mention counts of
// every room) and what the open room missed.
async function catchUpAll() {
  if (!connection.connected) return;
  await loadRooms();
  await joinMemberRooms();
  if (current.name && timeline.historyLoaded) await goLive(current.name);
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

// The connection's instance said whether it had live delivery; the next
// instance says `delivery {live: false}` as it connects if it has not (that
// event can come before "connect").
function onDisconnect() {
  resetDelivery();
  timeline.live = false;
  forgetMyTyping();
  renderPendingStatuses();
}

export function goOnline() {
  connect(() => login.token, {
    onConnect,
    onDisconnect,
    onRefused: () => endLogin(LOGIN_ENDED),
    events: serverEvents,
  });
  setCatchUp(catchUpAll);
}
