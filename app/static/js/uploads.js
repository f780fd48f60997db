// Files to send with the next message: picked with the attach button, dropped
// on the room or pasted into the message box. Each uploads at once
// (XMLHttpRequest, for its upload progress) with a progress bar and a cancel
// button, then waits in the tray as a chip until the message is sent.
import { $, button, el, flash } from "./dom.js";
import { formatSize } from "./file-urls.js";
import { login } from "./login.js";
import { onReset } from "./reset.js";

const MAX_BYTES = 10 * 1024 * 1024;   // MAX_UPLOAD_BYTES
const MAX_FILES = 10;                 // attachments on one message

let items = [];   // [{file, status: uploading|done|failed, attachment, xhr, el}]

export function readyAttachments() {
  return items.filter((i) => i.status === "done").map((i) => i.attachment);
}

export function uploadsInProgress() {
  return items.some((i) => i.status === "uploading");
}

// After a send: the tray empties (the uploads now belong to the message).
export function clearUploads() {
  items.forEach((i) => { if (i.status === "uploading") i.xhr.abort(); i.el.remove(); });
  items = [];
  renderTray();
}

function renderTray() {
  $("upload-tray").hidden = items.length === 0;
}

function remove(item) {
  if (item.status === "uploading") item.xhr.abort();
  items = items.filter((i) => i !== item);
  item.el.remove();
  renderTray();
  $("composer-input").focus();
}

function addFiles(files) {
  for (const file of files) {
    if (items.length >= MAX_FILES) {
      flash("A message can carry at most " + MAX_FILES + " files.");
      return;
    }
    if (file.size > MAX_BYTES) {
      flash((file.name || "The file") + " is larger than 10 MB.");
      continue;
    }
    start(file);
  }
}

function itemElement(item) {
  const name = item.file.name || "pasted file";
  const li = el("li", "upload-item");
  li.dataset.state = item.status;
  li.append(el("span", "file-name", name), el("span", "file-size", formatSize(item.file.size)));
  const progress = el("progress", "upload-progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", "Uploading " + name);
  const status = el("span", "upload-status");
  const cancel = button("icon-btn upload-cancel", "×");
  cancel.setAttribute("aria-label", "Cancel upload of " + name);
  cancel.addEventListener("click", () => remove(item));
  li.append(progress, status, cancel);
  return li;
}

function settle(item, state, text) {
  item.status = state;
  item.el.dataset.state = state;
  const name = item.file.name || "pasted file";
  item.el.querySelector(".upload-progress").remove();
  item.el.querySelector(".upload-status").textContent = text;
  const cancel = item.el.querySelector(".upload-cancel");
  cancel.setAttribute("aria-label", "Remove " + name);
}

function start(file) {
  const item = { file, status: "uploading", attachment: null, xhr: new XMLHttpRequest(), el: null };
  item.el = itemElement(item);
  items.push(item);
  $("upload-tray").appendChild(item.el);
  renderTray();
  const xhr = item.xhr;
  const progress = item.el.querySelector(".upload-progress");
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
  });
  xhr.addEventListener("load", () => {
    if (!items.includes(item)) return;
    if (xhr.status === 201 && xhr.response) {
      item.attachment = xhr.response;
      settle(item, "done", "Ready");
    } else {
      const error = xhr.response && xhr.response.error;
      settle(item, "failed", "Not uploaded: " + ((error && error.message) || "error " + xhr.status));
    }
  });
  xhr.addEventListener("error", () => {
    if (items.includes(item)) settle(item, "failed", "Not uploaded: the connection failed.");
  });
  xhr.open("POST", "/api/uploads");
  xhr.responseType = "json";
  xhr.setRequestHeader("Authorization", "Bearer " + login.token);
  const form = new FormData();
  form.append("file", file, file.name || "pasted");
  xhr.send(form);
}

function hasFiles(e) {
  return Boolean(e.dataTransfer) && Array.from(e.dataTransfer.types || []).includes("Files");
}

export function wireUploads() {
  const input = $("attach-input");
  $("attach-btn").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles(Array.from(input.files || []));
    input.value = "";
  });
  $("composer-input").addEventListener("paste", (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (!files.length) return;
    e.preventDefault();
    addFiles(files);
  });
  const room = $("room");
  room.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    room.classList.add("dropping");
  });
  room.addEventListener("dragleave", (e) => {
    if (!room.contains(e.relatedTarget)) room.classList.remove("dropping");
  });
  room.addEventListener("drop", (e) => {
    room.classList.remove("dropping");
    if (!hasFiles(e)) return;
    e.preventDefault();
    addFiles(Array.from(e.dataTransfer.files));
  });
}

onReset(clearUploads);
