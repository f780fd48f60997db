// The open room's people and who of them is online (GET .../members, then
// `presence` events; presence is cluster-wide).
import { api, roomPath } from "./api.js";
import { $, avatar, el } from "./dom.js";
import { isMe } from "./login.js";
import { current, isOpen } from "./state.js";
import { onReset } from "./reset.js";

let members = new Map();   // username -> {user, online}, for the open room

export async function loadMembers() {
  const name = current.name;
  const generation = current.generation;
  renderMembers();
  try {
    const data = await api("GET", roomPath(name) + "/members");
    if (generation !== current.generation) return;
    members = new Map(data.members.map((m) => [m.user.username, m]));
    renderMembers();
  } catch {
    // Shown as an empty list.
  }
}

export function clearMembers() {
  members = new Map();
}

// Server event `presence`: {room, user, online}.
export function onPresence(data) {
  if (!data || !data.user) return;
  // The same person is online in every room.
  const entry = members.get(data.user.username);
  if (entry) {
    entry.online = Boolean(data.online);
    entry.user.display_name = data.user.display_name;
  } else if (isOpen(data.room)) {
    members.set(data.user.username, { user: data.user, online: Boolean(data.online) });
  } else {
    return;
  }
  renderMembers();
}

// Someone left the open room's people (kicked or banned: `member_removed`).
export function dropMember(username) {
  if (members.delete(username)) renderMembers();
}

function memberItem(m) {
  const li = el("li", "member");
  li.dataset.username = m.user.username;
  li.dataset.online = String(Boolean(m.online));
  const face = el("span", "member-face");
  const dot = el("span", "presence-dot");
  dot.setAttribute("aria-hidden", "true");
  face.append(avatar(m.user), dot);
  const names = el("span", "member-names");
  const you = isMe(m.user.username) ? " (you)" : "";
  names.append(el("span", "member-name", m.user.display_name),
    el("span", "member-handle", "@" + m.user.username + you));
  li.append(face, names, el("span", "visually-hidden", m.online ? ", online" : ", offline"));
  return li;
}

function fill(list, people) {
  list.textContent = "";
  people.forEach((m) => list.appendChild(memberItem(m)));
}

function renderMembers() {
  const all = Array.from(members.values())
    .sort((a, b) => a.user.display_name.localeCompare(b.user.display_name));
  const online = all.filter((m) => m.online);
  const offline = all.filter((m) => !m.online);
  fill($("members-online"), online);
  fill($("members-offline"), offline);
  $("online-heading").textContent = "Online — " + online.length;
  $("offline-heading").textContent = "Offline — " + offline.length;
  $("offline-heading").hidden = offline.length === 0;
  $("online-count").textContent = String(online.length);
  $("members-toggle").setAttribute("aria-label", "Show who is in the room (" + online.length + " online)");
}

onReset(clearMembers);
