// Room roles as the page sees them (a member's room view says `role`: owner,
// admin or member; DMs have none), and what they add to a message: Pin / Unpin
// and a moderator's Remove among its actions, the "Pinned" mark, and "Removed
// by a moderator." for a message a moderator deleted. The actions are handled
// in moderation.js; this module only draws.
import { button, el } from "./dom.js";
import { personLabel } from "./labels.js";
import { isMe, isMine } from "./login.js";
import { rooms } from "./state.js";

export const ROLE_NAMES = { owner: "Owner", admin: "Admin", member: "Member" };

export function roleOf(name) {
  const room = rooms.get(name);
  return room && room.member && room.kind !== "dm" ? room.role || "member" : null;
}

// Owners and admins run a room: title and topic, kicks, bans, pins, deletes.
export function canModerate(name) {
  const role = roleOf(name);
  return role === "owner" || role === "admin";
}

export function isOwner(name) {
  return roleOf(name) === "owner";
}

function excerpt(m) {
  return personLabel(m.author) + ": " + (m.body || "").slice(0, 40);
}

// The moderator's actions on a message of the open room (none for others).
export function moderatorActions(m) {
  if (m.deleted || !canModerate(m.room)) return [];
  const pin = button("msg-action", m.pinned ? "Unpin" : "Pin");
  pin.dataset.action = m.pinned ? "unpin" : "pin";
  pin.setAttribute("aria-label", (m.pinned ? "Unpin" : "Pin") + " message by " + excerpt(m));
  if (isMine(m)) return [pin];
  const remove = button("msg-action danger", "Remove");
  remove.dataset.action = "mod-delete";
  remove.setAttribute("aria-label", "Remove message by " + excerpt(m));
  return [pin, remove];
}

export function deletedText(m) {
  return m.deleted_by === "moderator" ? "Removed by a moderator." : "This message was deleted.";
}

// The marks a message element gets from pins and moderation.
export function decorateMessage(li, m) {
  if (m.deleted) {
    const body = li.querySelector(".msg-deleted");
    if (body && m.deleted_by === "moderator") {
      body.textContent = deletedText(m);
      li.classList.add("moderated");
    }
    return;
  }
  if (!m.pinned) return;
  li.classList.add("pinned");
  const meta = li.querySelector(".msg-meta");
  if (meta) meta.appendChild(el("span", "msg-pinned", "Pinned"));
}

export function canActOn(name, username) {
  return canModerate(name) && !isMe(username);
}
