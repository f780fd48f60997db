/*
 * The browser chat client: plain JavaScript, no build step.
 *
 * Talks to the REST API (/api/...) for accounts, rooms, history and edits, and
 * to Socket.IO (vendored socket.io-client 4.8.4, static/vendor/) for live
 * events and sending. The contract is shared/CONTRACT.md; names here follow it.
 *
 * Rules this file keeps:
 *  - user content goes into the page with textContent only, never as HTML;
 *  - messages are ordered by id and de-duplicated by id;
 *  - a message is "pending" until the server acknowledges it, and is re-sent
 *    with the same client_id after a reconnect (the server makes that
 *    idempotent), so nothing typed is lost and nothing is sent twice.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "chat.token";
  var LAST_ROOM_KEY = "chat.lastRoom";
  var PAGE_SIZE = 50;
  var SYNC_PAGES_MAX = 20;
  var ACK_TIMEOUT_MS = 10000;
  var TYPING_IDLE_MS = 2500;      // stop "typing" after this long without a key
  var TYPING_REFRESH_MS = 3000;   // re-send typing=true while typing goes on
  var TYPING_EXPIRE_MS = 6000;    // forget someone's typing if no news
  var GROUP_GAP_MS = 5 * 60 * 1000;
  var BODY_MAX = 4000;

  // --- small helpers -------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context; getRandomValues does not.
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function initial(name) {
    var s = String(name || "?").trim();
    return s ? Array.from(s)[0].toUpperCase() : "?";
  }

  function hue(text) {
    var h = 0;
    for (var i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) % 360;
    return h;
  }

  function avatar(user) {
    var a = el("span", "avatar", initial(user.display_name || user.username));
    a.setAttribute("aria-hidden", "true");
    a.style.setProperty("--avatar-hue", String(hue(user.username || "")));
    return a;
  }

  var timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  var shortDateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  var dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function formatTime(date) {
    var now = new Date();
    if (date.toDateString() === now.toDateString()) return timeFormat.format(date);
    return shortDateFormat.format(date) + ", " + timeFormat.format(date);
  }

  function roomLabel(room) {
    if (!room) return "";
    if (room.kind === "dm") return room.peer ? room.peer.display_name : room.name;
    return room.name;
  }

  // --- state ---------------------------------------------------------------

  var state = {
    token: localStorage.getItem(TOKEN_KEY),
    me: null,
    rooms: new Map(),        // name -> room view (from GET /api/rooms)
    current: null,           // the open room's name
    generation: 0,           // bumps when the open room changes; late answers are dropped
    messages: new Map(),     // id -> message, for the open room
    syncAfter: 0,            // everything up to this id is known for the open room
    live: false,             // the open room is joined and synced on this connection
    hasOlder: false,
    loadingOlder: false,
    historyLoaded: false,
    pending: [],             // [{clientId, room, body, status, error, el}]
    flushing: false,
    socket: null,
    connected: false,
    wasConnected: false,
    inflight: new Set(),     // ack waiters to settle if the socket drops
    joined: new Map(),       // room -> join ack promise, for this connection
    roomPoll: null,
    members: new Map(),      // username -> {user, online}, for the open room
    typers: new Map(),       // room -> Map(username -> {user, timer})
    typing: { active: false, room: null, idle: null, sentAt: 0 },
    readSent: new Map(),     // room -> highest id sent as read
    readTimer: null,
    backTimer: null,
    retryTimer: null
  };

  // --- REST ----------------------------------------------------------------

  function ApiError(status, body) {
    var error = (body && body.error) || {};
    this.status = status;
    this.code = error.code || (status ? "http_" + status : "network_error");
    this.message = error.message || (status ? "The server answered " + status + "." :
      "The server could not be reached.");
    this.fields = error.fields || null;
  }

  function noteInstance(id) {
    if (!id) return;
    var node = $("instance");
    if (node.textContent !== id) node.textContent = id;
    node.setAttribute("data-instance", id);
  }

  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token) headers["Authorization"] = "Bearer " + state.token;
    return fetch(path, {
      method: method, headers: headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).catch(function () {
      throw new ApiError(0, null);
    }).then(function (res) {
      noteInstance(res.headers.get("X-Instance"));
      if (res.status === 204) return null;
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.ok) return data;
        var err = new ApiError(res.status, data);
        if (res.status === 401 && state.token && path.indexOf("/api/auth/") !== 0) {
          logout("Your session has ended. Please log in again.");
        }
        throw err;
      });
    });
  }

  function refreshInstance() {
    fetch("/healthz", { cache: "no-store" }).then(function (res) {
      noteInstance(res.headers.get("X-Instance"));
      return res.json();
    }).then(function (data) {
      if (data && data.instance) noteInstance(data.instance);
    }).catch(function () { /* the socket's state already says we are offline */ });
  }

  // --- forms and errors ----------------------------------------------------

  function clearErrors(form) {
    form.querySelectorAll("[data-field-error]").forEach(function (p) { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
    var top = form.querySelector("[data-form-error]");
    if (top) { top.textContent = ""; top.hidden = true; }
  }

  function showErrors(form, err) {
    clearErrors(form);
    var top = form.querySelector("[data-form-error]");
    var unplaced = [];
    var first = null;
    if (err.fields) {
      Object.keys(err.fields).forEach(function (name) {
        var value = err.fields[name];
        var text = Array.isArray(value) ? value.join(" ") : String(value);
        var slot = form.querySelector('[data-field-error="' + name + '"]');
        var input = form.querySelector('[name="' + name + '"]');
        if (slot) {
          slot.textContent = text;
          if (input) {
            input.setAttribute("aria-invalid", "true");
            first = first || input;
          }
        } else {
          unplaced.push(name + ": " + text);
        }
      });
    }
    if (top) {
      top.textContent = [err.message].concat(unplaced).join(" ");
      top.hidden = false;
    }
    if (first) first.focus();
  }

  // --- auth ----------------------------------------------------------------

  function setAuthTab(which) {
    var login = which === "login";
    $("tab-login").setAttribute("aria-pressed", String(login));
    $("tab-register").setAttribute("aria-pressed", String(!login));
    $("login-form").hidden = !login;
    $("register-form").hidden = login;
    (login ? $("login-username") : $("register-username")).focus();
  }

  function showAuth(message) {
    $("chat-view").hidden = true;
    $("auth-view").hidden = false;
    document.title = "Log in · Chat";
    var form = $("login-form");
    clearErrors(form);
    if (message) {
      var top = form.querySelector("[data-form-error]");
      top.textContent = message;
      top.hidden = false;
    }
    setAuthTab("login");
  }

  function signedIn(result) {
    state.token = result.token;
    state.me = result.user;
    localStorage.setItem(TOKEN_KEY, result.token);
    startChat();
  }

  function submitAuth(form, path, payload) {
    var button = form.querySelector("button[type=submit]");
    clearErrors(form);
    button.disabled = true;
    api("POST", path, payload).then(signedIn).catch(function (err) {
      showErrors(form, err);
    }).then(function () { button.disabled = false; });
  }

  function logout(message) {
    if (state.socket) {
      state.socket.removeAllListeners();
      state.socket.disconnect();
      state.socket = null;
    }
    state.token = null;
    state.me = null;
    state.current = null;
    state.pending = [];
    state.connected = false;
    state.wasConnected = false;
    state.joined = new Map();
    state.typers = new Map();
    state.readSent = new Map();
    clearInterval(state.roomPoll);
    state.rooms.clear();
    state.messages.clear();
    localStorage.removeItem(TOKEN_KEY);
    $("messages").textContent = "";
    showAuth(message);
  }

  // --- rooms ---------------------------------------------------------------

  function loadRooms() {
    return api("GET", "/api/rooms").then(function (data) {
      var rooms = new Map();
      data.rooms.forEach(function (room) {
        if (room.name === state.current) room.unread = 0;
        rooms.set(room.name, room);
      });
      state.rooms = rooms;
      renderRooms();
    });
  }

  function roomItem(room) {
    var li = el("li");
    var a = el("a", "room-link");
    a.href = "#" + room.name;
    a.dataset.room = room.name;
    if (room.name === state.current) a.setAttribute("aria-current", "page");
    if (room.kind === "dm") {
      a.appendChild(avatar(room.peer || { username: room.name, display_name: room.name }));
    } else {
      var mark = el("span", "room-mark", room.private ? "" : "#");
      if (room.private) mark.classList.add("room-mark-private");
      mark.setAttribute("aria-hidden", "true");
      a.appendChild(mark);
    }
    a.appendChild(el("span", "room-name", roomLabel(room)));
    if (room.private && room.kind !== "dm") a.appendChild(el("span", "visually-hidden", " (private)"));
    if (!room.member) {
      a.classList.add("not-member");
      a.appendChild(el("span", "room-join", "join"));
    } else if (room.unread > 0 && room.name !== state.current) {
      a.classList.add("has-unread");
      var badge = el("span", "badge", room.unread > 99 ? "99+" : room.unread);
      badge.setAttribute("aria-label", room.unread + " unread");
      a.appendChild(badge);
    }
    li.appendChild(a);
    return li;
  }

  function renderRooms() {
    var rooms = Array.from(state.rooms.values());
    var channels = rooms.filter(function (r) { return r.kind !== "dm"; });
    channels.sort(function (a, b) {
      return (b.member - a.member) || a.name.localeCompare(b.name);
    });
    var dms = rooms.filter(function (r) { return r.kind === "dm" && r.member; });
    dms.sort(function (a, b) { return roomLabel(a).localeCompare(roomLabel(b)); });
    var roomList = $("room-list");
    roomList.textContent = "";
    channels.forEach(function (r) { roomList.appendChild(roomItem(r)); });
    var dmList = $("dm-list");
    dmList.textContent = "";
    dms.forEach(function (r) { dmList.appendChild(roomItem(r)); });
    if (!dms.length) dmList.appendChild(el("li", "side-empty", "No conversations yet"));
    var unread = rooms.reduce(function (n, r) {
      return n + (r.member && r.name !== state.current ? (r.unread || 0) : 0);
    }, 0);
    $("sidebar-unread").hidden = unread === 0;
    updateTitle(unread);
  }

  function updateTitle(unread) {
    if (unread === undefined) {
      unread = 0;
      state.rooms.forEach(function (r) {
        if (r.member && r.name !== state.current) unread += r.unread || 0;
      });
    }
    var room = state.rooms.get(state.current);
    var label = room ? (room.kind === "dm" ? roomLabel(room) : "#" + room.name) : "Chat";
    document.title = (unread ? "(" + unread + ") " : "") + label + " · Chat";
  }

  function createRoom(form) {
    var payload = {
      name: $("new-room-name").value.trim().toLowerCase(),
      title: $("new-room-title").value.trim(),
      private: $("new-room-private").checked
    };
    clearErrors(form);
    api("POST", "/api/rooms", payload).then(function (room) {
      state.rooms.set(room.name, room);
      form.reset();
      toggleSideForm("new-room", false);
      joinSocketRoom(room.name);
      navigate(room.name);
    }).catch(function (err) { showErrors(form, err); });
  }

  function joinCurrentRoom() {
    var name = state.current;
    api("POST", "/api/rooms/" + encodeURIComponent(name) + "/members").then(function (room) {
      state.rooms.set(room.name, room);
      joinSocketRoom(room.name);
      if (state.current === name) openRoom(name, true);
    }).catch(function (err) { flash(err.message); });
  }

  function startDm(username) {
    api("POST", "/api/dm/" + encodeURIComponent(username)).then(function (room) {
      state.rooms.set(room.name, room);
      $("user-search").value = "";
      $("user-results").textContent = "";
      toggleSideForm("new-dm", false);
      joinSocketRoom(room.name);
      navigate(room.name);
    }).catch(function (err) { showErrors($("new-dm-form"), err); });
  }

  var searchTimer = null;
  var searchSeq = 0;

  function searchUsers() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      var q = $("user-search").value.trim().toLowerCase();
      var seq = ++searchSeq;
      var list = $("user-results");
      if (!q) { list.textContent = ""; return; }
      api("GET", "/api/users?q=" + encodeURIComponent(q)).then(function (data) {
        if (seq !== searchSeq) return;
        list.textContent = "";
        var users = data.users.filter(function (u) { return u.username !== state.me.username; });
        if (!users.length) list.appendChild(el("li", "side-empty", "Nobody found"));
        users.forEach(function (u) {
          var li = el("li");
          var b = el("button", "user-result");
          b.type = "button";
          b.dataset.username = u.username;
          b.appendChild(avatar(u));
          var names = el("span", "user-names");
          names.appendChild(el("span", "user-display", u.display_name));
          names.appendChild(el("span", "user-handle", "@" + u.username));
          b.appendChild(names);
          b.addEventListener("click", function () { startDm(u.username); });
          li.appendChild(b);
          list.appendChild(li);
        });
      }).catch(function (err) { showErrors($("new-dm-form"), err); });
    }, 200);
  }

  function toggleSideForm(prefix, open) {
    var form = $(prefix + "-form");
    var button = $(prefix + "-toggle");
    if (open === undefined) open = form.hidden;
    form.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) {
      clearErrors(form);
      var input = form.querySelector("input");
      if (input) input.focus();
    } else {
      button.focus();
    }
  }

  // --- opening a room ------------------------------------------------------

  function navigate(name) {
    if (location.hash !== "#" + name) location.hash = name;  // hashchange opens it
    else openRoom(name);
  }

  function roomFromHash() {
    var name = decodeURIComponent(location.hash.replace(/^#/, ""));
    return /^[a-z0-9_-]{1,80}$/.test(name) ? name : null;
  }

  function defaultRoom() {
    var wanted = [roomFromHash(), localStorage.getItem(LAST_ROOM_KEY), "general"];
    for (var i = 0; i < wanted.length; i++) {
      var room = wanted[i] && state.rooms.get(wanted[i]);
      if (room && (room.member || !room.private)) return room.name;
    }
    var first = Array.from(state.rooms.values()).find(function (r) { return r.member; });
    return first ? first.name : null;
  }

  function openRoom(name, force) {
    var room = state.rooms.get(name);
    if (!room) {
      // Not in the list yet (a DM someone just started, or a stale link): ask.
      api("GET", "/api/rooms/" + encodeURIComponent(name)).then(function (r) {
        state.rooms.set(r.name, r);
        renderRooms();
        openRoom(r.name, true);
      }).catch(function (err) { flash(err.message); });
      return;
    }
    if (name === state.current && !force) { closeDrawers(); return; }
    if (state.current && state.current !== name) stopTyping();
    state.current = name;
    state.generation += 1;
    state.messages = new Map();
    state.syncAfter = 0;
    state.live = false;
    state.hasOlder = false;
    state.historyLoaded = false;
    state.members = new Map();
    localStorage.setItem(LAST_ROOM_KEY, name);
    room.unread = 0;
    renderRooms();
    renderHeader();
    renderTyping();
    $("messages").textContent = "";
    $("load-older").hidden = true;
    $("history-start").hidden = true;
    $("empty-room").hidden = true;
    $("jump-latest").hidden = true;
    $("join-bar").hidden = room.member;
    $("composer").hidden = !room.member;
    $("composer-label").textContent = "Message " + (room.kind === "dm" ? roomLabel(room) : "#" + room.name);
    $("composer-input").placeholder = "Message " + (room.kind === "dm" ? roomLabel(room) : "#" + room.name);
    closeDrawers();
    loadMembers();
    if (!room.member) {
      $("empty-room").hidden = false;
      $("empty-room").textContent = room.private ? "This room is private." :
        "Join #" + room.name + " to read and send messages.";
      return;
    }
    renderPendingOf(name);   // my unsent messages stay last; history goes above them
    var generation = state.generation;
    api("GET", "/api/rooms/" + encodeURIComponent(name) + "/messages?limit=" + PAGE_SIZE)
      .then(function (page) {
        if (generation !== state.generation) return;
        state.historyLoaded = true;
        state.hasOlder = page.has_more;
        insertMessages(page.messages);
        state.syncAfter = Math.max(state.syncAfter, maxId());
        renderHistoryTop();
        scrollToBottom();
        markRead();
        fillViewport();
        if (state.connected) catchUp(name);
      }).catch(function (err) {
        if (generation === state.generation) flash(err.message);
      });
  }

  function renderHeader() {
    var room = state.rooms.get(state.current);
    if (!room) return;
    $("room-title").textContent = room.kind === "dm" ? roomLabel(room) : "#" + room.name;
    var sub = room.kind === "dm" ? "Direct message with @" + (room.peer ? room.peer.username : "?") :
      (room.title || (room.private ? "Private room" : "Public room"));
    $("room-subtitle").textContent = sub;
    updateTitle();
  }

  // --- messages ------------------------------------------------------------

  function maxId() {
    var m = 0;
    state.messages.forEach(function (_, id) { if (id > m) m = id; });
    return m;
  }

  function minId() {
    var m = null;
    state.messages.forEach(function (_, id) { if (m === null || id < m) m = id; });
    return m;
  }

  function isMine(message) {
    return state.me && message.author && message.author.username === state.me.username;
  }

  function messageElement(m) {
    var li = el("li", "msg");
    li.dataset.id = String(m.id);
    li.dataset.author = m.author.username;
    li.dataset.time = m.created_at;
    if (isMine(m)) li.classList.add("own");
    if (m.deleted) li.classList.add("deleted");
    li.appendChild(avatar(m.author));

    var main = el("div", "msg-main");
    var meta = el("div", "msg-meta");
    meta.appendChild(el("span", "msg-author", m.author.display_name));
    var created = new Date(m.created_at);
    var time = el("time", "msg-time", formatTime(created));
    time.dateTime = m.created_at;
    time.title = dateTimeFormat.format(created);
    meta.appendChild(time);
    if (m.edited_at && !m.deleted) meta.appendChild(el("span", "msg-edited", "(edited)"));
    main.appendChild(meta);
    if (m.deleted) {
      main.appendChild(el("p", "msg-body msg-deleted", "This message was deleted."));
    } else {
      main.appendChild(el("p", "msg-body", m.body));
    }
    li.appendChild(main);

    if (isMine(m) && !m.deleted) {
      var actions = el("div", "msg-actions");
      var edit = el("button", "msg-action", "Edit");
      edit.type = "button";
      edit.dataset.action = "edit";
      edit.setAttribute("aria-label", "Edit message: " + m.body.slice(0, 40));
      var del = el("button", "msg-action", "Delete");
      del.type = "button";
      del.dataset.action = "delete";
      del.setAttribute("aria-label", "Delete message: " + m.body.slice(0, 40));
      actions.appendChild(edit);
      actions.appendChild(del);
      li.appendChild(actions);
    }
    return li;
  }

  // Consecutive messages by one author within a few minutes share a header.
  function regroup(node) {
    if (!node || !node.classList || !node.classList.contains("msg")) return;
    var prev = node.previousElementSibling;
    var cont = false;
    if (prev && prev.dataset.author === node.dataset.author && prev.dataset.time && node.dataset.time) {
      var gap = Date.parse(node.dataset.time) - Date.parse(prev.dataset.time);
      cont = gap >= 0 && gap < GROUP_GAP_MS;
    }
    node.classList.toggle("cont", cont);
  }

  function confirmedNodes() {
    return $("messages").querySelectorAll("li.msg[data-id]");
  }

  // Inserts or updates one message of the open room, keeping id order.
  function insertMessage(m) {
    var list = $("messages");
    var existing = state.messages.get(m.id);
    if (existing) {
      var changed = existing.body !== m.body || existing.deleted !== m.deleted ||
        existing.edited_at !== m.edited_at;
      if (!changed) return false;
      state.messages.set(m.id, m);
      var old = list.querySelector('li.msg[data-id="' + m.id + '"]');
      if (old && !old.classList.contains("editing")) {
        var fresh = messageElement(m);
        list.replaceChild(fresh, old);
        regroup(fresh);
      }
      return false;
    }
    state.messages.set(m.id, m);
    var node = messageElement(m);
    // Find the last confirmed message with a smaller id; pending ones stay last.
    var nodes = confirmedNodes();
    var after = null;
    for (var i = nodes.length - 1; i >= 0; i--) {
      if (Number(nodes[i].dataset.id) < m.id) { after = nodes[i]; break; }
    }
    var before = after ? after.nextElementSibling : (nodes.length ? nodes[0] : firstPending());
    list.insertBefore(node, before);
    regroup(node);
    regroup(node.nextElementSibling);
    $("empty-room").hidden = true;
    return true;
  }

  function firstPending() {
    return $("messages").querySelector("li.msg.pending");
  }

  function insertMessages(messages) {
    var added = 0;
    messages.slice().sort(function (a, b) { return a.id - b.id; }).forEach(function (m) {
      if (m.room && m.room !== state.current) return;
      if (resolvePendingFor(m)) { added++; return; }
      if (insertMessage(m)) added++;
    });
    if (state.historyLoaded && state.messages.size === 0 && !firstPending()) {
      $("empty-room").hidden = false;
      $("empty-room").textContent = "No messages yet. Say hello!";
    }
    return added;
  }

  function renderHistoryTop() {
    $("load-older").hidden = !state.hasOlder;
    var start = $("history-start");
    start.hidden = state.hasOlder || state.messages.size === 0;
    var room = state.rooms.get(state.current);
    start.textContent = room ? "This is the beginning of " +
      (room.kind === "dm" ? "your conversation with " + roomLabel(room) : "#" + room.name) + "." : "";
  }

  function loadOlder() {
    if (!state.hasOlder || state.loadingOlder || !state.current) return;
    var oldest = minId();
    if (oldest === null) return;
    var generation = state.generation;
    state.loadingOlder = true;
    $("load-older").textContent = "Loading…";
    $("scroller").setAttribute("aria-busy", "true");
    api("GET", "/api/rooms/" + encodeURIComponent(state.current) + "/messages?before=" + oldest +
        "&limit=" + PAGE_SIZE).then(function (page) {
      if (generation !== state.generation) return;
      var scroller = $("scroller");
      var fromBottom = scroller.scrollHeight - scroller.scrollTop;
      state.hasOlder = page.has_more;
      insertMessages(page.messages);
      renderHistoryTop();
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
    }).catch(function (err) {
      if (generation === state.generation) flash(err.message);
    }).then(function () {
      state.loadingOlder = false;
      $("load-older").textContent = "Load older messages";
      $("scroller").removeAttribute("aria-busy");
      if (generation === state.generation) fillViewport();
    });
  }

  // Keep loading while the list is too short to scroll (so scrolling up can work).
  function fillViewport() {
    var s = $("scroller");
    if (state.hasOlder && !state.loadingOlder && s.scrollHeight <= s.clientHeight + 40) loadOlder();
  }

  function nearBottom() {
    var s = $("scroller");
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  function scrollToBottom() {
    var s = $("scroller");
    s.scrollTop = s.scrollHeight;
    $("jump-latest").hidden = true;
  }

  function announce(text) {
    var box = $("announcer");
    box.appendChild(el("p", null, text));
    while (box.childNodes.length > 5) box.removeChild(box.firstChild);
  }

  // A short-lived notice for errors that belong to no form (role=alert).
  function flash(text) {
    var toast = $("toast");
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(state.flashTimer);
    state.flashTimer = setTimeout(function () { toast.hidden = true; }, 5000);
  }

  // A message for the open room arrived live (or from sync).
  function receive(messages, fromSync) {
    var stick = nearBottom();
    var before = state.messages.size;
    insertMessages(messages);
    var added = state.messages.size - before;
    if (state.live || fromSync) state.syncAfter = Math.max(state.syncAfter, maxId());
    if (!added) return 0;
    if (before === 0) renderHistoryTop();
    messages.forEach(function (m) {
      if (!isMine(m) && !fromSync) announce(m.author.display_name + ": " + (m.deleted ? "(deleted)" : m.body));
      clearTyper(m.room, m.author.username);
    });
    if (stick) scrollToBottom(); else $("jump-latest").hidden = false;
    markRead();
    return added;
  }

  function markRead() {
    clearTimeout(state.readTimer);
    state.readTimer = setTimeout(function () {
      var room = state.current;
      var id = maxId();
      if (!room || !id || document.visibilityState === "hidden" || !state.connected) return;
      if ((state.readSent.get(room) || 0) >= id) return;
      emitAck("read", { room: room, message_id: id }).then(function (res) {
        if (res && res.ok) state.readSent.set(room, Math.max(state.readSent.get(room) || 0, id));
      });
    }, 400);
  }

  // --- pending sends -------------------------------------------------------

  function pendingElement(p) {
    if (p.el) p.el.remove();   // one element per pending message, ever
    var li = el("li", "msg own pending");
    li.dataset.clientId = p.clientId;
    li.dataset.author = state.me.username;
    li.appendChild(avatar(state.me));
    var main = el("div", "msg-main");
    var meta = el("div", "msg-meta");
    meta.appendChild(el("span", "msg-author", state.me.display_name));
    main.appendChild(meta);
    main.appendChild(el("p", "msg-body", p.body));
    var status = el("p", "msg-status");
    main.appendChild(status);
    li.appendChild(main);
    p.el = li;
    renderPendingStatus(p);
    return li;
  }

  function renderPendingStatus(p) {
    if (!p.el) return;
    var status = p.el.querySelector(".msg-status");
    status.textContent = "";
    p.el.classList.toggle("failed", p.status === "failed");
    if (p.status === "failed") {
      status.appendChild(el("span", null, "Not sent: " + (p.error || "error") + " "));
      var retry = el("button", "link-btn", "Retry");
      retry.type = "button";
      retry.addEventListener("click", function () {
        p.status = "queued";
        renderPendingStatus(p);
        flushPending();
      });
      var drop = el("button", "link-btn", "Discard");
      drop.type = "button";
      drop.addEventListener("click", function () { dropPending(p); });
      status.appendChild(retry);
      status.appendChild(document.createTextNode(" · "));
      status.appendChild(drop);
    } else {
      status.textContent = state.connected ? "Sending…" : "Waiting for the connection…";
    }
  }

  function renderPendingOf(room) {
    state.pending.forEach(function (p) {
      if (p.room === room) {
        $("messages").appendChild(pendingElement(p));
        $("empty-room").hidden = true;
      }
    });
  }

  function dropPending(p) {
    state.pending = state.pending.filter(function (q) { return q !== p; });
    if (p.el) {
      var next = p.el.nextElementSibling;
      p.el.remove();
      regroup(next);
    }
    p.el = null;
  }

  // If `m` is the server's copy of one of my pending messages, it replaces it.
  function resolvePendingFor(m) {
    if (!m.client_id || !isMine(m)) return false;
    var p = state.pending.find(function (q) { return q.clientId === m.client_id && q.room === m.room; });
    if (!p) return false;
    dropPending(p);
    if (m.room === state.current) insertMessage(m);
    return true;
  }

  function send(body) {
    var room = state.rooms.get(state.current);
    if (!room || !room.member) return;
    var p = { clientId: uuid(), room: room.name, body: body, status: "queued", error: null, el: null };
    state.pending.push(p);
    $("messages").appendChild(pendingElement(p));
    regroup(p.el);
    $("empty-room").hidden = true;
    scrollToBottom();
    flushPending();
  }

  // Sends queued messages one at a time, in order, while connected.
  function flushPending() {
    if (state.flushing) return;
    clearTimeout(state.retryTimer);
    state.flushing = true;
    var next = function () {
      var p = state.pending.find(function (q) { return q.status === "queued"; });
      if (!p || !state.connected) { state.flushing = false; return; }
      p.status = "sending";
      renderPendingStatus(p);
      emitAck("send", { room: p.room, body: p.body, client_id: p.clientId }).then(function (res) {
        if (state.pending.indexOf(p) < 0) return next();   // resolved by the broadcast
        if (res && res.ok) {
          resolvePendingFor(res.message);
          if (res.message.room === state.current) {
            state.syncAfter = state.live ? Math.max(state.syncAfter, res.message.id) : state.syncAfter;
            markRead();
          }
          return next();
        }
        var code = res && res.error ? res.error.code : "disconnected";
        if (code === "disconnected" || code === "timeout" || code === "rate_limited" ||
            code === "unavailable" || code === "internal_error") {
          // Sent again later with the same client_id: never twice on the server.
          p.status = "queued";
          renderPendingStatus(p);
          state.flushing = false;
          if (state.connected) state.retryTimer = setTimeout(flushPending, code === "rate_limited" ? 1500 : 1000);
          return;
        }
        p.status = "failed";
        p.error = res.error.message;
        renderPendingStatus(p);
        next();
      });
    };
    next();
  }

  // --- editing and deleting ------------------------------------------------

  function startEdit(li) {
    var id = Number(li.dataset.id);
    var m = state.messages.get(id);
    if (!m || li.classList.contains("editing")) return;
    li.classList.add("editing");
    var body = li.querySelector(".msg-body");
    var form = el("form", "edit-form");
    var label = el("label", "visually-hidden", "Edit your message");
    var area = el("textarea", "edit-input");
    area.id = "edit-" + id;
    label.htmlFor = area.id;
    area.value = m.body;
    area.rows = Math.min(8, Math.max(1, m.body.split("\n").length));
    var error = el("p", "field-error");
    error.setAttribute("role", "alert");
    var actions = el("div", "form-actions");
    var save = el("button", "btn btn-primary btn-small", "Save");
    save.type = "submit";
    var cancel = el("button", "btn btn-small", "Cancel");
    cancel.type = "button";
    actions.appendChild(save);
    actions.appendChild(cancel);
    actions.appendChild(el("span", "edit-hint", "Enter to save · Esc to cancel"));
    form.appendChild(label);
    form.appendChild(area);
    form.appendChild(error);
    form.appendChild(actions);
    body.hidden = true;
    body.after(form);

    var finish = function (message) {
      li.classList.remove("editing");
      var fresh = messageElement(message || state.messages.get(id));
      li.replaceWith(fresh);
      regroup(fresh);
      var button = fresh.querySelector('[data-action="edit"]');
      if (button) button.focus();
    };
    var submit = function () {
      var text = area.value.trim();
      if (!text) { error.textContent = "The message is empty; delete it instead."; return; }
      if (text === m.body) { finish(); return; }
      save.disabled = true;
      api("PATCH", "/api/messages/" + id, { body: text }).then(function (updated) {
        state.messages.set(updated.id, updated);
        finish(updated);
      }).catch(function (err) {
        save.disabled = false;
        error.textContent = err.fields && err.fields.body ? String(err.fields.body) : err.message;
      });
    };
    form.addEventListener("submit", function (e) { e.preventDefault(); submit(); });
    cancel.addEventListener("click", function () { finish(); });
    area.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); finish(); }
      else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  function confirmDelete(li) {
    var id = Number(li.dataset.id);
    var actions = li.querySelector(".msg-actions");
    if (!actions || actions.dataset.confirming) return;
    actions.dataset.confirming = "1";
    var saved = Array.from(actions.childNodes);
    actions.textContent = "";
    var question = el("span", "confirm-text", "Delete this message?");
    var yes = el("button", "msg-action danger", "Delete");
    yes.type = "button";
    var no = el("button", "msg-action", "Keep");
    no.type = "button";
    actions.appendChild(question);
    actions.appendChild(yes);
    actions.appendChild(no);
    li.classList.add("confirming");
    var restore = function () {
      li.classList.remove("confirming");
      actions.textContent = "";
      saved.forEach(function (n) { actions.appendChild(n); });
      delete actions.dataset.confirming;
      var b = actions.querySelector('[data-action="delete"]');
      if (b) b.focus();
    };
    no.addEventListener("click", restore);
    yes.addEventListener("click", function () {
      yes.disabled = true;
      api("DELETE", "/api/messages/" + id).then(function (deleted) {
        var fresh = messageElement(deleted);
        state.messages.set(deleted.id, deleted);
        li.replaceWith(fresh);
        regroup(fresh);
        $("composer-input").focus();
      }).catch(function (err) { restore(); flash(err.message); });
    });
    yes.focus();
  }

  // --- typing --------------------------------------------------------------

  function emitTyping(room, typing) {
    if (state.connected && room) emitAck("typing", { room: room, typing: typing });
  }

  function onComposerInput() {
    var input = $("composer-input");
    autosize(input);
    if (!input.value.trim()) { stopTyping(); return; }
    var t = state.typing;
    var now = Date.now();
    if (!t.active || t.room !== state.current || now - t.sentAt > TYPING_REFRESH_MS) {
      if (t.active && t.room !== state.current) emitTyping(t.room, false);
      t.active = true;
      t.room = state.current;
      t.sentAt = now;
      emitTyping(t.room, true);
    }
    clearTimeout(t.idle);
    t.idle = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    var t = state.typing;
    clearTimeout(t.idle);
    if (t.active) emitTyping(t.room, false);
    t.active = false;
  }

  function typersOf(room) {
    if (!state.typers.has(room)) state.typers.set(room, new Map());
    return state.typers.get(room);
  }

  function clearTyper(room, username) {
    var typers = state.typers.get(room);
    if (!typers || !typers.has(username)) return;
    clearTimeout(typers.get(username).timer);
    typers.delete(username);
    if (room === state.current) renderTyping();
  }

  function onTyping(data) {
    if (!data || !data.user || (state.me && data.user.username === state.me.username)) return;
    if (!data.typing) { clearTyper(data.room, data.user.username); return; }
    var typers = typersOf(data.room);
    var entry = typers.get(data.user.username);
    if (entry) clearTimeout(entry.timer);
    typers.set(data.user.username, {
      user: data.user,
      timer: setTimeout(function () { clearTyper(data.room, data.user.username); }, TYPING_EXPIRE_MS)
    });
    if (data.room === state.current) renderTyping();
  }

  function renderTyping() {
    var box = $("typing");
    var typers = state.typers.get(state.current);
    var names = typers ? Array.from(typers.values()).map(function (t) { return t.user.display_name; }) : [];
    var text = "";
    if (names.length === 1) text = names[0] + " is typing…";
    else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing…";
    else if (names.length > 2) text = "Several people are typing…";
    if (box.textContent !== text) box.textContent = text;
    box.classList.toggle("active", !!text);
  }

  // --- members and presence ------------------------------------------------

  function loadMembers() {
    var name = state.current;
    var generation = state.generation;
    renderMembers();
    return api("GET", "/api/rooms/" + encodeURIComponent(name) + "/members").then(function (data) {
      if (generation !== state.generation) return;
      state.members = new Map();
      data.members.forEach(function (m) { state.members.set(m.user.username, m); });
      renderMembers();
    }).catch(function () { /* shown as an empty list */ });
  }

  function onPresence(data) {
    if (!data || !data.user) return;
    // Presence is cluster-wide: the same person is online in every room.
    var entry = state.members.get(data.user.username);
    if (entry) {
      entry.online = !!data.online;
      entry.user.display_name = data.user.display_name;
    } else if (data.room === state.current) {
      state.members.set(data.user.username, { user: data.user, online: !!data.online });
    } else {
      return;
    }
    renderMembers();
  }

  function memberItem(m) {
    var li = el("li", "member");
    li.dataset.username = m.user.username;
    li.dataset.online = String(!!m.online);
    var face = el("span", "member-face");
    face.appendChild(avatar(m.user));
    var dot = el("span", "presence-dot");
    dot.setAttribute("aria-hidden", "true");
    face.appendChild(dot);
    li.appendChild(face);
    var names = el("span", "member-names");
    names.appendChild(el("span", "member-name", m.user.display_name));
    var isMe = state.me && m.user.username === state.me.username;
    names.appendChild(el("span", "member-handle", "@" + m.user.username + (isMe ? " (you)" : "")));
    li.appendChild(names);
    li.appendChild(el("span", "visually-hidden", m.online ? ", online" : ", offline"));
    return li;
  }

  function renderMembers() {
    var all = Array.from(state.members.values());
    all.sort(function (a, b) { return a.user.display_name.localeCompare(b.user.display_name); });
    var online = all.filter(function (m) { return m.online; });
    var offline = all.filter(function (m) { return !m.online; });
    var on = $("members-online");
    var off = $("members-offline");
    on.textContent = "";
    off.textContent = "";
    online.forEach(function (m) { on.appendChild(memberItem(m)); });
    offline.forEach(function (m) { off.appendChild(memberItem(m)); });
    $("online-heading").textContent = "Online — " + online.length;
    $("offline-heading").textContent = "Offline — " + offline.length;
    $("offline-heading").hidden = offline.length === 0;
    $("online-count").textContent = String(online.length);
    $("members-toggle").setAttribute("aria-label", "Show who is in the room (" + online.length + " online)");
  }

  // --- Socket.IO -----------------------------------------------------------

  // Emits with an acknowledgement; resolves with the ack, or with an error
  // shape ("timeout"/"disconnected") if none can come. Never rejects.
  function emitAck(event, payload, timeout) {
    return new Promise(function (resolve) {
      var socket = state.socket;
      if (!socket || !socket.connected) {
        resolve({ error: { code: "disconnected", message: "Not connected." } });
        return;
      }
      var settled = false;
      var waiter = function (result) {
        if (settled) return;
        settled = true;
        state.inflight.delete(waiter);
        resolve(result);
      };
      state.inflight.add(waiter);
      socket.timeout(timeout || ACK_TIMEOUT_MS).emit(event, payload, function (err, res) {
        waiter(err ? { error: { code: "timeout", message: "No answer from the server." } } : res);
      });
    });
  }

  function settleInflight() {
    Array.from(state.inflight).forEach(function (w) {
      w({ error: { code: "disconnected", message: "The connection dropped." } });
    });
  }

  // Joins a room's live events once per connection; the promise says when.
  function joinSocketRoom(name) {
    if (!state.connected) return Promise.resolve(null);
    if (!state.joined.has(name)) {
      state.joined.set(name, emitAck("join", { room: name }).then(function (res) {
        if (!res || !res.ok) state.joined.delete(name);
        return res;
      }));
    }
    return state.joined.get(name);
  }

  function joinMemberRooms() {
    var joins = [];
    state.rooms.forEach(function (room) { if (room.member) joins.push(joinSocketRoom(room.name)); });
    return Promise.all(joins);
  }

  function setConnection(kind, text) {
    var conn = $("connection");
    var texts = {
      connecting: "Connecting…",
      connected: "Connected",
      reconnecting: "Reconnecting…",
      back: "Back online"
    };
    conn.dataset.state = kind;
    $("connection-text").textContent = text || texts[kind];
    document.body.dataset.connection = kind;
  }

  function connectSocket() {
    var socket = io({
      auth: function (cb) { cb({ token: state.token }); },
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
      timeout: 8000
    });
    state.socket = socket;
    setConnection("connecting");

    socket.on("connect", onConnect);
    socket.on("disconnect", function (reason) {
      state.connected = false;
      state.live = false;
      state.joined = new Map();
      settleInflight();
      if (state.typing.active) state.typing.active = false;
      setConnection("reconnecting");
      state.pending.forEach(renderPendingStatus);
      // The server closed us (e.g. its instance is draining): come back elsewhere.
      if (reason === "io server disconnect") setTimeout(function () { socket.connect(); }, 300);
    });
    socket.on("connect_error", function (err) {
      var code = err && err.data && err.data.error && err.data.error.code;
      if (code === "unauthorized") {
        logout("Your session has ended. Please log in again.");
        return;
      }
      setConnection(state.wasConnected ? "reconnecting" : "connecting");
      // A refusal from the server is not retried by the client on its own.
      if (!socket.active) setTimeout(function () { socket.connect(); }, 2000);
    });
    socket.on("message", function (m) {
      if (m.room === state.current) { receive([m], false); return; }
      if (resolvePendingFor(m)) return;
      var room = state.rooms.get(m.room);
      if (!room) { loadRooms(); return; }   // e.g. a new DM someone started with me
      if (!isMine(m) && !m.deleted) {
        room.unread = (room.unread || 0) + 1;
        renderRooms();
      }
    });
    socket.on("message_edited", function (m) { if (m.room === state.current) insertMessage(m); });
    socket.on("message_deleted", function (m) { if (m.room === state.current) insertMessage(m); });
    socket.on("typing", onTyping);
    socket.on("presence", onPresence);
  }

  function onConnect() {
    var back = state.wasConnected;
    state.connected = true;
    state.wasConnected = true;
    setConnection(back ? "reconnecting" : "connecting", back ? "Catching up…" : "Connecting…");
    refreshInstance();
    state.pending.forEach(renderPendingStatus);
    var roomsReady = back ? loadRooms() : Promise.resolve();
    roomsReady.catch(function () {}).then(joinMemberRooms).then(function () {
      // Presence events sent before the joins did not reach us: ask afresh.
      if (state.current) loadMembers();
      return state.current && state.historyLoaded ? catchUp(state.current) : 0;
    }).then(function (missed) {
      if (!state.connected) return;
      flushPending();
      if (back) {
        var text = "Back online" + (missed ? " · " + missed + " missed message" + (missed === 1 ? "" : "s") : "");
        setConnection("back", text);
        clearTimeout(state.backTimer);
        state.backTimer = setTimeout(function () {
          if ($("connection").dataset.state === "back") setConnection("connected");
        }, 5000);
      } else {
        setConnection("connected");
      }
    });
  }

  // Fetches what the open room missed after the last id we have, then goes live.
  function catchUp(name) {
    var generation = state.generation;
    var missed = 0;
    var pages = 0;
    var step = function () {
      if (!state.connected) return Promise.resolve(missed);
      return emitAck("sync", { room: name, after: state.syncAfter }).then(function (res) {
        if (generation !== state.generation || !res || !res.ok) return missed;
        missed += receive(res.messages, true);
        state.syncAfter = Math.max(state.syncAfter, maxId());
        pages += 1;
        if (res.has_more && pages < SYNC_PAGES_MAX) return step();
        if (res.has_more) { openRoom(name, true); return missed; }   // too far behind: reload
        state.live = state.connected;
        return missed;
      });
    };
    // Join first, so that nothing falls between the sync and live delivery.
    return joinSocketRoom(name).then(step);
  }

  // --- layout: drawers on narrow screens -----------------------------------

  function isNarrow() { return window.matchMedia("(max-width: 760px)").matches; }
  function isMembersDrawer() { return window.matchMedia("(max-width: 1100px)").matches; }

  function setSidebar(open) {
    document.body.classList.toggle("sidebar-open", open);
    $("sidebar-toggle").setAttribute("aria-expanded", String(open));
    $("scrim").hidden = !(open || document.body.classList.contains("members-open"));
    if (open) {
      var current = document.querySelector('#sidebar [aria-current="page"]') || $("sidebar-close");
      current.focus();
    }
  }

  function setMembers(open) {
    document.body.classList.toggle("members-open", open);
    $("members-toggle").setAttribute("aria-expanded", String(open));
    $("scrim").hidden = !(open || document.body.classList.contains("sidebar-open"));
    if (open && isMembersDrawer()) $("members-close").focus();
  }

  function closeDrawers() {
    var focusBack = document.body.classList.contains("sidebar-open") && isNarrow();
    if (document.body.classList.contains("sidebar-open")) setSidebar(false);
    if (document.body.classList.contains("members-open") && isMembersDrawer()) setMembers(false);
    if (focusBack) $("composer-input").focus();
  }

  function autosize(area) {
    area.style.height = "auto";
    area.style.height = Math.min(area.scrollHeight, 200) + "px";
  }

  // --- start ---------------------------------------------------------------

  function startChat() {
    $("auth-view").hidden = true;
    $("chat-view").hidden = false;
    var me = state.me;
    $("me-name").textContent = me.display_name;
    $("me-username").textContent = "@" + me.username;
    var a = avatar(me);
    $("me-avatar").replaceWith(a);
    a.id = "me-avatar";
    loadRooms().then(function () {
      var name = defaultRoom();
      if (name) navigate(name);
      connectSocket();
      $("composer-input").focus();
      // New DMs and rooms others put me in have no live event: look now and then.
      clearInterval(state.roomPoll);
      state.roomPoll = setInterval(function () {
        if (state.connected && document.visibilityState !== "hidden") {
          loadRooms().then(joinMemberRooms).catch(function () {});
        }
      }, 30000);
    }).catch(function (err) { if (state.token) flash(err.message); });
  }

  function wire() {
    $("tab-login").addEventListener("click", function () { setAuthTab("login"); });
    $("tab-register").addEventListener("click", function () { setAuthTab("register"); });
    $("login-form").addEventListener("submit", function (e) {
      e.preventDefault();
      submitAuth(e.target, "/api/auth/login", {
        username: $("login-username").value.trim(),
        password: $("login-password").value
      });
    });
    $("register-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var payload = {
        username: $("register-username").value.trim(),
        password: $("register-password").value
      };
      var display = $("register-display-name").value.trim();
      if (display) payload.display_name = display;
      submitAuth(e.target, "/api/auth/register", payload);
    });
    $("logout").addEventListener("click", function () { stopTyping(); logout(); });

    $("new-room-toggle").addEventListener("click", function () { toggleSideForm("new-room"); });
    $("new-dm-toggle").addEventListener("click", function () { toggleSideForm("new-dm"); });
    $("new-room-form").addEventListener("submit", function (e) { e.preventDefault(); createRoom(e.target); });
    $("new-room-form").querySelector("[data-cancel]").addEventListener("click", function () {
      toggleSideForm("new-room", false);
    });
    $("new-dm-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var first = $("user-results").querySelector("button");
      if (first) first.click();
    });
    $("user-search").addEventListener("input", searchUsers);
    $("user-search").addEventListener("keydown", function (e) {
      if (e.key === "Escape") toggleSideForm("new-dm", false);
    });
    $("join-room").addEventListener("click", joinCurrentRoom);

    window.addEventListener("hashchange", function () {
      var name = roomFromHash();
      if (name && state.me) openRoom(name);
    });

    var input = $("composer-input");
    $("composer").addEventListener("submit", function (e) {
      e.preventDefault();
      var body = input.value.trim();
      if (!body) return;
      if (body.length > BODY_MAX) {
        flash("A message can be at most " + BODY_MAX + " characters.");
        return;
      }
      input.value = "";
      autosize(input);
      stopTyping();
      send(body);
      input.focus();
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $("composer").requestSubmit();
      } else if (e.key === "ArrowUp" && !input.value) {
        // Up in an empty box edits my last message, as in most chat apps.
        var mine = $("messages").querySelectorAll("li.msg.own[data-id]:not(.deleted)");
        if (mine.length) { e.preventDefault(); startEdit(mine[mine.length - 1]); }
      }
    });
    input.addEventListener("input", onComposerInput);
    input.addEventListener("blur", function () { if (!input.value.trim()) stopTyping(); });

    $("messages").addEventListener("click", function (e) {
      var button = e.target.closest("button[data-action]");
      if (!button) return;
      var li = button.closest("li.msg");
      if (button.dataset.action === "edit") startEdit(li);
      else if (button.dataset.action === "delete") confirmDelete(li);
    });
    $("scroller").addEventListener("scroll", function () {
      var s = $("scroller");
      if (s.scrollTop < 150) loadOlder();
      if (nearBottom()) $("jump-latest").hidden = true;
    }, { passive: true });
    $("load-older").addEventListener("click", loadOlder);
    $("jump-latest").addEventListener("click", function () { scrollToBottom(); input.focus(); });

    $("sidebar-toggle").addEventListener("click", function () {
      setSidebar(!document.body.classList.contains("sidebar-open"));
    });
    $("sidebar-close").addEventListener("click", function () { setSidebar(false); $("sidebar-toggle").focus(); });
    $("members-toggle").addEventListener("click", function () {
      setMembers(!document.body.classList.contains("members-open"));
    });
    $("members-close").addEventListener("click", function () { setMembers(false); $("members-toggle").focus(); });
    $("scrim").addEventListener("click", function () { setSidebar(false); setMembers(false); });
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") return;
      if (document.body.classList.contains("sidebar-open")) { setSidebar(false); $("sidebar-toggle").focus(); }
      else if (document.body.classList.contains("members-open") && isMembersDrawer()) {
        setMembers(false);
        $("members-toggle").focus();
      }
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") markRead();
    });
  }

  function init() {
    wire();
    if (!state.token) { showAuth(); return; }
    api("GET", "/api/me").then(function (user) {
      state.me = user;
      startChat();
    }).catch(function (err) {
      if (err.status === 401) return;      // api() has logged out already
      showAuth(err.message + " Reload to try again, or log in.");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
