// Read markers: what the open room has been read up to, sent with `read`.
import { emitAck, connection } from "./socket.js";
import { noteRead } from "./rooms.js";
import { current, maxId } from "./state.js";
import { onReset } from "./reset.js";

const READ_DELAY_MS = 400;
let sent = new Map();   // room -> highest id acknowledged as read
let timer = null;

export function markRead() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const room = current.name;
    const id = maxId();
    if (!room || !id || document.visibilityState === "hidden" || !connection.connected) return;
    if ((sent.get(room) || 0) >= id) return;
    const res = await emitAck("read", { room, message_id: id });
    if (res && res.ok) {
      sent.set(room, Math.max(sent.get(room) || 0, id));
      noteRead(room, id);
    }
  }, READ_DELAY_MS);
}

export function resetReads() {
  clearTimeout(timer);
  sent = new Map();
}

onReset(resetReads);
