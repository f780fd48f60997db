// The room settings dialog (the header's "Room settings" button; a member of
// a room that is not a DM): title and topic (owners and admins edit them:
// PATCH /api/rooms/{name}), the members with their roles (the owner makes
// admins, demotes them and hands the room over; owners and admins kick and
// ban, never the owner), the banned with Unban, invite links of a private
// room (created with an expiry and a use count, copied, revoked), webhooks
// (created for one of my bots, their URLs copied, deleted) and the audit
// log. The header's topic and tools are drawn here too.
import { api, roomPath } from "./api.js";
import { listBots } from "./bots.js";
import { closeDialog, copyText, showDialog, wireDialog } from "./dialogs.js";
import { $, announce, avatar, button, el, flash } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";
import { formatDateTime, handle, personLabel, roomLabel } from "./labels.js";
import { isMe } from "./login.js";
import { putRoom, renderRooms } from "./rooms.js";
import { ROLE_NAMES, canModerate, isOwner, roleOf } from "./roles.js";
import { currentRoom, rooms } from "./state.js";

const EXPIRY = [["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"], ["", "Never"]];
const AUDIT_PAGE = 50;

let open = null;   // {room, generation} while the dialog shows a room
let generation = 0;

// --- the header -------------------------------------------------------------

// The open room's subtitle (its title), topic and the header's tools.
export function renderRoomTools(room) {
  $("room-subtitle").textContent = room.kind === "dm" ?
    "Direct message with @" + (room.peer ? room.peer.username : "?") :
    (room.title || (room.private ? "Private room" : "Public room"));
  const topic = $("room-topic");
  topic.textContent = room.kind === "dm" ? "" : room.topic || "";
  topic.title = topic.textContent;
  $("settings-toggle").hidden = !room.member || room.kind === "dm";
  if (open && open.room !== room.name) closeSettings(false);
}

// --- small builders -----------------------------------------------------------

function section(id, title) {
  const box = el("section", "settings-section");
  box.id = "settings-" + id;
  const h = el("h3", null, title);
  h.id = "settings-" + id + "-heading";
  h.tabIndex = -1;
  box.setAttribute("aria-labelledby", h.id);
  box.appendChild(h);
  return box;
}

function field(form, name, label, input, hint) {
  const wrap = el("div", "field");
  input.id = "settings-" + name;
  input.name = name;
  const l = el("label", null, label);
  l.htmlFor = input.id;
  const error = el("p", "field-error");
  error.id = input.id + "-error";
  error.dataset.fieldError = name;
  const described = [error.id];
  wrap.append(l, input);
  if (hint) {
    const h = el("p", "field-hint", hint);
    h.id = input.id + "-hint";
    described.unshift(h.id);
    wrap.appendChild(h);
  }
  input.setAttribute("aria-describedby", described.join(" "));
  wrap.appendChild(error);
  form.appendChild(wrap);
  return input;
}

function newForm(className) {
  const form = el("form", "settings-form " + (className || ""));
  form.noValidate = true;
  const top = el("p", "form-error");
  top.setAttribute("role", "alert");
  top.dataset.formError = "";
  top.hidden = true;
  form.appendChild(top);
  return form;
}

function userName(x) {
  if (!x) return "";
  if (typeof x === "string") return "@" + x;
  if (x.username) return x.display_name ? personLabel(x) : "@" + x.username;
  if (x.id !== undefined) return "#" + x.id;
  return String(x);
}

function stale(state) { return open !== state; }

// Something I did in the dialog: the audit log (if shown) is asked again.
function audited(state) {
  if (!stale(state) && state.reloadAudit) state.reloadAudit();
}

// An inline "are you sure" in `row`: its actions give way to a question.
function confirmIn(row, question, yesLabel, action) {
  const actions = row.querySelector(".settings-actions");
  const saved = Array.from(actions.childNodes);
  const yes = button("btn btn-small btn-danger", yesLabel);
  const no = button("btn btn-small", "Cancel");
  actions.textContent = "";
  actions.append(el("span", "confirm-text", question), yes, no);
  no.addEventListener("click", () => {
    actions.textContent = "";
    actions.append(...saved);
    if (saved[0]) saved[0].focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    no.disabled = true;
    await action();
  });
  yes.focus();
}

// --- about: title and topic ----------------------------------------------------

