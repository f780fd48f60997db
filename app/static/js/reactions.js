// Reactions under each message: emoji + count (pressed if mine, the people in
// its tooltip); a click toggles mine; a small picker offers a few common emoji.
// Changes go over the socket (`react`, or REST when offline) and arrive for
// everyone as `reaction` {room, message_id, reactions}.
import { api } from "./api.js";
import { $, button, el, flash } from "./dom.js";
import { personLabel } from "./labels.js";
import { isMe } from "./login.js";
import { connection, emitAck } from "./socket.js";
import { isOpen, timeline } from "./state.js";
import { onReset } from "./reset.js";
import { moreEmojiButton, openEmojiPicker, wireEmojiPicker } from "./emoji-picker.js";

const COMMON_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];

function names(usernames) {
  if (usernames.length <= 1) return usernames.join("");
  return usernames.slice(0, -1).join(", ") + " and " + usernames[usernames.length - 1];
}

function chip(reaction) {
  const mine = reaction.usernames.some((u) => isMe(u));
  const count = reaction.usernames.length;
  const b = button("reaction" + (mine ? " mine" : ""));
  b.dataset.react = reaction.emoji;
  b.setAttribute("aria-pressed", String(mine));
  b.title = names(reaction.usernames) + " reacted with " + reaction.emoji;
  b.setAttribute("aria-label", reaction.emoji + " " + count + ": " + names(reaction.usernames) +
    (mine ? " (remove yours)" : " (add yours)"));
  b.append(el("span", "reaction-emoji", reaction.emoji), el("span", "reaction-count", count));
  return b;
}

// The bar under a message (empty when it has no reactions).
export function reactionBar(m) {
  const bar = el("div", "reactions");
  (m.reactions || []).forEach((r) => { if (r.usernames.length) bar.appendChild(chip(r)); });
  bar.hidden = !bar.childNodes.length;
  return bar;
}

// The "add a reaction" button of a message's actions.
export function addReactionButton(m) {
  const add = button("msg-action react-add", "☺+");
  add.dataset.action = "react";
  add.setAttribute("aria-label", "Add a reaction to " + personLabel(m.author) + ": " +
    m.body.slice(0, 40));
  add.setAttribute("aria-haspopup", "true");
  add.setAttribute("aria-expanded", "false");
  return add;
}

// New reactions for a message of the open room: stored, and its bar redrawn.
export function applyReactions(messageId, reactions) {
  const m = timeline.messages.get(messageId);
  if (!m) return;
  m.reactions = reactions;
  const node = $("messages").querySelector('li.msg[data-id="' + messageId + '"] .reactions');
  if (node) node.replaceWith(reactionBar(m));
}

// Server event `reaction`.
export function onReaction(data) {
  if (data && isOpen(data.room)) applyReactions(data.message_id, data.reactions || []);
}

async function react(messageId, emoji, on) {
  let message = null;
  if (connection.connected) {
    const res = await emitAck("react", { message_id: messageId, emoji, on });
    if (res && res.ok) message = res.message;
    else if (res && res.error && !["disconnected", "timeout"].includes(res.error.code)) {
      flash(res.error.message);
      return;
    }
  }
  if (!message) {
    try {
      message = await api(on ? "PUT" : "DELETE", "/api/messages/" + messageId + "/reactions/" +
        encodeURIComponent(emoji));
    } catch (err) {
      flash(err.message);
      return;
    }
  }
  applyReactions(message.id, message.reactions || []);
}

// Have I reacted to message `id` with `emoji`?
function reactedWith(id, emoji) {
  const m = timeline.messages.get(id);
  return Boolean(m && (m.reactions || []).some((r) => r.emoji === emoji && r.usernames.some(isMe)));
}

// --- the picker -----------------------------------------------------------------

let picker = null;   // {node, opener}

function closePicker(focusBack) {
  if (!picker) return;
  const { node, opener } = picker;
  picker = null;
  const li = node.closest("li.msg");
  if (li) li.classList.remove("picking");
  node.remove();
  opener.setAttribute("aria-expanded", "false");
  if (focusBack) opener.focus();
}

function openPicker(opener, li) {
  closePicker(false);
  const id = Number(li.dataset.id);
  const m = timeline.messages.get(id);
  if (!m) return;
  const node = el("div", "reaction-picker");
  node.setAttribute("role", "group");
  node.setAttribute("aria-label", "Pick a reaction");
  COMMON_EMOJI.forEach((emoji) => {
    const mine = (m.reactions || []).some((r) => r.emoji === emoji && r.usernames.some(isMe));
    const b = button("picker-emoji", emoji);
    b.setAttribute("aria-label", (mine ? "Remove your " : "React with ") + emoji);
    b.addEventListener("click", () => {
      closePicker(true);
      react(id, emoji, !mine);
    });
    node.appendChild(b);
  });
  // Any other emoji: the full picker (emoji-picker.js) in place of this one.
  const more = moreEmojiButton();
  more.addEventListener("click", (e) => {
    e.stopPropagation();
    closePicker(false);
    openEmojiPicker(li, opener, (emoji) => react(id, emoji, !reactedWith(id, emoji)))
      .catch(() => flash("The emoji picker could not load."));
  });
  node.appendChild(more);
  li.appendChild(node);
  li.classList.add("picking");
  opener.setAttribute("aria-expanded", "true");
  picker = { node, opener };
  node.addEventListener("focusout", (e) => {
    if (picker && picker.node === node && e.relatedTarget && !node.contains(e.relatedTarget) &&
        e.relatedTarget !== opener) closePicker(false);
  });
  node.firstChild.focus();
}

export function wireReactions() {
  wireEmojiPicker();
  $("messages").addEventListener("click", (e) => {
    const chipButton = e.target.closest("button.reaction[data-react]");
    if (chipButton) {
      const li = chipButton.closest("li.msg[data-id]");
      react(Number(li.dataset.id), chipButton.dataset.react,
        chipButton.getAttribute("aria-pressed") !== "true");
      return;
    }
    const opener = e.target.closest('button[data-action="react"]');
    if (!opener) return;
    if (picker && picker.opener === opener) { closePicker(true); return; }
    openPicker(opener, opener.closest("li.msg[data-id]"));
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && picker) { e.stopPropagation(); closePicker(true); }
  }, true);
  document.addEventListener("click", (e) => {
    if (picker && !picker.node.contains(e.target) && e.target !== picker.opener &&
        !picker.opener.contains(e.target)) closePicker(false);
  });
}

export function resetReactions() {
  closePicker(false);
}

onReset(resetReactions);
