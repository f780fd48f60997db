// Typing: mine (`typing` true while I type, refreshed, false when idle or on
// send) and others' ("Tom is typing…" above the message box).
import { $ } from "./dom.js";
import { personLabel } from "./labels.js";
import { isMe } from "./login.js";
import { connection, emitAck } from "./socket.js";
import { current, isOpen } from "./state.js";
import { onReset } from "./reset.js";

const IDLE_MS = 2500;      // stop "typing" after this long without a key
const REFRESH_MS = 3000;   // re-send typing=true while typing goes on
const EXPIRE_MS = 6000;    // forget someone's typing if no news

const mine = { active: false, room: null, idle: null, sentAt: 0 };
let typers = new Map();    // room -> Map(username -> {user, timer})

function emitTyping(room, typing) {
  if (connection.connected && room) emitAck("typing", { room, typing });
}

// The message box changed; `hasText` says whether anything is in it.
export function noteTyping(hasText) {
  if (!hasText) { stopTyping(); return; }
  const now = Date.now();
  if (!mine.active || mine.room !== current.name || now - mine.sentAt > REFRESH_MS) {
    if (mine.active && mine.room !== current.name) emitTyping(mine.room, false);
    mine.active = true;
    mine.room = current.name;
    mine.sentAt = now;
    emitTyping(mine.room, true);
  }
  clearTimeout(mine.idle);
  mine.idle = setTimeout(stopTyping, IDLE_MS);
}

export function stopTyping() {
  clearTimeout(mine.idle);
  if (mine.active) emitTyping(mine.room, false);
  mine.active = false;
}

// The connection dropped: the server forgets my typing with the socket.
export function forgetMyTyping() {
  mine.active = false;
}

export function clearTyper(room, username) {
  const roomTypers = typers.get(room);
  if (!roomTypers || !roomTypers.has(username)) return;
  clearTimeout(roomTypers.get(username).timer);
  roomTypers.delete(username);
  if (isOpen(room)) renderTyping();
}

// Server event `typing`: {room, user, typing}.
export function onTyping(data) {
  if (!data || !data.user || isMe(data.user.username)) return;
  if (!data.typing) { clearTyper(data.room, data.user.username); return; }
  if (!typers.has(data.room)) typers.set(data.room, new Map());
  const roomTypers = typers.get(data.room);
  const entry = roomTypers.get(data.user.username);
  if (entry) clearTimeout(entry.timer);
  roomTypers.set(data.user.username, {
    user: data.user,
    timer: setTimeout(() => clearTyper(data.room, data.user.username), EXPIRE_MS),
  });
  if (isOpen(data.room)) renderTyping();
}

export function renderTyping() {
  const box = $("typing");
  const roomTypers = typers.get(current.name);
  const names = roomTypers ? Array.from(roomTypers.values(), (t) => personLabel(t.user)) : [];
  let text = "";
  if (names.length === 1) text = names[0] + " is typing…";
  else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing…";
  else if (names.length > 2) text = "Several people are typing…";
  if (box.textContent !== text) box.textContent = text;
  box.classList.toggle("active", Boolean(text));
}

export function resetTyping() {
  stopTyping();
  typers.forEach((roomTypers) => roomTypers.forEach((t) => clearTimeout(t.timer)));
  typers = new Map();
}

onReset(resetTyping, "tell");