function aboutSection(room) {
  const box = section("about", "About");
  if (!canModerate(room.name)) {
    const dl = el("dl", "settings-about");
    dl.append(el("dt", null, "Title"), el("dd", null, room.title || "(none)"),
      el("dt", null, "Topic"), el("dd", null, room.topic || "(none)"));
    box.appendChild(dl);
    return box;
  }
  const form = newForm();
  const title = field(form, "title", "Title", el("input"), "Up to 120 characters");
  title.maxLength = 120;
  title.value = room.title || "";
  const topic = field(form, "topic", "Topic", el("textarea"), "Up to 250 characters, shown in the header");
  topic.maxLength = 250;
  topic.rows = 2;
  topic.value = room.topic || "";
  const save = el("button", "btn btn-primary btn-small", "Save");
  save.type = "submit";
  const actions = el("div", "form-actions");
  actions.appendChild(save);
  form.appendChild(actions);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    save.disabled = true;
    try {
      const view = await api("PATCH", roomPath(room.name), { title: title.value.trim(), topic: topic.value.trim() });
      applyRoom(view);
      announce("Saved.");
      audited(open);
    } catch (err) {
      showErrors(form, err);
    } finally {
      save.disabled = false;
    }
  });
  box.appendChild(form);
  return box;
}

// A room view from an answer or `room_updated`: listed, and the header redrawn.
export function applyRoom(view) {
  if (!view || !view.name || !rooms.has(view.name)) return;
  putRoom({ ...rooms.get(view.name), ...view });
  renderRooms();
  const room = currentRoom();
  if (room && room.name === view.name) renderRoomTools(room);
}

// --- members and roles -----------------------------------------------------------

function memberRow(room, m) {
  const li = el("li", "settings-row");
  li.dataset.username = m.user.username;
  li.appendChild(avatar(m.user));
  const names = el("span", "settings-names");
  names.append(el("span", "member-name", m.user.display_name),
    el("span", "member-handle", handle(m.user) + (isMe(m.user.username) ? " (you)" : "")));
  li.appendChild(names);
  if (m.role) li.appendChild(el("span", "role-badge role-" + m.role, ROLE_NAMES[m.role] || m.role));
  const actions = el("span", "settings-actions");
  const who = personLabel(m.user);
  const add = (text, label, fn) => {
    const b = button("btn btn-small", text);
    b.setAttribute("aria-label", label);
    b.addEventListener("click", () => fn(li, b));
    actions.appendChild(b);
  };
  if (m.role !== "owner" && !isMe(m.user.username) && canModerate(room.name)) {
    if (isOwner(room.name)) {
      if (m.role === "admin") add("Make member", "Make member: " + who, () => setRole(m, "member"));
      else add("Make admin", "Make admin: " + who, () => setRole(m, "admin"));
      add("Make owner", "Make owner: " + who + " (hand the room over)", (row) =>
        confirmIn(row, "Hand the room over to " + handle(m.user) + "? You become an admin.",
          "Hand over", () => setRole(m, "owner")));
    }
    add("Kick", "Kick " + who, (row) =>
      confirmIn(row, "Remove " + handle(m.user) + " from the room?", "Kick",
        () => removeMember(m, false)));
    add("Ban", "Ban " + who, (row) =>
      confirmIn(row, "Ban " + handle(m.user) + "? They cannot come back until unbanned.", "Ban",
        () => removeMember(m, true)));
  }
  li.appendChild(actions);
  return li;
}

const ROLE_ORDER = { owner: 0, admin: 1, member: 2 };

async function loadMembersInto(state, list, focusUser) {
  try {
    const data = await api("GET", roomPath(state.room) + "/members");
    if (stale(state)) return;
    const room = rooms.get(state.room);
    const members = (data.members || []).slice().sort((a, b) =>
      ((ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3)) ||
      a.user.display_name.localeCompare(b.user.display_name));
    list.textContent = "";
    members.forEach((m) => list.appendChild(memberRow(room, m)));
    const row = focusUser && list.querySelector('li[data-username="' + focusUser + '"] button');
    if (row) row.focus();
    else if (document.activeElement === document.body) $("settings-members-heading").focus();
  } catch (err) {
    if (!stale(state)) list.replaceChildren(el("li", "settings-empty", err.message));
  }
}

function membersSection(state) {
  const box = section("members", "Members");
  const list = el("ul", "settings-list");
  list.id = "settings-member-list";
  list.setAttribute("aria-labelledby", "settings-members-heading");
  box.appendChild(list);
  loadMembersInto(state, list);
  return box;
}

