// The bytes of files (/api/files/...): they need the token, which an <img src>
// cannot send, so they are fetched with it and shown through blob: URLs, kept
// for the page's life (the oldest let go past a bound).
import { login } from "./login.js";
import { onReset } from "./reset.js";

const KEPT = 200;
const urls = new Map();   // path -> Promise<blob: URL>

export function fileUrl(path) {
  let url = urls.get(path);
  if (!url) {
    url = fetch(path, { headers: { "Authorization": "Bearer " + login.token } })
      .then((res) => {
        if (!res.ok) throw new Error("The file could not be loaded (" + res.status + ").");
        return res.blob();
      })
      .then((blob) => URL.createObjectURL(blob));
    url.catch(() => urls.delete(path));
    urls.set(path, url);
    while (urls.size > KEPT) forget(urls.keys().next().value);
  }
  return url;
}

function forget(path) {
  const url = urls.get(path);
  urls.delete(path);
  if (url) url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
}

// Saves a file under its name (a download, never opened in the page).
export async function download(attachment) {
  const link = document.createElement("a");
  link.href = await fileUrl(attachment.url);
  link.download = attachment.name;
  link.rel = "noopener";
  document.body.appendChild(link);
  link.click();
  link.remove();
}

export function formatSize(bytes) {
  if (bytes < 1024) return bytes + " B";
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0) + " KB";
  return (bytes / (1024 * 1024)).toFixed(1) + " MB";
}

onReset(() => { Array.from(urls.keys()).forEach(forget); });
