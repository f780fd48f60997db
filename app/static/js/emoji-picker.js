// Every emoji, for reactions: emoji-picker-element (vendored from npm, loaded
// on first use) in a small dialog under a message. Its data is the vendored
// emoji-picker-element-data JSON served by this app (never its CDN default);
// the component keeps it, and the emoji used most, in IndexedDB
// (`emoji-picker-element-en`), which logging out deletes.
// Keyboard: the search box has the focus; Tab reaches the categories and the
// grid, the arrow keys move in it, Enter picks; Esc closes and gives the
// focus back to the button that opened it.
import { button, el } from "./dom.js";
import { onReset } from "./reset.js";

const MODULE = "../vendor/emoji-picker-element/index.js";
export const EMOJI_DATA_URL =
  new URL("../vendor/emoji-picker-element-data/en/emojibase/data.json", import.meta.url).href;
const DB_NAME = "emoji-picker-element-en";

let loading = null;
let shown = null;   // {box, opener}

function load() {
  if (!loading) loading = import(MODULE).catch((err) => { loading = null; throw err; });
  return loading;
}

export function closeEmojiPicker(focusBack) {
  if (!shown) return;
  const { box, opener } = shown;
  shown = null;
  box.remove();
  opener.setAttribute("aria-expanded", "false");
  if (focusBack && opener.isConnected) opener.focus();
}

export function emojiPickerOpen() { return Boolean(shown); }

// The "More emoji" button of the small picker.
export function moreEmojiButton() {
  const b = button("picker-emoji picker-more", "…");
  b.setAttribute("aria-label", "More emoji");
  b.setAttribute("aria-haspopup", "dialog");
  b.setAttribute("aria-expanded", "false");
  return b;
}

// Opens the picker in `host` (a message's element); `onPick(emoji)` with the
// emoji chosen. `opener` gets the focus back when it closes.
export async function openEmojiPicker(host, opener, onPick) {
  closeEmojiPicker(false);
  const { Picker } = await load();
  const box = el("div", "emoji-popover");
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", "Pick any emoji");
  const picker = new Picker({ dataSource: EMOJI_DATA_URL, locale: "en" });
  picker.classList.add("light");
  picker.addEventListener("emoji-click", (e) => {
    const emoji = e.detail && e.detail.unicode;
    closeEmojiPicker(true);
    if (emoji) onPick(emoji);
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeEmojiPicker(true); }
  });
  box.addEventListener("focusout", (e) => {
    if (shown && shown.box === box && e.relatedTarget && !box.contains(e.relatedTarget) &&
        e.relatedTarget !== opener) closeEmojiPicker(false);
  });
  box.append(picker);
  host.append(box);
  opener.setAttribute("aria-expanded", "true");
  shown = { box, opener };
  box.scrollIntoView({ block: "nearest" });
  focusSearch(picker, 50);
}

// The search box is in the component's shadow root once it has rendered.
function focusSearch(picker, tries) {
  const input = picker.shadowRoot && picker.shadowRoot.querySelector("input.search");
  if (input) { input.focus(); return; }
  if (tries > 0) requestAnimationFrame(() => focusSearch(picker, tries - 1));
}

export function wireEmojiPicker() {
  document.addEventListener("click", (e) => {
    if (shown && e.target.isConnected && !shown.box.contains(e.target) && !shown.opener.contains(e.target)) {
      closeEmojiPicker(false);
    }
  });
}

onReset(() => closeEmojiPicker(false));
onReset(() => {
  try { indexedDB.deleteDatabase(DB_NAME); } catch (err) { /* no IndexedDB here */ }
});
