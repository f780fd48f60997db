// Small view helpers. User content only ever goes in as text (textContent).

export function $(id) { return document.getElementById(id); }

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function button(className, text) {
  const node = el("button", className, text);
  node.type = "button";
  return node;
}

function initial(name) {
  const s = String(name || "?").trim();
  return s ? Array.from(s)[0].toUpperCase() : "?";
}

function hue(text) {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) % 360;
  return h;
}

export function avatar(user) {
  const a = el("span", "avatar", initial(user.display_name || user.username));
  a.setAttribute("aria-hidden", "true");
  a.style.setProperty("--avatar-hue", String(hue(user.username || "")));
  return a;
}

// Read out by screen readers (aria-live); the last five lines are kept.
export function announce(text) {
  const box = $("announcer");
  box.appendChild(el("p", null, text));
  while (box.childNodes.length > 5) box.removeChild(box.firstChild);
}

let flashTimer = null;

// A short-lived notice for errors that belong to no form (role=alert).
export function flash(text) {
  const toast = $("toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { toast.hidden = true; }, 5000);
}

export function autosize(area) {
  area.style.height = "auto";
  area.style.height = Math.min(area.scrollHeight, 200) + "px";
}
