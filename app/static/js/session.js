// Who is logged in: the token (kept in localStorage) and the user.

const TOKEN_KEY = "chat.token";

export const session = {
  token: localStorage.getItem(TOKEN_KEY),
  me: null,
};

const endListeners = [];

export function startSession(token, user) {
  session.token = token;
  session.me = user;
  localStorage.setItem(TOKEN_KEY, token);
}

export function clearSession() {
  session.token = null;
  session.me = null;
  localStorage.removeItem(TOKEN_KEY);
}

// The server no longer takes our token (REST 401, or the socket refused).
export function onSessionEnd(listener) { endListeners.push(listener); }

// Why the server ended a socket's session (`session_ended {reason}`).
const ENDED = {
  logged_out: "You logged out (in this or another tab). Please log in again.",
  revoked: "Your password was changed, so this session has ended. Please log in again.",
  expired: "Your session has expired. Please log in again.",
};

export function sessionEndedText(reason) {
  return ENDED[reason] || "Your session has ended. Please log in again.";
}

export function endSession(message) {
  endListeners.forEach((listener) => listener(message));
}

export function isMe(username) {
  return Boolean(session.me) && username === session.me.username;
}

export function isMine(message) {
  return Boolean(message.author) && isMe(message.author.username);
}
