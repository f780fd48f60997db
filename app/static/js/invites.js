// Accepting an invite link, /#/invite/<token> (room-settings.js makes them):
// the token is taken from the address at once (and kept in sessionStorage
// through a log-in or a registration), accepted with POST /api/invites/{token}
// once logged in, and the page lands in the room. An invite that is unknown,
// revoked, expired or used up, or a ban, is told in a toast.
import { api } from "./api.js";
import { $, announce, flash } from "./dom.js";
import { roomLabel } from "./labels.js";
import { addRoom } from "./rooms.js";
import { onReset } from "./reset.js";

const KEY = "chat.invite";
const INVITE_HASH = /^#\/invite\/([^/?#]{1,200})$/;

function fromHash() {
  const match = INVITE_HASH.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

// Takes an invite token out of the address (so a reload or Back does not use
// it again); true if one is waiting to be accepted.
export function captureInvite() {
  const token = fromHash();
  if (token) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  const waiting = Boolean(sessionStorage.getItem(KEY));
  $("invite-note").hidden = !waiting;
  return waiting;
}

export function inviteErrorText(err) {
  if (err.status === 404) return "This invite is no longer valid.";
  if (err.status === 403) return "You are banned from this room.";
  return "The invite could not be accepted: " + err.message;
}

// Accepts the waiting invite, if any: the room's name, or null.
export async function takeInvite() {
  const token = sessionStorage.getItem(KEY);
  $("invite-note").hidden = true;
  if (!token) return null;
  sessionStorage.removeItem(KEY);
  try {
    const room = await api("POST", "/api/invites/" + encodeURIComponent(token));
    addRoom(room);
    announce("You joined " + roomLabel(room) + ".");
    return room.name;
  } catch (err) {
    flash(inviteErrorText(err));
    return null;
  }
}

// An invite link opened while logged in: accepted, and its room opened.
export function wireInvites(openRoomNamed, loggedIn) {
  window.addEventListener("hashchange", async () => {
    if (!fromHash() || !captureInvite() || !loggedIn()) return;
    const name = await takeInvite();
    if (name) openRoomNamed(name);
  });
}

onReset(() => { $("invite-note").hidden = true; });
