// Replies in the message list: the quoted excerpt above a reply (a click jumps
// to the original, loading the history around it when it is not shown), the
// reply count and last-reply time under a message with replies, and the
// `thread` event that moves those counts live.
import { $, button, el } from "./dom.js";
import { formatDateTime, formatTime, personLabel } from "./labels.js";
import { current, timeline } from "./state.js";

let jumper = null;        // (name, id) => opens the room around message id (room-view.js)
let threadOpener = null;  // (message) => opens the thread panel (thread-panel.js)
const threadListeners = new Set();

export function setJumper(fn) { jumper = fn; }
export function setThreadOpener(fn) { threadOpener = fn; }
// Called with each `thread` event (the thread panel keeps its heading in step).
export function onThreadChange(fn) { threadListeners.add(fn); }

// The quote above a reply: a button that jumps to the original.
export function replyQuote(m) {
  const r = m.reply_to;
  const quote = button("reply-quote");
  quote.dataset.jump = String(r.id);
  const text = r.excerpt || "(deleted message)";
  quote.setAttribute("aria-label", "In reply to " + personLabel(r.author) + ": " +
    text.slice(0, 60) + ". Show the original message");
  quote.append(el("span", "reply-quote-author", personLabel(r.author)),
    el("span", "reply-quote-text" + (r.excerpt ? "" : " reply-quote-deleted"), text));
  return quote;
}

function repliesText(thread) {
  return thread.replies + (thread.replies === 1 ? " reply" : " replies");
}

// Under a message with replies: "3 replies · last reply 14:02", opening the thread.
export function threadSummary(m) {
  const b = button("thread-summary");
  b.dataset.thread = String(m.id);
  if (!m.thread) { b.hidden = true; return b; }
  const last = m.thread.last_reply_at ? new Date(m.thread.last_reply_at) : null;
  b.append(el("span", "thread-count", repliesText(m.thread)));
  if (last) {
    const time = el("time", "thread-last", "last reply " + formatTime(last));
    time.dateTime = m.thread.last_reply_at;
    time.title = formatDateTime(last);
    b.append(" ", time);  // a space between the words, for what reads the text
  }
  const about = m.deleted ? "a deleted message" : personLabel(m.author) + ": " +
    (m.body || "").slice(0, 40);
  // The name starts with the text shown (speech input says what it sees).
  b.setAttribute("aria-label", repliesText(m.thread) +
    (last ? ", last reply " + formatTime(last) + " (" + formatDateTime(last) + ")" : "") +
    ": open the thread of " + about);
  return b;
}

// The "Reply" action of a message (opens its thread with the composer).
export function replyButton(m) {
  const reply = button("msg-action", "Reply");
  reply.dataset.action = "reply";
  reply.setAttribute("aria-label", "Reply to " + personLabel(m.author) + ": " +
    (m.body || "").slice(0, 40));
  return reply;
}

// Server event `thread` {room, message_id, thread}.
export function onThread(data) {
  if (!data) return;
  if (data.room === current.name) {
    const m = timeline.messages.get(data.message_id);
    if (m) {
      m.thread = data.thread;
      const old = $("messages").querySelector('li.msg[data-id="' + data.message_id +
        '"] .thread-summary');
      // Updated in place: the same button keeps the focus, and stays the
      // place the thread panel gives the focus back to.
      if (old) {
        const fresh = threadSummary(m);
        old.replaceChildren(...fresh.childNodes);
        old.hidden = fresh.hidden;
        if (fresh.hasAttribute("aria-label")) {
          old.setAttribute("aria-label", fresh.getAttribute("aria-label"));
        } else old.removeAttribute("aria-label");
      }
    }
  }
  threadListeners.forEach((fn) => fn(data));
}

// A message of the open room was edited or deleted: the replies shown that
// quote it quote it afresh (its first EXCERPT characters; "" once deleted).
const EXCERPT = 120;
export function requote(parent) {
  if (parent.room !== current.name) return;
  timeline.messages.forEach((m) => {
    if (!m.reply_to || m.reply_to.id !== parent.id) return;
    m.reply_to = { ...m.reply_to, excerpt: parent.deleted ? "" : parent.body.slice(0, EXCERPT) };
    const old = $("messages").querySelector('li.msg[data-id="' + m.id + '"] .reply-quote');
    if (old) old.replaceWith(replyQuote(m));
  });
}

// Shows message `id` of the open room: scrolled to and highlighted if it is in
// the list, else the page of history around it is loaded.
export function jumpTo(id) {
  const node = $("messages").querySelector('li.msg[data-id="' + id + '"]');
  if (node) {
    $("messages").querySelectorAll("li.msg.highlight").forEach((n) => n.classList.remove("highlight"));
    node.classList.add("highlight");
    node.tabIndex = -1;
    node.scrollIntoView({ block: "center" });
    node.focus({ preventScroll: true });
    return;
  }
  if (jumper && current.name) jumper(current.name, id);
}

export function wireReplies(list) {
  list.addEventListener("click", (e) => {
    const quote = e.target.closest("button.reply-quote[data-jump]");
    if (quote && list.id === "messages") { jumpTo(Number(quote.dataset.jump)); return; }
    const opener = e.target.closest('button.thread-summary[data-thread], button[data-action="reply"]');
    if (!opener || !threadOpener) return;
    const li = opener.closest("li.msg[data-id]");
    const m = li && timeline.messages.get(Number(li.dataset.id));
    if (m) threadOpener(m, opener.dataset.action === "reply");
  });
}
