// How rooms and times are named on the page: one place for each label.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// A person as text: "Alice (@alice)". Anyone may take any display name; the
// username beside it is unique, so two people never read the same.
export function personLabel(user) {
  if (!user) return "";
  return user.display_name + " (@" + user.username + ")";
}

// A person's username as the page shows it beside their display name.
export function handle(user) {
  return "@" + user.username;
}

// A room's bare name: the other person's display name for a DM.
export function roomName(room) {
  if (!room) return "";
  if (room.kind === "dm") return room.peer ? room.peer.display_name : room.name;
  return room.name;
}

// A room as headings and prompts show it: "#general", or "Bob (@bob)" for a DM.
export function roomLabel(room) {
  if (!room) return "";
  if (room.kind === "dm") return room.peer ? personLabel(room.peer) : room.name;
  return "#" + room.name;
}

// Today's messages show the time only; older ones the day too.
export function formatTime(date) {
  if (date.toDateString() === new Date().toDateString()) return timeFormat.format(date);
  return shortDateFormat.format(date) + ", " + timeFormat.format(date);
}

export function formatDateTime(date) {
  return dateTimeFormat.format(date);
}
