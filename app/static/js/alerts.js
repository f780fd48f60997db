// Which live messages raise a browser notification (while the tab is hidden):
// a direct message to me, a reply to one of my messages, and (dispatch.js) a
// mention; never one of mine, and nothing from a room I muted.
import { personLabel, roomLabel } from "./labels.js";
import { isMe, isMine } from "./login.js";
import { mentionsMe } from "./mentions.js";
import { notify } from "./notify.js";
import { rooms } from "./state.js";

let opener = () => {};

// What a click on a notification does with the room's name (navigate).
export function setAlertOpener(fn) { opener = fn; }

export function isMuted(name) {
  const room = rooms.get(name);
  return Boolean(room && room.muted);
}

// A new message of any room I am in, as it arrives live.
export function alertFor(m) {
  if (!m || m.deleted || isMine(m) || isMuted(m.room)) return false;
  if (mentionsMe(m)) return false;   // the `mention` event raises that one
  const room = rooms.get(m.room);
  const author = personLabel(m.author);
  if (room && room.kind === "dm") {
    return notify(author + " sent you a message", m.body, "message-" + m.id,
      () => opener(m.room));
  }
  if (m.reply_to && isMe(m.reply_to.author.username)) {
    return notify(author + " replied to you in " + (room ? roomLabel(room) : "#" + m.room),
      m.body, "message-" + m.id, () => opener(m.room));
  }
  return false;
}
