// My bots, in a dialog opened from my menu in the sidebar ("Bots"): the list
// (GET /api/bots), a new bot (POST /api/bots: its API token is shown once,
// with a copy button), a new token for one (POST /api/bots/{username}/token:
// the old one stops working everywhere) and deleting one (its webhooks and
// sessions end with it).
import { api } from "./api.js";
import { closeDialog, copyText, showDialog, wireDialog } from "./dialogs.js";
import { $, announce, avatar, button, el, flash } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";
import { handle } from "./labels.js";

const botPath = (username) => "/api/bots/" + encodeURIComponent(username);

export async function listBots() {
  const data = await api("GET", "/api/bots");
  return (data && (data.bots || data.users)) || [];
}

// The token of a bot just made (or given a new token), shown once.
function showToken(bot, token, fresh) {
  const box = $("bot-token");
  box.textContent = "";
  const h = el("h3", null, (fresh ? "API token of the new bot " : "New API token of ") + handle(bot));
  h.id = "bot-token-heading";
  h.tabIndex = -1;
  box.setAttribute("aria-labelledby", h.id);
  const warn = el("p", "token-warning",
    "Copy it now: it is shown only this once. Anyone with this token can post as the bot; keep it secret.");
  const input = el("input", "link-input");
  input.readOnly = true;
  input.value = token;
  input.id = "bot-token-value";
  input.setAttribute("aria-label", "API token of " + handle(bot));
  const copy = button("btn btn-small btn-primary", "Copy token");
  copy.addEventListener("click", () => copyText(token, copy, input));
  const done = button("btn btn-small", "Done");
  done.addEventListener("click", () => {
    box.textContent = "";
    box.hidden = true;
    $("bot-username").focus();
  });
  const line = el("div", "link-line");
  line.append(input, copy, done);
  box.append(h, warn, line);
  box.hidden = false;
  h.focus();
}

function botRow(bot) {
  const li = el("li", "settings-row");
  li.dataset.username = bot.username;
  li.appendChild(avatar(bot));
  const names = el("span", "settings-names");
  names.append(el("span", "member-name", bot.display_name), el("span", "member-handle", handle(bot)));
  const actions = el("span", "settings-actions");
  const rotate = button("btn btn-small", "New token");
  rotate.setAttribute("aria-label", "New token for " + handle(bot));
  rotate.addEventListener("click", () => ask(li, "Give " + handle(bot) +
    " a new token? The old one stops working at once.", "New token", async () => {
    const data = await api("POST", botPath(bot.username) + "/token");
    showToken(bot, data.token, false);
    await renderList();
  }));
  const del = button("btn btn-small btn-danger-quiet", "Delete");
  del.setAttribute("aria-label", "Delete " + handle(bot));
  del.addEventListener("click", () => ask(li, "Delete " + handle(bot) +
    "? Its webhooks and sessions end.", "Delete", async () => {
    await api("DELETE", botPath(bot.username));
    announce(handle(bot) + " was deleted.");
    await renderList();
    $("bots-heading").focus();
  }));
  actions.append(rotate, del);
  li.append(names, actions);
  return li;
}

function ask(row, question, yesLabel, action) {
  const actions = row.querySelector(".settings-actions");
  const saved = Array.from(actions.childNodes);
  const yes = button("btn btn-small btn-danger", yesLabel);
  const no = button("btn btn-small", "Cancel");
  actions.textContent = "";
  actions.append(el("span", "confirm-text", question), yes, no);
  const restore = () => { actions.textContent = ""; actions.append(...saved); };
  no.addEventListener("click", () => { restore(); if (saved[0]) saved[0].focus(); });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try { await action(); } catch (err) { restore(); flash(err.message); }
  });
  yes.focus();
}

async function renderList() {
  const list = $("bot-list");
  try {
    const bots = await listBots();
    list.textContent = "";
    bots.forEach((b) => list.appendChild(botRow(b)));
    if (!bots.length) list.appendChild(el("li", "settings-empty", "You have no bots yet."));
  } catch (err) {
    list.replaceChildren(el("li", "settings-empty", err.message));
  }
}

export function openBots() {
  $("bot-token").hidden = true;
  $("bot-token").textContent = "";
  clearErrors($("bot-form"));
  renderList();
  showDialog($("bots-dialog"));
}

export function wireBots() {
  const dialog = $("bots-dialog");
  wireDialog(dialog, () => {
    $("bot-token").textContent = "";   // the token is not kept on the page
    $("bot-token").hidden = true;
  });
  $("bots-open").addEventListener("click", openBots);
  const form = $("bot-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const username = $("bot-username").value.trim().toLowerCase();
    const display = $("bot-display-name").value.trim();
    const body = { username };
    if (display) body.display_name = display;
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const data = await api("POST", "/api/bots", body);
      form.reset();
      await renderList();
      showToken(data.user, data.token, true);
    } catch (err) {
      showErrors(form, err);
    } finally {
      submit.disabled = false;
    }
  });
}

export function closeBots() {
  closeDialog($("bots-dialog"), false);
}