async function setRole(m, role) {
  const state = open;
  try {
    await api("PUT", roomPath(state.room) + "/members/" + encodeURIComponent(m.user.username), { role });
    announce(handle(m.user) + " is now " + (role === "admin" ? "an admin" : role === "owner" ? "the owner" : "a member") + ".");
    audited(state);
    if (role === "owner") {
      const room = rooms.get(state.room);
      if (room) applyRoom({ ...room, role: "admin" });
      reloadSettings();
      return;
    }
    if (!stale(state)) loadMembersInto(state, $("settings-member-list"), m.user.username);
  } catch (err) {
    flash(err.message);
    if (!stale(state)) loadMembersInto(state, $("settings-member-list"), m.user.username);
  }
}

async function removeMember(m, ban) {
  const state = open;
  const path = ban ? "/bans/" : "/members/";
  try {
    await api(ban ? "PUT" : "DELETE", roomPath(state.room) + path + encodeURIComponent(m.user.username));
    announce(handle(m.user) + (ban ? " was banned." : " was removed from the room."));
    audited(state);
  } catch (err) {
    flash(err.message);
  }
  if (stale(state)) return;
  await loadMembersInto(state, $("settings-member-list"));
  if (ban) loadBansInto(state, $("settings-ban-list"));
  $("settings-members-heading").focus();
}

// --- bans ---------------------------------------------------------------------

async function loadBansInto(state, list) {
  if (!list) return;
  try {
    const data = await api("GET", roomPath(state.room) + "/bans");
    if (stale(state)) return;
    list.textContent = "";
    (data.users || []).forEach((user) => {
      const li = el("li", "settings-row");
      li.dataset.username = user.username;
      li.appendChild(avatar(user));
      const names = el("span", "settings-names");
      names.append(el("span", "member-name", user.display_name), el("span", "member-handle", handle(user)));
      const actions = el("span", "settings-actions");
      const unban = button("btn btn-small", "Unban");
      unban.setAttribute("aria-label", "Unban " + personLabel(user));
      unban.addEventListener("click", async () => {
        unban.disabled = true;
        try {
          await api("DELETE", roomPath(state.room) + "/bans/" + encodeURIComponent(user.username));
          announce(handle(user) + " was unbanned.");
          audited(state);
          await loadBansInto(state, list);
          $("settings-bans-heading").focus();
        } catch (err) {
          unban.disabled = false;
          flash(err.message);
        }
      });
      actions.appendChild(unban);
      li.append(names, actions);
      list.appendChild(li);
    });
    if (!list.childNodes.length) list.appendChild(el("li", "settings-empty", "Nobody is banned."));
  } catch (err) {
    if (!stale(state)) list.replaceChildren(el("li", "settings-empty", err.message));
  }
}

function bansSection(state) {
  const box = section("bans", "Banned");
  const list = el("ul", "settings-list");
  list.id = "settings-ban-list";
  list.setAttribute("aria-labelledby", "settings-bans-heading");
  box.appendChild(list);
  loadBansInto(state, list);
  return box;
}

// --- invites ------------------------------------------------------------------

export function inviteLink(token) {
  return location.origin + "/#/invite/" + encodeURIComponent(token);
}

function linkRow(label, url, extra, onDelete, deleteLabel) {
  const li = el("li", "settings-link");
  const input = el("input", "link-input");
  input.readOnly = true;
  input.value = url;
  input.setAttribute("aria-label", label);
  const copy = button("btn btn-small", "Copy");
  copy.setAttribute("aria-label", "Copy " + label);
  copy.addEventListener("click", () => copyText(url, copy, input));
  const del = button("btn btn-small btn-danger-quiet", deleteLabel.split(" ")[0]);
  del.setAttribute("aria-label", deleteLabel);
  del.addEventListener("click", async () => {
    del.disabled = true;
    try { await onDelete(); } catch (err) { del.disabled = false; flash(err.message); }
  });
  const line = el("div", "link-line");
  line.append(input, copy, del);
  li.append(line, el("p", "link-meta", extra));
  return li;
}

function inviteMeta(inv) {
  const parts = [];
  parts.push((inv.uses || 0) + (inv.max_uses ? " of " + inv.max_uses : "") + " uses");
  parts.push(inv.expires_at ? "expires " + formatDateTime(new Date(inv.expires_at)) : "never expires");
  return parts.join(" · ");
}

