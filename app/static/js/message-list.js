// The open room's message list (#messages): one element per message, in id
// order and de-duplicated by id; my pending sends stay last.
import { $, avatar, button, el } from "./dom.js";
import { formatDateTime, formatTime, handle } from "./labels.js";
import { bodyWithMentions, mentionsMe } from "./mentions.js";
import { addReactionButton, reactionBar } from "./reactions.js";
import { replyButton, replyQuote, threadSummary } from "./replies.js";
import { attachmentsElement } from "./attachments.js";
import { isMine } from "./login.js";
import { decorateMessage, moderatorActions } from "./roles.js";
import { timeline } from "./state.js";
import { onReset } from "./reset.js";

const GROUP_GAP_MS = 5 * 60 * 1000;

// A message's author line: display name, @username, and when it was sent.
export function messageMeta(m) {
  const meta = el("div", "msg-meta");
  meta.append(el("span", "msg-author", m.author.display_name),
    el("span", "msg-handle", handle(m.author)));
  const created = new Date(m.created_at);
  const time = el("time", "msg-time", formatTime(created));
  time.dateTime = m.created_at;
  time.title = formatDateTime(created);
  meta.appendChild(time);
  return meta;
}

export function messageElement(m) {
  const li = el("li", "msg");
  li.dataset.id = String(m.id);
  li.dataset.author = m.author.username;
  li.dataset.time = m.created_at;
  if (isMine(m)) li.classList.add("own");
  if (m.deleted) li.classList.add("deleted");
  else if (mentionsMe(m)) li.classList.add("mentions-me");
  li.appendChild(avatar(m.author));

  const main = el("div", "msg-main");
  const meta = messageMeta(m);
  if (m.edited_at && !m.deleted) meta.appendChild(el("span", "msg-edited", "(edited)"));
  main.appendChild(meta);
  if (m.reply_to) main.appendChild(replyQuote(m));
  const files = !m.deleted && m.attachments && m.attachments.length ? m.attachments : null;
  if (m.deleted) main.appendChild(el("p", "msg-body msg-deleted", "This message was deleted."));
  else if (m.body || !files) main.appendChild(bodyWithMentions(m));
  if (files) main.appendChild(attachmentsElement(m));
  if (!m.deleted) main.appendChild(reactionBar(m));
  main.appendChild(threadSummary(m));   // a deleted message keeps its thread
  li.appendChild(main);
  if (!m.deleted) li.appendChild(actions(m));
  decorateMessage(li, m);
  return li;
}

// Everyone's messages take reactions; mine can also be edited and deleted.
function actions(m) {
  const bar = el("div", "msg-actions");
  bar.appendChild(addReactionButton(m));
  bar.appendChild(replyButton(m));
  if (isMine(m)) bar.append(...ownActions(m));
  bar.append(...moderatorActions(m));
  return bar;
}

function ownActions(m) {
  const edit = button("msg-action", "Edit");
  edit.dataset.action = "edit";
  edit.setAttribute("aria-label", "Edit message: " + m.body.slice(0, 40));
  const del = button("msg-action", "Delete");
  del.dataset.action = "delete";
  del.setAttribute("aria-label", "Delete message: " + m.body.slice(0, 40));
  return [edit, del];
}

// Consecutive messages by one author within a few minutes share a header.
export function regroup(node) {
  if (!node || !node.classList || !node.classList.contains("msg")) return;
  const prev = node.previousElementSibling;
  let cont = false;
  if (prev && prev.dataset.author === node.dataset.author && prev.dataset.time && node.dataset.time) {
    const gap = Date.parse(node.dataset.time) - Date.parse(prev.dataset.time);
    cont = gap >= 0 && gap < GROUP_GAP_MS;
  }
  node.classList.toggle("cont", cont);
}

// Puts `node` where `old` was and fixes the grouping around it.
export function replaceNode(old, node) {
  old.replaceWith(node);
  regroup(node);
}

export function firstPending() {
  return $("messages").querySelector("li.msg.pending");
}

export function messageNode(id) {
  return $("messages").querySelector('li.msg[data-id="' + id + '"]');
}

// Inserts or updates one message of the open room, keeping id order.
// True if it was new.
export function insertMessage(m) {
  const list = $("messages");
  const existing = timeline.messages.get(m.id);
  if (existing) {
    const changed = existing.body !== m.body || existing.deleted !== m.deleted ||
      existing.edited_at !== m.edited_at ||
      Boolean(existing.pinned) !== Boolean(m.pinned) || existing.deleted_by !== m.deleted_by ||
      JSON.stringify(existing.reactions || []) !== JSON.stringify(m.reactions || []) ||
      JSON.stringify(existing.thread || null) !== JSON.stringify(m.thread || null) ||
      JSON.stringify(existing.reply_to || null) !== JSON.stringify(m.reply_to || null);
    if (!changed) return false;
    timeline.messages.set(m.id, m);
    const old = messageNode(m.id);
    if (old && !old.classList.contains("editing")) replaceNode(old, messageElement(m));
    return false;
  }
  timeline.messages.set(m.id, m);
  const node = messageElement(m);
  // After the last confirmed message with a smaller id; pending ones stay last.
  const nodes = list.querySelectorAll("li.msg[data-id]");
  let after = null;
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (Number(nodes[i].dataset.id) < m.id) { after = nodes[i]; break; }
  }
  const before = after ? after.nextElementSibling : (nodes.length ? nodes[0] : firstPending());
  list.insertBefore(node, before);
  regroup(node);
  regroup(node.nextElementSibling);
  $("empty-room").hidden = true;
  return true;
}

export function showEmpty(text) {
  const empty = $("empty-room");
  empty.textContent = text;
  empty.hidden = false;
}

export function clearList() {
  $("messages").textContent = "";
}

export function nearBottom() {
  const s = $("scroller");
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

export function scrollToBottom() {
  const s = $("scroller");
  s.scrollTop = s.scrollHeight;
  $("jump-latest").hidden = true;
}

onReset(clearList, "redraw");
