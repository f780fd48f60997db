// The full image in a modal <dialog>: the rest of the page is inert while it
// is open and Tab keeps the focus on its controls, Escape or the close button closes it, and
// focus goes back to the thumbnail that opened it.
import { $, el, flash } from "./dom.js";
import { download, fileUrl, formatSize } from "./file-urls.js";

let opener = null;
let shown = null;

export function openViewer(attachment, from) {
  const dialog = $("image-viewer");
  // The image element lives only while the viewer is open.
  const img = el("img", "viewer-image");
  img.id = "viewer-image";
  img.alt = attachment.name;
  $("viewer-frame").replaceChildren(img);
  opener = from;
  shown = attachment;
  $("viewer-title").textContent = attachment.name;
  $("viewer-caption").textContent = attachment.width + "×" + attachment.height + " · " +
    formatSize(attachment.size);
  fileUrl(attachment.url)
    .then((url) => { if (shown === attachment) img.src = url; })
    .catch((err) => flash(err.message));
  dialog.showModal();
  $("viewer-close").focus();
}

export function wireViewer() {
  const dialog = $("image-viewer");
  $("viewer-close").addEventListener("click", () => dialog.close());
  $("viewer-download").addEventListener("click", () => {
    if (shown) download(shown).catch((err) => flash(err.message));
  });
  // Tab and Shift+Tab cycle among the dialog's own controls (a modal dialog
  // alone would let the focus out to the browser's).
  dialog.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const stops = Array.from(dialog.querySelectorAll("button:not([disabled])"));
    const at = stops.indexOf(document.activeElement);
    const next = (at + (e.shiftKey ? -1 : 1) + stops.length) % stops.length;
    e.preventDefault();
    stops[next].focus();
  });
  // A click on the backdrop (outside the frame) closes it too.
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => {
    shown = null;
    $("viewer-frame").replaceChildren();
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });
}
