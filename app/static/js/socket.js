// The Socket.IO connection (vendored socket.io-client, the global `io`), its
// state, acknowledged emits and room joins, and the state shown in the top bar.
import { $ } from "./dom.js";
import { onReset } from "./reset.js";

const ACK_TIMEOUT_MS = 10000;
const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  back: "Back online",
};

export const connection = {
  socket: null,
  connected: false,
  wasConnected: false,   // connected at least once: a new connect is a reconnect
};

const inflight = new Set();   // ack waiters to settle if the socket drops
let joined = new Map();       // room -> join ack promise, for this connection

// Opens the connection; getToken() is asked at every (re)connect. `hooks`:
// onConnect(isReconnect), onDisconnect(reason), onRefused(error), and
// `events`, {server event: handler}.
export function connect(getToken, hooks) {
  const socket = io({
    auth: (cb) => cb({ token: getToken() }),
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    timeout: 8000,
  });
  connection.socket = socket;
  setStatus("connecting");

  socket.on("connect", () => {
    const isReconnect = connection.wasConnected;
    connection.connected = true;
    connection.wasConnected = true;
    hooks.onConnect(isReconnect);
  });
  socket.on("disconnect", (reason) => {
    connection.connected = false;
    joined = new Map();
    settleInflight();
    setStatus("reconnecting");
    hooks.onDisconnect(reason);
    // The server closed us (e.g. its instance is draining): come back elsewhere.
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 300);
  });
  socket.on("connect_error", (err) => {
    const error = err && err.data && err.data.error;
    if (error && error.code === "unauthorized") { hooks.onRefused(error); return; }
    setStatus(connection.wasConnected ? "reconnecting" : "connecting");
    // A refusal from the server is not retried by the client on its own.
    if (!socket.active) setTimeout(() => socket.connect(), 2000);
  });
  Object.entries(hooks.events).forEach(([event, handler]) => socket.on(event, handler));
}

export function disconnect() {
  const socket = connection.socket;
  connection.socket = null;
  connection.connected = false;
  connection.wasConnected = false;
  joined = new Map();
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
  }
}

// Emits with an acknowledgement; resolves with the ack, or with an error
// shape ("timeout"/"disconnected") if none can come. Never rejects.
export function emitAck(event, payload, timeout) {
  return new Promise((resolve) => {
    const socket = connection.socket;
    if (!socket || !socket.connected) {
      resolve({ error: { code: "disconnected", message: "Not connected." } });
      return;
    }
    let settled = false;
    const waiter = (result) => {
      if (settled) return;
      settled = true;
      inflight.delete(waiter);
      resolve(result);
    };
    inflight.add(waiter);
    socket.timeout(timeout || ACK_TIMEOUT_MS).emit(event, payload, (err, res) => {
      waiter(err ? { error: { code: "timeout", message: "No answer from the server." } } : res);
    });
  });
}

function settleInflight() {
  Array.from(inflight).forEach((waiter) => {
    waiter({ error: { code: "disconnected", message: "The connection dropped." } });
  });
}

// Joins a room's live events once per connection; the promise says when.
export function joinRoom(name) {
  if (!connection.connected) return Promise.resolve(null);
  if (!joined.has(name)) {
    joined.set(name, emitAck("join", { room: name }).then((res) => {
      if (!res || !res.ok) joined.delete(name);
      return res;
    }));
  }
  return joined.get(name);
}

// I left `name`: the server took this socket out of its channel.
export function forgetJoin(name) {
  joined.delete(name);
}

let backTimer = null;

// kind: connecting | connected | reconnecting | back (shown for 5 s).
export function setStatus(kind, text) {
  $("connection").dataset.state = kind;
  $("connection-text").textContent = text || STATUS_TEXT[kind];
  document.body.dataset.connection = kind;
  clearTimeout(backTimer);
  if (kind === "back") {
    backTimer = setTimeout(() => {
      if ($("connection").dataset.state === "back") setStatus("connected");
    }, 5000);
  }
}

onReset(disconnect, "disconnect");
