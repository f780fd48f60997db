// Log in / create an account: two tabs (an ARIA tablist) over two forms.
import { api } from "./api.js";
import { $ } from "./dom.js";
import { clearErrors, showErrors, showFormMessage } from "./forms.js";

const TABS = ["login", "register"];

// Shows one tab's panel. `focus`: "input" (its first field) or "tab".
function selectTab(which, focus) {
  TABS.forEach((name) => {
    const selected = name === which;
    const tab = $("tab-" + name);
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(name + "-panel").hidden = !selected;
  });
  if (focus === "tab") $("tab-" + which).focus();
  else $(which + "-username").focus();
}

// Arrow keys, Home and End move between the tabs, as in the ARIA tabs pattern.
function onTabKey(e) {
  const index = TABS.indexOf(e.currentTarget.id.replace("tab-", ""));
  const moves = {
    ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: TABS.length - 1,
  };
  if (!(e.key in moves)) return;
  e.preventDefault();
  selectTab(TABS[(moves[e.key] + TABS.length) % TABS.length], "tab");
}

export function showAuth(message) {
  $("chat-view").hidden = true;
  $("auth-view").hidden = false;
  document.title = "Log in · Chat";
  const form = $("login-form");
  clearErrors(form);
  if (message) showFormMessage(form, message);
  selectTab("login", "input");
}

async function submitAuth(form, path, payload, onSignedIn) {
  const submit = form.querySelector("button[type=submit]");
  clearErrors(form);
  submit.disabled = true;
  try {
    onSignedIn(await api("POST", path, payload));
  } catch (err) {
    showErrors(form, err);
  } finally {
    submit.disabled = false;
  }
}

// onSignedIn({token, user}) runs after a log-in or a new account.
export function wireAuth(onSignedIn) {
  TABS.forEach((name) => {
    const tab = $("tab-" + name);
    tab.addEventListener("click", () => selectTab(name, "input"));
    tab.addEventListener("keydown", onTabKey);
  });
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submitAuth(e.target, "/api/auth/login", {
      username: $("login-username").value.trim(),
      password: $("login-password").value,
    }, onSignedIn);
  });
  $("register-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const payload = {
      username: $("register-username").value.trim(),
      password: $("register-password").value,
    };
    const display = $("register-display-name").value.trim();
    if (display) payload.display_name = display;
    submitAuth(e.target, "/api/auth/register", payload, onSignedIn);
  });
}
