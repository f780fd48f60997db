// A message's attachments: images as thumbnails that open the viewer, any
// other file as a chip (name and size) that downloads it.
import { button, el, flash } from "./dom.js";
import { download, fileUrl, formatSize } from "./file-urls.js";
import { openViewer } from "./image-viewer.js";

const THUMB_SIDE = 320;

export function attachmentsElement(m) {
  const box = el("div", "attachments");
  m.attachments.forEach((a) => box.appendChild(a.thumbnail_url ? imageTile(a) : fileChip(a)));
  return box;
}

function imageTile(a) {
  const tile = button("attachment-image");
  tile.setAttribute("aria-label", "View image " + a.name + " (" + a.width + "×" + a.height + ")");
  tile.dataset.fileId = String(a.id);
  const img = el("img");
  img.alt = "";
  // The thumbnail's box before it loads, so the list does not jump.
  const scale = Math.min(1, THUMB_SIDE / Math.max(a.width, a.height));
  img.width = Math.max(1, Math.round(a.width * scale));
  img.height = Math.max(1, Math.round(a.height * scale));
  fileUrl(a.thumbnail_url)
    .then((url) => { img.src = url; })
    .catch(() => tile.classList.add("broken"));
  tile.appendChild(img);
  tile.addEventListener("click", () => openViewer(a, tile));
  return tile;
}

function fileChip(a) {
  const chip = button("file-chip");
  chip.setAttribute("aria-label", "Download " + a.name + " (" + formatSize(a.size) + ")");
  chip.dataset.fileId = String(a.id);
  chip.append(el("span", "file-icon"), el("span", "file-name", a.name),
    el("span", "file-size", formatSize(a.size)));
  chip.addEventListener("click", () => download(a).catch((err) => flash(err.message)));
  return chip;
}