async function loadInvitesInto(state, list) {
  try {
    const data = await api("GET", roomPath(state.room) + "/invites");
    if (stale(state)) return;
    list.textContent = "";
    (data.invites || []).forEach((inv, i) => {
      list.appendChild(linkRow("invite link " + (i + 1), inviteLink(inv.token), inviteMeta(inv),
        async () => {
          await api("DELETE", roomPath(state.room) + "/invites/" + encodeURIComponent(inv.token));
          announce("Invite revoked.");
          audited(state);
          await loadInvitesInto(state, list);
          $("settings-invites-heading").focus();
        }, "Revoke invite link " + (i + 1)));
    });
    if (!list.childNodes.length) list.appendChild(el("li", "settings-empty", "No open invites."));
  } catch (err) {
    if (!stale(state)) list.replaceChildren(el("li", "settings-empty", err.message));
  }
}

function invitesSection(state) {
  const box = section("invites", "Invite links");
  box.appendChild(el("p", "field-hint", "Anyone with a link can join this private room until it expires or is used up."));
  const form = newForm("settings-inline");
  const expiry = field(form, "expires_in", "Expires after", el("select"));
  EXPIRY.forEach(([value, text]) => {
    const o = el("option", null, text);
    o.value = value;
    expiry.appendChild(o);
  });
  expiry.value = "86400";
  const uses = field(form, "max_uses", "Max uses", el("input"), "Empty: no limit");
  uses.type = "number";
  uses.min = "1";
  uses.inputMode = "numeric";
  const create = el("button", "btn btn-primary btn-small", "Create invite link");
  create.type = "submit";
  form.appendChild(create);
  const list = el("ul", "settings-list");
  list.id = "settings-invite-list";
  list.setAttribute("aria-labelledby", "settings-invites-heading");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = {};
    if (expiry.value) body.expires_in = Number(expiry.value);
    if (uses.value.trim()) body.max_uses = Number(uses.value);
    create.disabled = true;
    try {
      await api("POST", roomPath(state.room) + "/invites", body);
      announce("Invite link created.");
      audited(state);
      uses.value = "";
      await loadInvitesInto(state, list);
      const first = list.querySelector("button");
      if (first) first.focus();
    } catch (err) {
      showErrors(form, err);
    } finally {
      create.disabled = false;
    }
  });
  box.append(form, list);
  loadInvitesInto(state, list);
  return box;
}

// --- webhooks -----------------------------------------------------------------

function absolute(url) {
  return /^https?:/.test(url) ? url : location.origin + url;
}

async function loadHooksInto(state, list) {
  try {
    const data = await api("GET", roomPath(state.room) + "/webhooks");
    if (stale(state)) return;
    list.textContent = "";
    (data.webhooks || []).forEach((hook) => {
      const bot = typeof hook.bot === "string" ? hook.bot : (hook.bot && hook.bot.username) || "?";
      list.appendChild(linkRow("webhook URL of @" + bot + " (" + hook.id + ")", absolute(hook.url || ""),
        "Posts as @" + bot, async () => {
          await api("DELETE", roomPath(state.room) + "/webhooks/" + encodeURIComponent(hook.id));
          announce("Webhook deleted.");
          await loadHooksInto(state, list);
          $("settings-webhooks-heading").focus();
        }, "Delete webhook of @" + bot + " (" + hook.id + ")"));
    });
    if (!list.childNodes.length) list.appendChild(el("li", "settings-empty", "No webhooks."));
  } catch (err) {
    if (!stale(state)) list.replaceChildren(el("li", "settings-empty", err.message));
  }
}

function webhooksSection(state) {
  const box = section("webhooks", "Webhooks");
  box.appendChild(el("p", "field-hint",
    "A webhook URL posts into this room as one of your bots: POST {\"text\": …}. Keep it secret."));
  const form = newForm("settings-inline");
  const bot = field(form, "bot", "Post as bot", el("select"));
  const create = el("button", "btn btn-primary btn-small", "Create webhook");
  create.type = "submit";
  form.appendChild(create);
  listBots().then((bots) => {
    if (stale(state)) return;
    bots.forEach((b) => {
      const o = el("option", null, personLabel(b));
      o.value = b.username;
      bot.appendChild(o);
    });
    if (!bots.length) {
      const o = el("option", null, "(you have no bots: create one under Bots)");
      o.value = "";
      bot.appendChild(o);
      create.disabled = true;
    }
  }).catch(() => {});
  const list = el("ul", "settings-list");
  list.id = "settings-webhook-list";
  list.setAttribute("aria-labelledby", "settings-webhooks-heading");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    if (!bot.value) return;
    create.disabled = true;
    try {
      await api("POST", roomPath(state.room) + "/webhooks", { bot: bot.value });
      announce("Webhook created.");
      await loadHooksInto(state, list);
      const first = list.querySelector("button");
      if (first) first.focus();
    } catch (err) {
      showErrors(form, err);
    } finally {
      create.disabled = false;
    }
  });
  box.append(form, list);
  loadHooksInto(state, list);
  return box;
}

