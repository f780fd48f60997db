// The open room's history: the newest page first, older pages on scrolling
// up, what was missed after a reconnect (`sync`), and live messages.
import { api, roomPath } from "./api.js";
import { $, announce, flash } from "./dom.js";
import { personLabel, roomLabel } from "./labels.js";
import {
  firstPending, insertMessage, messageNode, nearBottom, scrollToBottom, showEmpty,
} from "./message-list.js";
import { settlePending } from "./pending.js";
import { markRead } from "./reads.js";
import { isMine } from "./login.js";
import { connection, emitAck, joinRoom } from "./socket.js";
import { current, currentRoom, isOpen, maxId, minId, syncStart, timeline } from "./state.js";
import { clearTyper } from "./typing.js";

const PAGE_SIZE = 50;
const SYNC_PAGES_MAX = 20;
let loadingOlder = false;

// Adds messages of the open room; true for each one not shown before.
function insertMessages(messages) {
  const before = timeline.messages.size;
  messages.slice().sort((a, b) => a.id - b.id).forEach((m) => {
    if (m.room && !isOpen(m.room)) return;
    settlePending(m);
    insertMessage(m);
  });
  if (timeline.historyLoaded && timeline.messages.size === 0 && !firstPending()) {
    showEmpty("No messages yet. Say hello!");
  }
  return timeline.messages.size - before;
}

function renderHistoryTop() {
  $("load-older").hidden = !timeline.hasOlder;
  const start = $("history-start");
  start.hidden = timeline.hasOlder || timeline.messages.size === 0;
  const room = currentRoom();
  if (!room) { start.textContent = ""; return; }
  const what = room.kind === "dm" ? "your conversation with " + roomLabel(room) : roomLabel(room);
  start.textContent = "This is the beginning of " + what + ".";
}

export function clearHistoryTop() {
  $("load-older").hidden = true;
  $("history-start").hidden = true;
  $("empty-room").hidden = true;
  $("jump-latest").hidden = true;
}

// Fetches a page of the room just opened (`query`: which page) and shows it,
// then `show()`. Resolves to true once shown; false if another room was opened
// meanwhile or the request failed (said in a flash).
async function loadPage(name, query, show) {
  const generation = current.generation;
  try {
    const page = await api("GET", roomPath(name) + "/messages?" + query);
    if (generation !== current.generation) return false;
    timeline.historyLoaded = true;
    timeline.hasOlder = page.has_more;
    insertMessages(page.messages);
    timeline.syncAfter = Math.max(timeline.syncAfter, maxId());
    renderHistoryTop();
    show();
    return true;
  } catch (err) {
    if (generation === current.generation) flash(err.message);
    return false;
  }
}

// The newest page of the room just opened. Resolves to true once shown.
export function loadLatest(name) {
  return loadPage(name, "limit=" + PAGE_SIZE, () => {
    scrollToBottom();
    markRead();
    fillViewport();
  });
}

// The page of the room just opened around message `id` (a search hit), that
// message in the middle of the view and highlighted. Newer messages come by
// `sync` when the room goes live. Resolves to true once shown.
export function loadAround(name, id) {
  return loadPage(name, "around=" + id + "&limit=" + PAGE_SIZE, () => highlight(id));
}

function highlight(id) {
  const node = messageNode(id);
  if (!node) return;
  $("messages").querySelectorAll("li.msg.highlight").forEach((n) => n.classList.remove("highlight"));
  node.classList.add("highlight");
  node.tabIndex = -1;
  node.scrollIntoView({ block: "center" });
  node.focus({ preventScroll: true });
}

export async function loadOlder() {
  const oldest = minId();
  if (!timeline.hasOlder || loadingOlder || !current.name || oldest === null) return;
  const generation = current.generation;
  const scroller = $("scroller");
  loadingOlder = true;
  $("load-older").textContent = "Loading…";
  scroller.setAttribute("aria-busy", "true");
  try {
    const page = await api("GET", roomPath(current.name) + "/messages?before=" + oldest +
      "&limit=" + PAGE_SIZE);
    if (generation !== current.generation) return;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    timeline.hasOlder = page.has_more;
    insertMessages(page.messages);
    renderHistoryTop();
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
  } catch (err) {
    if (generation === current.generation) flash(err.message);
  } finally {
    loadingOlder = false;
    $("load-older").textContent = "Load older messages";
    scroller.removeAttribute("aria-busy");
    if (generation === current.generation) fillViewport();
  }
}

// Keep loading while the list is too short to scroll (so scrolling up can work).
function fillViewport() {
  const s = $("scroller");
  if (timeline.hasOlder && !loadingOlder && s.scrollHeight <= s.clientHeight + 40) loadOlder();
}

// Messages for the open room, live or from `sync`; how many were new.
export function receive(messages, fromSync) {
  const stick = nearBottom();
  const before = timeline.messages.size;
  const added = insertMessages(messages);
  if (timeline.live || fromSync) timeline.syncAfter = Math.max(timeline.syncAfter, maxId());
  if (!added) return 0;
  if (before === 0) renderHistoryTop();
  messages.forEach((m) => {
    if (!isMine(m) && !fromSync) announce(personLabel(m.author) + ": " + (m.deleted ? "(deleted)" : m.body));
    clearTyper(m.room, m.author.username);
  });
  if (stick) scrollToBottom(); else $("jump-latest").hidden = false;
  markRead();
  return added;
}

// Fetches what the open room missed after the last id we have, then goes
// live. Resolves to {missed, complete}; not complete means too far behind.
export async function catchUp(name) {
  const generation = current.generation;
  let missed = 0;
  // Join first, so that nothing falls between the sync and live delivery.
  await joinRoom(name);
  let after = syncStart();  // a little before our newest: messages we have come again
  for (let pages = 1; connection.connected; pages++) {
    const res = await emitAck("sync", { room: name, after });
    if (generation !== current.generation || !res || !res.ok) break;
    missed += receive(res.messages, true);
    if (res.messages.length) after = res.messages[res.messages.length - 1].id;
    timeline.syncAfter = Math.max(timeline.syncAfter, maxId());
    if (res.has_more && pages >= SYNC_PAGES_MAX) return { missed, complete: false };
    if (!res.has_more) { timeline.live = connection.connected; break; }
  }
  return { missed, complete: true };
}

export function wireHistory() {
  $("scroller").addEventListener("scroll", () => {
    if ($("scroller").scrollTop < 150) loadOlder();
    if (nearBottom()) $("jump-latest").hidden = true;
  }, { passive: true });
  $("load-older").addEventListener("click", loadOlder);
  $("jump-latest").addEventListener("click", () => {
    scrollToBottom();
    $("composer-input").focus();
  });
}
