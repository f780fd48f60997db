// Narrow screens: the room list (under 760 px) and the people list (under
// 1100 px) are drawers, with a scrim behind them and Esc to close.
import { $ } from "./dom.js";

const isNarrow = () => window.matchMedia("(max-width: 760px)").matches;
const isMembersDrawer = () => window.matchMedia("(max-width: 1100px)").matches;
const isOpen = (drawer) => document.body.classList.contains(drawer + "-open");

function updateScrim() {
  $("scrim").hidden = !(isOpen("sidebar") || isOpen("members"));
}

function setSidebar(open) {
  document.body.classList.toggle("sidebar-open", open);
  $("sidebar-toggle").setAttribute("aria-expanded", String(open));
  updateScrim();
  if (open) (document.querySelector('#sidebar [aria-current="page"]') || $("sidebar-close")).focus();
}

function setMembers(open) {
  document.body.classList.toggle("members-open", open);
  $("members-toggle").setAttribute("aria-expanded", String(open));
  updateScrim();
  if (open && isMembersDrawer()) $("members-close").focus();
}

// A room was chosen: whatever drawer covers it goes.
export function closeDrawers() {
  const focusBack = isOpen("sidebar") && isNarrow();
  if (isOpen("sidebar")) setSidebar(false);
  if (isOpen("members") && isMembersDrawer()) setMembers(false);
  if (focusBack) $("composer-input").focus();
}

export function wireDrawers() {
  $("sidebar-toggle").addEventListener("click", () => setSidebar(!isOpen("sidebar")));
  $("sidebar-close").addEventListener("click", () => { setSidebar(false); $("sidebar-toggle").focus(); });
  $("members-toggle").addEventListener("click", () => setMembers(!isOpen("members")));
  $("members-close").addEventListener("click", () => { setMembers(false); $("members-toggle").focus(); });
  $("scrim").addEventListener("click", () => { setSidebar(false); setMembers(false); });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (isOpen("sidebar")) {
      setSidebar(false);
      $("sidebar-toggle").focus();
    } else if (isOpen("members") && isMembersDrawer()) {
      setMembers(false);
      $("members-toggle").focus();
    }
  });
}
