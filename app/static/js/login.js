// Who is logged in: the token (kept in localStorage) and the user, and what
// happens when the server stops taking the token (its `session_ended`).
import { onReset } from "./reset.js";

const TOKEN_KEY = "chat.token";

export const login = {
  token: localStorage.getItem(TOKEN_KEY),
  me: null,
};

const endListeners = [];

export function startLogin(token, user) {
  login.token = token;
  login.me = user;
  localStorage.setItem(TOKEN_KEY, token);
}

export function clearLogin() {
  login.token = null;
  login.me = null;
  localStorage.removeItem(TOKEN_KEY);
}

// The server no longer takes our token (REST 401, or the socket refused).
export function onLoginEnd(listener) { endListeners.push(listener); }

// Why the server ended a socket's session (`session_ended {reason}`).
const ENDED = {
  logged_out: "You logged out (in this or another tab). Please log in again.",
  revoked: "Your password was changed, so this session has ended. Please log in again.",
  expired: "Your session has expired. Please log in again.",
};

export function loginEndedText(reason) {
  return ENDED[reason] || "Your session has ended. Please log in again.";
}

export function endLogin(message) {
  endListeners.forEach((listener) => listener(message));
}

export function isMe(username) {
  return Boolean(login.me) && username === login.me.username;
}

export function isMine(message) {
  return Boolean(message.author) && isMe(message.author.username);
}

onReset(clearLogin);
