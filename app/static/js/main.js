/*
 * The browser chat client: ES modules, no build step. This module starts it:
 * it wires each part's controls, logs in (or resumes the stored login) and logs out.
 *
 * The REST API and Socket.IO events follow docs/api.md. Rules the
 * client keeps, each in one module:
 *  - user content goes into the page as text only (dom.js, textContent);
 *  - messages are ordered and de-duplicated by id (message-list.js);
 *  - a message is pending until the server acknowledges it and is re-sent
 *    with the same client_id after a reconnect (pending.js).
 * docs/client.md lists what each module holds.
 */
import { setAlertOpener } from "./alerts.js";
import { api } from "./api.js";
import { showAuth, wireAuth } from "./auth.js";
import { wireBots } from "./bots.js";
import { wireComposer } from "./composer.js";
import { wireDrafts } from "./drafts.js";
import { goOnline } from "./connection.js";
import { $, avatar, flash } from "./dom.js";
import { wireMessageActions } from "./edit.js";
import { wireHistory } from "./history.js";
import { captureInvite, takeInvite, wireInvites } from "./invites.js";
import { wireDrawers } from "./layout.js";
import { login, onLoginEnd, startLogin } from "./login.js";
import { wireModeration } from "./moderation.js";
import { wireMute } from "./mute.js";
import { wireNotify } from "./notify.js";
import { wirePins } from "./pins.js";
import { wireReactions } from "./reactions.js";
import { setJumper, wireReplies } from "./replies.js";
import { markRead } from "./reads.js";
import { wireRoomForms } from "./room-forms.js";
import { wireRoomSettings } from "./room-settings.js";
import { resetClient } from "./reset.js";
import { defaultRoom, navigate, openRoom, roomFromHash } from "./room-view.js";
import { loadRooms } from "./rooms.js";
import { wireSearch } from "./search.js";
import { wireThreadPanel } from "./thread-panel.js";
import { wireUnread } from "./unread.js";
import { wireUploads } from "./uploads.js";
import { wireViewer } from "./image-viewer.js";

function showMe(me) {
  $("me-name").textContent = me.display_name;
  $("me-username").textContent = "@" + me.username;
  const face = avatar(me);
  $("me-avatar").replaceWith(face);
  face.id = "me-avatar";
}

async function startChat() {
  $("auth-view").hidden = true;
  $("chat-view").hidden = false;
  showMe(login.me);
  try {
    await loadRooms();
  } catch (err) {
    if (login.token) flash(err.message);
    return;
  }
  const name = (await takeInvite()) || defaultRoom();   // an invite link lands in its room
  if (name) navigate(name);
  goOnline();
  $("composer-input").focus();
}

function logout(message) {
  resetClient();   // every module forgets what it knew (reset.js)
  showAuth(message);
}

function wirePage() {
  wireAuth((result) => {
    startLogin(result.token, result.user);
    startChat();
  });
  wireRoomForms();
  wireComposer();
  wireDrafts();
  wireHistory();
  wireUnread(openRoom);
  wireMessageActions();
  wireDrawers();
  wireReactions();
  wireSearch();
  wireNotify();
  wireMute();
  wireReplies($("messages"));
  wireThreadPanel();
  wireModeration();
  wirePins();
  wireRoomSettings();
  wireBots();
  wireInvites(navigate, () => Boolean(login.me));
  setJumper((name, id) => openRoom(name, true, id));
  setAlertOpener(navigate);
  wireUploads();
  wireViewer();
  // The server ends the token everywhere (its other tabs hear session_ended);
  // the request leaves with the token before this page forgets it.
  $("logout").addEventListener("click", () => {
    api("POST", "/api/auth/logout").catch(() => {});
    logout();
  });
  window.addEventListener("hashchange", () => {
    const name = roomFromHash();
    if (name && login.me) openRoom(name);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") markRead();
  });
  onLoginEnd(logout);
}

async function init() {
  wirePage();
  captureInvite();
  if (!login.token) { showAuth(); return; }
  try {
    login.me = await api("GET", "/api/me");
  } catch (err) {
    if (err.status !== 401) showAuth(err.message + " Reload to try again, or log in.");
    return;   // a 401 has logged out already
  }
  startChat();
}

init();
