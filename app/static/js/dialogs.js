// The page's modal dialogs (<dialog>: room settings, pinned messages, bots):
// showModal keeps the focus inside and the rest of the page inert; Esc, the
// close button ([data-close]) or a click on the backdrop closes one, and the
// focus goes back to the control that opened it. Copying a secret or a link
// to the clipboard is here too.
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

// Copies `text`; "Copied" shows beside the button for a moment (a status). Where the Clipboard
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
  // Said beside the button (its own name stays as it is).
  let status = buttonNode.nextElementSibling;
  if (!status || !status.classList.contains("copy-status")) {
    status = document.createElement("span");
    status.className = "copy-status";
    status.setAttribute("role", "status");
    buttonNode.after(status);
  }
  status.textContent = done ? "Copied" : "Selected: copy it";
  clearTimeout(Number(status.dataset.timer));
  status.dataset.timer = String(setTimeout(() => { status.textContent = ""; }, 3000));
  return done;
}

onReset(() => {
  document.querySelectorAll("dialog[open]").forEach((d) => closeDialog(d, false));
}, "redraw");
