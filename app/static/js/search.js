// Message search (GET /api/search): the sidebar's search box, a results panel
// over the room (room, author, time, the body as text with the words found
// marked), "More results" pages on with `before`; a hit opens its room around
// that message (history `around`), highlighted.
import { api } from "./api.js";
import { $, button, el, flash } from "./dom.js";
import { formatDateTime, formatTime, handle, roomLabel } from "./labels.js";
import { closeDrawers } from "./layout.js";
import { openRoom } from "./room-view.js";
import { current, rooms } from "./state.js";
import { onReset } from "./reset.js";

const PAGE = 20;
const SNIPPET = 160;
const query = { q: "", before: null, seq: 0, shown: 0 };

// The words of a query worth marking (no quotes, `or`, or `-excluded`).
function terms(q) {
  return q.replace(/"/g, " ").split(/\s+/)
    .filter((w) => w && w.toLowerCase() !== "or" && !w.startsWith("-"))
    .map((w) => w.replace(/[^\p{L}\p{N}_]/gu, "")).filter(Boolean);
}

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// Up to SNIPPET characters of the body around its first found word, as text
// nodes with the found words in <mark>.
function snippet(body, words) {
  const p = el("p", "hit-body");
  const re = words.length ? new RegExp("(" + words.map(escapeRe).join("|") + ")", "giu") : null;
  let text = body;
  if (text.length > SNIPPET) {
    const first = re ? text.search(re) : -1;
    const start = Math.max(0, Math.min(first - 40, text.length - SNIPPET));
    text = (start > 0 ? "…" : "") + text.slice(Math.max(0, start), start + SNIPPET) + "…";
  }
  if (!re) { p.textContent = text; return p; }
  text.split(re).forEach((part, i) => {
    p.append(i % 2 ? el("mark", "hit-mark", part) : document.createTextNode(part));
  });
  return p;
}

function hitItem(m, words) {
  const li = el("li");
  const hit = button("search-hit");
  hit.dataset.id = String(m.id);
  hit.dataset.room = m.room;
  const room = rooms.get(m.room);
  const head = el("span", "hit-head");
  const created = new Date(m.created_at);
  const time = el("time", "hit-time", formatTime(created));
  time.dateTime = m.created_at;
  time.title = formatDateTime(created);
  head.append(el("span", "hit-room", room ? roomLabel(room) : "#" + m.room),
    el("span", "hit-author", m.author.display_name), el("span", "hit-handle", handle(m.author)),
    time);
  hit.append(head, snippet(m.body, words));
  hit.addEventListener("click", () => openHit(m));
  li.appendChild(hit);
  return li;
}

function openHit(m) {
  closeSearch(false);
  openRoom(m.room, true, m.id);
}

async function runSearch(more) {
  const seq = ++query.seq;
  const status = $("search-status");
  const moreButton = $("search-more");
  let path = "/api/search?q=" + encodeURIComponent(query.q) + "&limit=" + PAGE;
  if (more && query.before) path += "&before=" + query.before;
  moreButton.disabled = true;
  if (!more) {
    $("search-results").textContent = "";
    query.shown = 0;
    status.textContent = "Searching…";
  }
  try {
    const page = await api("GET", path);
    if (seq !== query.seq) return;
    const words = terms(query.q);
    const items = page.messages.map((m) => hitItem(m, words));
    $("search-results").append(...items);
    // "More results": the focus goes to the first new hit (the button may go).
    if (more && items.length) items[0].querySelector("button").focus();
    query.shown += page.messages.length;
    query.before = page.messages.length ? page.messages[page.messages.length - 1].id : null;
    moreButton.hidden = !page.has_more;
    status.textContent = query.shown ? query.shown + (page.has_more ? "+" : "") +
      (query.shown === 1 ? " message" : " messages") + " found for “" + query.q + "”" :
      "Nothing found for “" + query.q + "”";
  } catch (err) {
    if (seq !== query.seq) return;
    status.textContent = err.message;
    if (err.code === "rate_limited") flash(err.message);
  } finally {
    moreButton.disabled = false;
  }
}

function openSearch(q) {
  query.q = q;
  query.before = null;
  $("search-panel").hidden = false;
  $("search-heading").textContent = "Search results";
  closeDrawers();
  runSearch(false);
  $("search-panel").focus();
}

export function closeSearch(focusBack) {
  $("search-panel").hidden = true;
  query.seq += 1;
  if (focusBack) $("search-input").focus();
  else if (current.name) $("composer-input").focus();
}

export function wireSearch() {
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("search-input").value.trim();
    if (!q) return;
    if (q.length > 200) { flash("A search can be at most 200 characters."); return; }
    openSearch(q);
  });
  $("search-close").addEventListener("click", () => closeSearch(true));
  $("search-more").addEventListener("click", () => runSearch(true));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("search-panel").hidden) closeSearch(true);
  });
}

onReset(() => closeSearch(false), "redraw");
