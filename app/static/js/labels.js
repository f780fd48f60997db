// How rooms and times are named on the page: one place for each label.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// A room's bare name: the other person's display name for a DM.
export function roomName(room) {
  if (!room) return "";
  if (room.kind === "dm") return room.peer ? room.peer.display_name : room.name;
  return room.name;
}

// A room as headings and prompts show it: "#general", or "Bob" for a DM.
export function roomLabel(room) {
  if (!room) return "";
  return room.kind === "dm" ? roomName(room) : "#" + room.name;
}

// Today's messages show the time only; older ones the day too.
export function formatTime(date) {
  if (date.toDateString() === new Date().toDateString()) return timeFormat.format(date);
  return shortDateFormat.format(date) + ", " + timeFormat.format(date);
}

export function formatDateTime(date) {
  return dateTimeFormat.format(date);
}
