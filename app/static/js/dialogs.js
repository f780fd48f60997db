// The page's modal dialogs (<dialog>: room settings, pinned messages, bots):
// showModal keeps the focus inside and the rest of the page inert; Esc, the
// close button ([data-close]) or a click on the backdrop closes one, and the
// focus goes back to the control that opened it. Copying a secret or a link
// to the clipboard is here too.
import { announce } from "./dom.js";
import { onReset } from "./reset.js";

const openers = new WeakMap();

// Opens `dialog` (modal), focusing `focus` (else its heading).
export function showDialog(dialog, focus) {
  if (!dialog.open) {
    openers.set(dialog, document.activeElement);
    dialog.showModal();
  }
  const target = focus || dialog.querySelector("h2");
  if (target) target.focus();
}

export function closeDialog(dialog, focusBack = true) {
  if (!dialog.open) return;
  if (!focusBack) openers.delete(dialog);
  dialog.close();
}

export function wireDialog(dialog, onClose) {
  dialog.addEventListener("click", (e) => {
    if (e.target === dialog || e.target.closest("[data-close]")) closeDialog(dialog);
  });
  dialog.addEventListener("close", () => {
    const opener = openers.get(dialog);
    openers.delete(dialog);
    if (onClose) onClose();
    if (opener && document.contains(opener) && typeof opener.focus === "function") opener.focus();
  });
}

// Copies `text`; the button says "Copied" for a moment. Where the Clipboard
// API is refused, the text is selected in `fallback` (an input) and copied
// with the older command.
export async function copyText(text, buttonNode, fallback) {
  let done = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      done = true;
    }
  } catch {
    done = false;
  }
  if (!done && fallback) {
    fallback.select();
    try { done = document.execCommand("copy"); } catch { done = false; }
  }
  if (!buttonNode) return done;
  const label = buttonNode.dataset.label || buttonNode.textContent;
  buttonNode.dataset.label = label;
  buttonNode.textContent = done ? "Copied" : "Select and copy it";
  announce(done ? "Copied to the clipboard." : "Could not copy; the text is selected.");
  setTimeout(() => { buttonNode.textContent = label; }, 2000);
  return done;
}

onReset(() => {
  document.querySelectorAll("dialog[open]").forEach((d) => closeDialog(d, false));
}, "redraw");
