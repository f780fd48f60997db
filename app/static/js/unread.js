// Where the unread messages start: when a room with unread messages opens, a
// "New messages" divider goes above the first message by someone else after
// my last read (the room view's `last_read_id`), and "Jump to first unread"
// shows while that divider is out of sight above, or not loaded at all (then
// the jump loads the page of history around it).
import { api, roomPath } from "./api.js";
import { $, button, el } from "./dom.js";
import { current, minId, timeline } from "./state.js";
import { onReset } from "./reset.js";

// {room, lastReadId, unread} as the room view said when the room opened.
let marker = null;
let jumping = false;
let open = null;        // room-view's openRoom, given by wireUnread (no import cycle)

// Before the room's counts are cleared (rooms.markOpened). Opening the same
// room again (a reload of its history, a jump) keeps what it had.
export function noteOpening(room) {
  if (room.member && room.unread > 0) {
    marker = { room: room.name, lastReadId: room.last_read_id || 0, unread: room.unread };
  } else if (!marker || marker.room !== room.name) {
    marker = null;
  }
  jumpButton().hidden = true;
}

function jumpButton() {
  let b = $("jump-unread");
  if (!b) {
    b = button("jump jump-unread");
    b.id = "jump-unread";
    b.hidden = true;
    b.addEventListener("click", jumpToFirstUnread);
    $("jump-latest").after(b);
  }
  return b;
}

function divider() { return $("unread-divider"); }

// The first unread message shown: after the marker, by someone else.
function firstUnreadNode() {
  for (const node of $("messages").querySelectorAll("li.msg[data-id]")) {
    const id = Number(node.dataset.id);
    if (id > marker.lastReadId && !node.classList.contains("own") &&
        !node.classList.contains("deleted")) return node;
  }
  return null;
}

// Is the first unread above what has been loaded?
function firstUnreadNotLoaded() {
  const oldest = minId();
  return timeline.hasOlder && oldest !== null && oldest > marker.lastReadId;
}

function aboveView(node) {
  const scroller = $("scroller");
  return node.getBoundingClientRect().bottom < scroller.getBoundingClientRect().top + 4;
}

function renderJump() {
  const b = jumpButton();
  if (!marker || marker.room !== current.name) { b.hidden = true; return; }
  const line = divider();
  const show = line ? aboveView(line) : firstUnreadNotLoaded();
  b.textContent = "Jump to first unread · " + marker.unread + " new";
  if (!show && line) marker.seen = true;
  b.hidden = !show || Boolean(marker.seen);
}

// After the open room's history is shown (room-view.openRoom).
export function showUnread() {
  if (!marker || marker.room !== current.name) return;
  if (!divider()) {
    const first = firstUnreadNode();
    if (first && !firstUnreadNotLoaded()) {
      const line = el("li", "unread-divider", "New messages");
      line.id = "unread-divider";
      first.before(line);
    }
  }
  if (jumping) {
    jumping = false;
    revealFirstUnread();
  }
  renderJump();
}

function revealFirstUnread() {
  const line = divider();
  if (!line) return;
  marker.seen = true;
  line.scrollIntoView({ block: "start" });
  const first = line.nextElementSibling;
  if (first) {
    first.tabIndex = -1;
    first.focus({ preventScroll: true });
  }
}

export async function jumpToFirstUnread() {
  if (!marker || marker.room !== current.name) return;
  if (divider()) { revealFirstUnread(); renderJump(); return; }
  let around = marker.lastReadId;
  if (!around) {
    // Never read: the room's first message.
    try {
      const page = await api("GET", roomPath(marker.room) + "/messages?after=0&limit=1");
      if (!page.messages.length) return;
      around = page.messages[0].id;
      marker.lastReadId = around - 1;
    } catch (err) {
      return;
    }
  }
  jumping = true;
  open(marker.room, true, around);
}

// `openRoom(name, force, around)` of room-view.js.
export function wireUnread(openRoom) {
  open = openRoom;
  jumpButton();
  $("scroller").addEventListener("scroll", () => {
    if (marker && !jumpButton().hidden) renderJump();
  }, { passive: true });
}

onReset(() => {
  marker = null;
  jumping = false;
  if ($("jump-unread")) $("jump-unread").hidden = true;
});
