// Mentions: the badge on a room (its view's `mentions`, then `mention`
// events), cleared when the room is read; `@name` in a body drawn as a mark,
// brighter when it names me, in the body rendered from Markdown.
import { el } from "./dom.js";
import { proseTextNodes, renderMarkdown } from "./markdown.js";
import { renderRooms } from "./rooms.js";
import { isMe } from "./login.js";
import { isOpen, rooms } from "./state.js";
import { onReset } from "./reset.js";

// `@name` where the server would see one: not inside a word or an address.
const MENTION = /(^|[^\w@.])@([A-Za-z0-9_]{3,32})(?![\w])/g;

let counted = new Set();   // ids of messages counted in a room's badge

// Server event `mention` {room, message}: one more on the room's badge,
// unless that room is open (it is being read) or the message was counted.
export function countMention(data) {
  const room = rooms.get(data.room);
  const id = data.message && data.message.id;
  if (!room || !id || counted.has(id) || isOpen(data.room)) return;
  counted.add(id);
  room.mentions = (room.mentions || 0) + 1;
  renderRooms();
}

// A message that mentioned me was deleted before I read it.
export function uncountMention(m) {
  const room = rooms.get(m.room);
  if (!room || !counted.has(m.id)) return;
  counted.delete(m.id);
  if (room.mentions > 0 && !isOpen(m.room)) {
    room.mentions -= 1;
    renderRooms();
  }
}

export function mentionsMe(m) {
  return Array.isArray(m.mentions) && m.mentions.some((name) => isMe(name));
}

// The body, rendered from Markdown (markdown.js), with each `@name` of
// `m.mentions` in its prose (not in code or links) in a <mark>.
export function bodyWithMentions(m) {
  const body = el("div", "msg-body");
  body.append(renderMarkdown(m.body));
  const names = new Set((m.mentions || []).map((name) => name.toLowerCase()));
  if (names.size) proseTextNodes(body).forEach((node) => markMentions(node, names));
  return body;
}

function markMentions(node, names) {
  const text = node.data;
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(MENTION)) {
    const name = match[2].toLowerCase();
    if (!names.has(name)) continue;
    const start = match.index + match[1].length;
    parts.push(document.createTextNode(text.slice(last, start)));
    parts.push(el("mark", isMe(name) ? "mention mention-me" : "mention", "@" + match[2]));
    last = start + 1 + match[2].length;
  }
  if (!parts.length) return;
  parts.push(document.createTextNode(text.slice(last)));
  node.replaceWith(...parts);
}

export function resetMentions() {
  counted = new Set();
}

onReset(resetMentions);
