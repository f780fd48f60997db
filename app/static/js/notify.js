// Browser notifications while the tab is hidden (mentions, direct messages,
// replies to my messages; alerts.js and dispatch.js decide which). Permission is
// only ever asked when a person clicks "Enable notifications", never on load.
import { $, flash } from "./dom.js";

const supported = () => typeof window.Notification === "function";

// The sidebar button shows while the browser could still be asked.
export function renderNotifyButton() {
  $("notify-enable").hidden = !supported() || Notification.permission !== "default";
}

async function askPermission() {
  if (!supported()) return;
  let answer;
  try {
    answer = await Notification.requestPermission();
  } catch {
    answer = Notification.permission;
  }
  renderNotifyButton();
  if (answer === "granted") flash("Notifications are on: you will hear of mentions, direct messages and replies while this tab is hidden.");
  else if (answer === "denied") flash("Notifications are blocked for this site in the browser's settings.");
}

// Shown only while the tab is hidden and the person allowed it; a click on
// the notification brings the tab back and runs `onClick`.
export function notify(title, body, tag, onClick) {
  if (!supported() || Notification.permission !== "granted") return false;
  if (document.visibilityState !== "hidden") return false;
  try {
    const note = new Notification(title, { body, tag });
    note.onclick = () => {
      window.focus();
      note.close();
      onClick();
    };
    return true;
  } catch {
    return false;   // e.g. a browser that only notifies from a service worker
  }
}

export function wireNotify() {
  $("notify-enable").addEventListener("click", askPermission);
  renderNotifyButton();
}
