// The sidebar's forms: create a room, join the open one, find a person and
// open a DM with them.
import { api, roomPath } from "./api.js";
import { $, avatar, el, flash } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";
import { navigate, openRoom } from "./room-view.js";
import { putRoom } from "./rooms.js";
import { isMe } from "./login.js";
import { joinRoom } from "./socket.js";
import { current } from "./state.js";

const SEARCH_DELAY_MS = 200;
let searchTimer = null;
let searchSeq = 0;

// Opens or closes the form `prefix`-form under its `prefix`-toggle button.
function toggleSideForm(prefix, open) {
  const form = $(prefix + "-form");
  const toggle = $(prefix + "-toggle");
  if (open === undefined) open = form.hidden;
  form.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
  if (!open) { toggle.focus(); return; }
  clearErrors(form);
  const input = form.querySelector("input:not(:disabled)");
  if (input) input.focus();
}

// A room I just became a member of: list it, take its live events, open it.
function enter(room) {
  putRoom(room);
  joinRoom(room.name);
  navigate(room.name);
}

// "Private, with a secret name": the server chooses the name (`p-` and random
// characters nobody outside the room can guess or probe), so the name field is
// off and Private on.
function secretNameChanged() {
  const secret = $("new-room-secret").checked;
  const name = $("new-room-name");
  name.disabled = secret;
  name.placeholder = secret ? "chosen by the server" : "e.g. design-team";
  if (secret) $("new-room-private").checked = true;
}

async function createRoom(form) {
  const secret = $("new-room-secret").checked;
  const payload = {
    title: $("new-room-title").value.trim(),
    private: secret || $("new-room-private").checked,
  };
  if (!secret) payload.name = $("new-room-name").value.trim().toLowerCase();
  clearErrors(form);
  try {
    const room = await api("POST", "/api/rooms", payload);
    form.reset();
    secretNameChanged();
    toggleSideForm("new-room", false);
    enter(room);
  } catch (err) {
    showErrors(form, err);
  }
}

async function joinCurrentRoom() {
  const name = current.name;
  try {
    const room = await api("POST", roomPath(name) + "/members");
    putRoom(room);
    joinRoom(room.name);
    if (current.name === name) openRoom(name, true);
  } catch (err) {
    flash(err.message);
  }
}

async function startDm(username) {
  try {
    const room = await api("POST", "/api/dm/" + encodeURIComponent(username));
    $("user-search").value = "";
    $("user-results").textContent = "";
    toggleSideForm("new-dm", false);
    enter(room);
  } catch (err) {
    showErrors($("new-dm-form"), err);
  }
}

function userResult(user) {
  const li = el("li");
  const choose = el("button", "user-result");
  choose.type = "button";
  choose.dataset.username = user.username;
  const names = el("span", "user-names");
  names.append(el("span", "user-display", user.display_name),
    el("span", "user-handle", "@" + user.username));
  choose.append(avatar(user), names);
  choose.addEventListener("click", () => startDm(user.username));
  li.appendChild(choose);
  return li;
}

async function searchUsers() {
  const q = $("user-search").value.trim().toLowerCase();
  const seq = ++searchSeq;
  const list = $("user-results");
  if (!q) { list.textContent = ""; return; }
  try {
    const data = await api("GET", "/api/users?q=" + encodeURIComponent(q));
    if (seq !== searchSeq) return;
    list.textContent = "";
    const users = data.users.filter((u) => !isMe(u.username));
    if (!users.length) list.appendChild(el("li", "side-empty", "Nobody found"));
    users.forEach((u) => list.appendChild(userResult(u)));
  } catch (err) {
    showErrors($("new-dm-form"), err);
  }
}

export function wireRoomForms() {
  $("new-room-toggle").addEventListener("click", () => toggleSideForm("new-room"));
  $("new-dm-toggle").addEventListener("click", () => toggleSideForm("new-dm"));
  const newRoom = $("new-room-form");
  newRoom.addEventListener("submit", (e) => { e.preventDefault(); createRoom(newRoom); });
  $("new-room-secret").addEventListener("change", secretNameChanged);
  $("new-room-private").addEventListener("change", () => {
    if (!$("new-room-private").checked && $("new-room-secret").checked) {
      $("new-room-secret").checked = false;
      secretNameChanged();
    }
  });
  newRoom.querySelector("[data-cancel]").addEventListener("click", () => {
    toggleSideForm("new-room", false);
  });
  $("new-dm-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const first = $("user-results").querySelector("button");
    if (first) first.click();
  });
  $("user-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchUsers, SEARCH_DELAY_MS);
  });
  $("user-search").addEventListener("keydown", (e) => {
    if (e.key === "Escape") toggleSideForm("new-dm", false);
  });
  $("join-room").addEventListener("click", joinCurrentRoom);
}