// --- audit log ----------------------------------------------------------------

function auditSection(state) {
  const box = section("audit", "Audit log");
  const list = el("ol", "settings-audit");
  list.setAttribute("aria-labelledby", "settings-audit-heading");
  const more = button("btn btn-small", "Load older entries");
  more.hidden = true;
  let before = null;
  let run = 0;   // a reload drops the answers of the loads before it
  const load = async (fresh) => {
    if (fresh) { run += 1; before = null; }
    const mine = run;
    more.disabled = true;
    try {
      const data = await api("GET", roomPath(state.room) + "/audit?limit=" + AUDIT_PAGE +
        (before !== null ? "&before=" + before : ""));
      if (stale(state) || mine !== run) return;
      if (fresh) list.textContent = "";
      list.querySelectorAll(".settings-empty").forEach((n) => n.remove());
      (data.entries || []).forEach((entry) => {
        const li = el("li", "audit-entry");
        const time = el("time", "msg-time", entry.at ? formatDateTime(new Date(entry.at)) : "");
        if (entry.at) time.dateTime = entry.at;
        const target = entry.target ? " → " + userName(entry.target) : "";
        li.append(time, el("span", null, " " + userName(entry.actor) + " " +
          String(entry.action || "").replace(/_/g, " ") + target));
        list.appendChild(li);
        before = entry.id;
      });
      if (!list.childNodes.length) list.appendChild(el("li", "settings-empty", "Nothing yet."));
      more.hidden = !data.has_more;
    } catch (err) {
      if (!stale(state) && mine === run) list.appendChild(el("li", "settings-empty", err.message));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", () => load(false));
  state.reloadAudit = () => load(true);
  box.append(list, more);
  load(true);
  return box;
}

// --- the dialog ---------------------------------------------------------------

function render(focus) {
  const room = rooms.get(open.room);
  const body = $("settings-body");
  body.textContent = "";
  if (!room || !room.member) { closeSettings(false); return; }
  const role = roleOf(room.name);
  $("settings-heading").textContent = "Settings of " + roomLabel(room);
  $("settings-role").textContent = role ? "Your role: " + ROLE_NAMES[role] : "";
  body.appendChild(aboutSection(room));
  body.appendChild(membersSection(open));
  if (canModerate(room.name)) {
    body.appendChild(bansSection(open));
    if (room.private) body.appendChild(invitesSection(open));
    body.appendChild(webhooksSection(open));
    body.appendChild(auditSection(open));
  }
  if (focus) showDialog($("settings-dialog"));
}

export function openSettings() {
  const room = currentRoom();
  if (!room || !room.member || room.kind === "dm") return;
  generation += 1;
  open = { room: room.name, generation };
  render(true);
}

// The room shown, if the dialog is open.
export function settingsRoom() {
  return open ? open.room : null;
}

// The members and the banned asked again (someone was kicked or banned).
export function refreshPeople() {
  if (!open) return;
  const members = $("settings-member-list");
  if (members && !members.querySelector(".confirm-text")) loadMembersInto(open, members);
  loadBansInto(open, $("settings-ban-list"));
  audited(open);
}

// Everything drawn again (my role changed, someone was removed).
export function reloadSettings() {
  if (!open) return;
  const active = document.activeElement;
  const editing = active && $("settings-about") && $("settings-about").contains(active) &&
    active.matches("input, textarea");
  if (editing) return;
  generation += 1;
  open = { room: open.room, generation };
  render(false);
  if (!document.activeElement || document.activeElement === document.body) $("settings-heading").focus();
}

export function closeSettings(focusBack = true) {
  if (!open) return;
  open = null;
  closeDialog($("settings-dialog"), focusBack);
}

export function wireRoomSettings() {
  wireDialog($("settings-dialog"), () => {
    open = null;
    $("settings-body").textContent = "";
  });
  $("settings-toggle").addEventListener("click", openSettings);
}
