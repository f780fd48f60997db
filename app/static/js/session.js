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

export function endSession(message) {
  endListeners.forEach((listener) => listener(message));
}

export function isMe(username) {
  return Boolean(session.me) && username === session.me.username;
}

export function isMine(message) {
  return Boolean(message.author) && isMe(message.author.username);
}
