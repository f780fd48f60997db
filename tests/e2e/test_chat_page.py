"""The browser chat client (app/templates/index.html, the ES modules in
app/static/js/), driven in Debian's Chromium by Playwright against a local
2-instance cluster, on a desktop and on a phone viewport.

How two users end up on different instances: nginx's ip_hash sends every
browser on this machine (all 127.0.0.1) to the same instance, call it X. So one
user's browser context opens the page through nginx (and lands on X), and the
other opens it straight from the other instance's own port (Y). The footer of
each page shows the instance it talks to, and the tests check that they differ.

The outage test kills X with SIGKILL. To hold the page in its "reconnecting"
state long enough to type a message and take a screenshot, the test also makes
the browser's Socket.IO requests fail for a few seconds (Playwright's
page.route) - as if nginx had not yet noticed the dead instance - and then lets
them through, so the page comes back through nginx, on Y.

Waits are Playwright's auto-waiting assertions with deadlines; the only fixed
pause is a short settle before checking that a message did NOT arrive twice.
"""

import json
import re
import signal
import time
import uuid

import pytest
from browser_kit import (
    PASSWORD,
    PHONE,
    SETTLE,
    Api,
    assert_each_control_has_one_clear_name,
    bodies,
    expect_once,
    log_in,
    message_ids,
    open_chat,
    send_from_page,
    shot,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


# --- 1. two users, two instances ---------------------------------------------


def test_two_users_on_two_instances_chat_see_typing_and_presence(cluster, routes, contexts):
    alice_api = Api.login(cluster.url, "alice")
    bob_api = Api.login(cluster.url, "bob")
    room = alice_api.create_room("duo", "Alice and Bob", members=[bob_api])

    alice_page = contexts().new_page()
    alice_page.goto(f"{routes['nginx']}/#{room}")
    log_in(alice_page, "alice")
    bob_page = contexts().new_page()
    bob_page.goto(f"{routes['direct']}/#{room}")
    log_in(bob_page, "bob")
    for page in (alice_page, bob_page):
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        expect(page.locator("#room-title")).to_have_text(f"#{room}")

    # Two different instances, as each page's footer says.
    expect(alice_page.locator("#instance")).to_have_text(routes["nginx_instance"])
    expect(bob_page.locator("#instance")).to_have_text(routes["direct_instance"])
    assert routes["nginx_instance"] != routes["direct_instance"]

    # Presence: each sees the other online.
    expect(alice_page.locator('#members-online [data-username="bob"]')).to_be_visible()
    expect(bob_page.locator('#members-online [data-username="alice"]')).to_be_visible()

    # Alice types: Bob sees it; she sends: Bob gets the message and the indicator goes.
    alice_page.locator("#composer-input").press_sequentially("Hi Bob", delay=30)
    expect(bob_page.locator("#typing")).to_have_text("Alice (@alice) is typing…")
    alice_page.locator("#composer-input").press("Enter")
    expect_once(bob_page, "Hi Bob")
    expect(bob_page.locator("#typing")).to_have_text("")
    expect_once(alice_page, "Hi Bob")

    # And back.
    bob_page.locator("#composer-input").press_sequentially("Hello Alice", delay=30)
    expect(alice_page.locator("#typing")).to_have_text("Bob (@bob) is typing…")
    bob_page.locator("#composer-input").press("Shift+Enter")
    bob_page.locator("#composer-input").press_sequentially("two lines", delay=10)
    bob_page.locator("#composer-input").press("Enter")
    expect_once(alice_page, "Hello Alice\ntwo lines")
    expect_once(bob_page, "Hello Alice\ntwo lines")
    assert bodies(alice_page) == bodies(bob_page) == ["Hi Bob", "Hello Alice\ntwo lines"]

    # Alice edits, then deletes, her message; Bob's page follows.
    mine = alice_page.locator("#messages li.msg.own[data-id]").first
    mine.hover()
    mine.get_by_role("button", name="Edit message").click()
    editor = mine.locator("textarea")
    expect(editor).to_be_focused()
    editor.fill("Hi Bob, edited")
    editor.press("Enter")
    bobs_copy = bob_page.locator("#messages li.msg[data-id]").first
    expect(bobs_copy.locator(".msg-body")).to_have_text("Hi Bob, edited")
    expect(bobs_copy.locator(".msg-edited")).to_have_text("(edited)")
    mine = alice_page.locator("#messages li.msg.own[data-id]").first
    mine.hover()
    mine.get_by_role("button", name="Delete message").click()
    mine.get_by_role("button", name="Delete", exact=True).click()
    expect(bobs_copy.locator(".msg-body")).to_have_text("This message was deleted.")
    expect(alice_page.locator("#messages li.msg[data-id]").first).to_have_class(
        re.compile(r"\bdeleted\b")
    )
    # Bob's own message has the actions; Alice's (on his page) has none.
    expect(bobs_copy.locator(".msg-actions")).to_have_count(0)

    # Alice starts a direct message from the person search and writes at once.
    alice_page.click("#new-dm-toggle")
    alice_page.fill("#user-search", "bo")
    alice_page.locator('#user-results button[data-username="bob"]').click()
    expect(alice_page.locator("#room-title")).to_have_text("Bob (@bob)")
    send_from_page(alice_page, "psst, a DM")
    expect_once(alice_page, "psst, a DM")
    # Bob's list has it, unread, when he next loads the page.
    bob_page.reload()
    dm = bob_page.locator("#dm-list a", has_text="Alice")
    expect(dm.locator(".badge")).to_have_text("1")
    dm.click()
    expect_once(bob_page, "psst, a DM")
    expect(dm.locator(".badge")).to_have_count(0)

    # Bob leaves: Alice sees him go offline.
    bob_page.close()
    expect(alice_page.locator('#members-offline [data-username="bob"]')).to_be_visible()


# --- 1b. the log-in / register switch ------------------------------------------


def test_log_in_and_register_are_tabs_and_each_control_has_one_name(cluster, routes, contexts):
    page = contexts().new_page()
    page.goto(routes["nginx"] + "/")
    expect(page.get_by_role("tablist", name="Log in or create an account")).to_be_visible()
    tabs = page.get_by_role("tab")
    expect(tabs).to_have_text(["Log in", "Create account"])
    log_in_tab = page.get_by_role("tab", name="Log in")
    register_tab = page.get_by_role("tab", name="Create account")
    expect(log_in_tab).to_have_attribute("aria-selected", "true")
    expect(register_tab).to_have_attribute("aria-selected", "false")
    # One button named "Log in": the form's, inside the panel its tab names.
    expect(page.get_by_role("button", name="Log in", exact=True)).to_have_count(1)
    expect(page.get_by_role("tabpanel")).to_have_count(1)
    expect(
        page.get_by_role("tabpanel", name="Log in").get_by_role("button", name="Log in", exact=True)
    ).to_be_visible()
    assert_each_control_has_one_clear_name(page)

    # The keyboard moves between tabs (arrows, Home/End); only the chosen one is a tab stop.
    log_in_tab.focus()
    page.keyboard.press("ArrowRight")
    expect(register_tab).to_be_focused()
    expect(register_tab).to_have_attribute("aria-selected", "true")
    expect(log_in_tab).to_have_attribute("aria-selected", "false")
    expect(log_in_tab).to_have_attribute("tabindex", "-1")
    expect(page.get_by_role("tabpanel")).to_have_count(1)
    panel = page.get_by_role("tabpanel", name="Create account")
    expect(panel).to_be_visible()
    expect(page.get_by_role("button", name="Create account", exact=True)).to_have_count(1)
    expect(page.get_by_role("button", name="Log in", exact=True)).to_have_count(0)
    assert_each_control_has_one_clear_name(page)
    page.keyboard.press("Home")
    expect(log_in_tab).to_be_focused()
    expect(log_in_tab).to_have_attribute("aria-selected", "true")
    page.keyboard.press("End")
    expect(register_tab).to_have_attribute("aria-selected", "true")

    # A click on a tab puts the cursor in its first field; the panel creates an account.
    log_in_tab.click()
    register_tab.click()
    expect(panel.get_by_role("textbox", name="Username")).to_be_focused()
    username = "t" + uuid.uuid4().hex[:10]
    panel.get_by_role("textbox", name="Username").fill(username)
    panel.get_by_role("textbox", name="Display name (optional)").fill("Tab Tester")
    panel.get_by_role("textbox", name="Password").fill(PASSWORD)
    panel.get_by_role("button", name="Create account", exact=True).click()
    expect(page.locator("#chat-view")).to_be_visible()
    expect(page.locator("#me-username")).to_have_text("@" + username)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    assert_each_control_has_one_clear_name(page)


# --- 1c. unread counts of the rooms not open ------------------------------------


def test_message_deleted_in_a_room_not_open_lowers_its_unread_count(cluster, routes, contexts):
    reader = Api.register(cluster.url, "Reader")
    writer = Api.register(cluster.url, "Writer")
    here = reader.create_room("here", members=[writer])
    there = reader.create_room("there", members=[writer])
    page = open_chat(contexts(token=reader.token), routes["nginx"], here)
    opened = time.monotonic()
    badge = page.locator(f'#room-list a[data-room="{there}"] .badge')

    one = writer.send(there, "one")
    two = writer.send(there, "two")
    expect(badge).to_have_text("2")
    writer.call("DELETE", f"/api/messages/{one['id']}")
    # At once, not at the room list's 30-second refresh.
    expect(badge).to_have_text("1", timeout=5000)
    expect(page).to_have_title(re.compile(r"^\(1\) "))

    # Read "two" in its room, then go back: deleting it now changes nothing.
    page.locator(f'#room-list a[data-room="{there}"]').click()
    expect_once(page, "two")
    deadline = time.monotonic() + 10
    while reader.call("GET", f"/api/rooms/{there}")["last_read_id"] != two["id"]:
        assert time.monotonic() < deadline, "the page never marked the room read"
        page.wait_for_timeout(100)
    page.locator(f'#room-list a[data-room="{here}"]').click()
    expect(page.locator("#room-title")).to_have_text(f"#{here}")
    expect(badge).to_have_count(0)
    three = writer.send(there, "three")
    expect(badge).to_have_text("1")
    writer.call("DELETE", f"/api/messages/{two['id']}")  # already read
    writer.send(there, "four")
    expect(badge).to_have_text("2", timeout=5000)  # "three" and "four"
    writer.call("DELETE", f"/api/messages/{three['id']}")
    expect(badge).to_have_text("1", timeout=5000)
    # My own deleted message was never unread.
    mine = reader.send(there, "mine")
    reader.call("DELETE", f"/api/messages/{mine['id']}")
    writer.send(there, "five")
    expect(badge).to_have_text("2", timeout=5000)  # "four" and "five"
    assert time.monotonic() - opened < 30, "too slow to tell the fix from the 30-second refresh"
    # The server agrees.
    assert reader.call("GET", f"/api/rooms/{there}")["unread"] == 2


# --- 2. history ---------------------------------------------------------------


def test_scrolling_up_loads_older_history_in_order_without_duplicates(cluster, routes, contexts):
    owner = Api.register(cluster.url, "Historian")
    room = owner.create_room("history", "Long history")
    expected = [f"history message {n:03d}" for n in range(1, 121)]
    for body in expected:
        owner.send(room, body)

    page = open_chat(contexts(token=owner.token), routes["nginx"], room)
    messages = page.locator("#messages li.msg[data-id]")
    expect(messages).to_have_count(50)
    expect(page.locator("#load-older")).to_be_visible()
    assert bodies(page) == expected[-50:]

    scroller = page.locator("#scroller")
    for count in (100, 120):
        scroller.hover()
        page.mouse.wheel(0, -100000)
        expect(messages).to_have_count(count)
    expect(page.locator("#history-start")).to_be_visible()
    expect(page.locator("#load-older")).to_be_hidden()

    scroller.hover()
    page.mouse.wheel(0, -100000)
    time.sleep(SETTLE)
    assert bodies(page) == expected
    ids = message_ids(page)
    assert ids == sorted(ids) and len(set(ids)) == 120


# --- 3. an instance dies -------------------------------------------------------


def test_killed_instance_page_reconnects_elsewhere_and_loses_nothing(cluster, routes, contexts):
    alice_api = Api.login(cluster.url, "alice")
    bob_api = Api.login(cluster.url, "bob")
    room = alice_api.create_room("outage", "Outage drill", members=[bob_api])

    # Alice through nginx (instance X, which dies), Bob straight on Y.
    alice_page = open_chat(contexts(token=alice_api.token), routes["nginx"], room)
    bob_page = open_chat(contexts(token=bob_api.token), routes["direct"], room)
    expect(alice_page.locator("#instance")).to_have_text(routes["nginx_instance"])

    send_from_page(bob_page, "before the crash")
    expect_once(alice_page, "before the crash")

    blocked = {"on": False}

    def socketio_route(route):
        if blocked["on"]:
            route.abort()
        else:
            route.continue_()

    alice_page.route("**/socket.io/**", socketio_route)
    blocked["on"] = True
    cluster.kill_instance(routes["nginx_index"], signal.SIGKILL)
    try:
        expect(alice_page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        expect(alice_page.locator("#connection")).to_contain_text("Reconnecting")

        missed = [f"missed {n}" for n in range(1, 4)]
        for text in missed:
            send_from_page(bob_page, text)
            expect_once(bob_page, text)
        send_from_page(alice_page, "typed during the outage")
        pending = alice_page.locator("#messages li.msg.pending")
        expect(pending).to_have_count(1)
        expect(pending.locator(".msg-status")).to_have_text("Waiting for the connection…")
        shot(alice_page, "reconnecting.png")

        blocked["on"] = False
        expect(alice_page.locator("#connection")).to_have_attribute(
            "data-state", "back", timeout=20000
        )
        expect(alice_page.locator("#connection")).to_contain_text("3 missed messages")
        expect(alice_page.locator("#instance")).to_have_text(routes["direct_instance"])

        send_from_page(bob_page, "after the crash")
        for page in (alice_page, bob_page):
            expect_once(page, "after the crash")
            expect_once(page, "typed during the outage")
        time.sleep(SETTLE)
        order = ["before the crash", *missed, "typed during the outage", "after the crash"]
        for page in (alice_page, bob_page):
            assert bodies(page) == order
        # Once on the server too.
        history = alice_api.call("GET", f"/api/rooms/{room}/messages")["messages"]
        assert [m["body"] for m in history] == order
    finally:
        cluster.restart_instance(routes["nginx_index"])


# --- 3b. lost frames: a send is retried with its client_id and lands once -------


def _socketio_event(frame):
    """(event, payload) of a Socket.IO EVENT frame ("42<ack id>[...]"), else None."""
    if not isinstance(frame, str) or not frame.startswith("42"):
        return None
    body = frame[2:].lstrip("0123456789")
    try:
        event, *args = json.loads(body)
    except ValueError:
        return None
    return event, (args[0] if args else None)


def test_lost_send_or_lost_ack_is_retried_and_lands_once(cluster, routes, contexts):
    """The browser's WebSocket goes through Playwright (page.route_web_socket),
    which forwards every frame but can lose some and then cut the connection.

    A: the `send` frame is lost on its way: after the reconnect the page sends
       it again, with the same client_id, and it lands once.
    B: the server stores the message but its answers are lost: after the
       reconnect the page shows it once (from `sync`, or from a re-send that the
       server recognises by client_id), and the server has it once.
    """
    alice_api = Api.login(cluster.url, "alice")
    room = alice_api.create_room("retry", "Lost frames")
    sends = []  # (client_id, body) of every send frame the page wrote
    lose = {"to_server": None, "to_page": False}
    sockets = []

    def on_websocket(ws):
        server = ws.connect_to_server()
        state = {"dead": False, "upgraded": False}
        sockets.append((ws, state))

        def to_server(frame):
            if frame == "5":  # Engine.IO UPGRADE: from here the page writes here
                state["upgraded"] = True
            event = _socketio_event(frame)
            if event and event[0] == "send":
                sends.append((event[1]["client_id"], event[1]["body"]))
                if event[1]["body"] == lose["to_server"]:
                    state["dead"] = True
                    return  # lost on the way
            if not state["dead"]:
                server.send(frame)

        def to_page(frame):
            if lose["to_page"] or state["dead"]:
                return
            ws.send(frame)

        ws.on_message(to_server)
        server.on_message(to_page)

    def on_request(request):
        # Until its WebSocket is upgraded, a (re)connected page writes over polling.
        if request.method == "POST" and "transport=polling" in request.url:
            for packet in (request.post_data or "").split("\x1e"):
                event = _socketio_event(packet)
                if event and event[0] == "send":
                    sends.append((event[1]["client_id"], event[1]["body"]))

    context = contexts(token=alice_api.token)
    page = context.new_page()
    page.on("request", on_request)
    page.route_web_socket(re.compile(r"/socket\.io/"), on_websocket)
    page.goto(f"{routes['nginx']}/#{room}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")

    def wait_for_upgrade(count):
        """Until the page's WebSocket after the first `count` is upgraded: connected
        may come over polling, and the page writes there until then."""
        deadline = time.monotonic() + 10
        while (
            not (len(sockets) > count and sockets[-1][1]["upgraded"])
            and time.monotonic() < deadline
        ):
            page.wait_for_timeout(100)
        assert len(sockets) > count and sockets[-1][1]["upgraded"], (
            "the page never upgraded to a WebSocket"
        )

    wait_for_upgrade(0)  # the upgrade comes just after connecting

    def cut_and_wait_back():
        ws, _ = sockets[-1]
        count = len(sockets)
        ws.close()
        expect(page.locator("#connection")).to_have_attribute("data-state", "back", timeout=20000)
        wait_for_upgrade(count)

    # A: the frame never reaches the server.
    lose["to_server"] = "message A"
    send_from_page(page, "message A")
    expect(page.locator("#messages li.msg.pending")).to_have_count(1)
    lose["to_server"] = None
    cut_and_wait_back()
    expect_once(page, "message A")
    ids_a = [cid for cid, body in sends if body == "message A"]
    assert len(ids_a) == 2 and ids_a[0] == ids_a[1]

    # B: the server stores it, but the page hears nothing back.
    lose["to_page"] = True
    send_from_page(page, "message B")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        history = alice_api.call("GET", f"/api/rooms/{room}/messages")["messages"]
        if any(m["body"] == "message B" for m in history):
            break
        page.wait_for_timeout(100)
    expect(page.locator("#messages li.msg.pending")).to_have_count(1)
    lose["to_page"] = False
    cut_and_wait_back()
    expect_once(page, "message B")
    ids_b = {cid for cid, body in sends if body == "message B"}
    assert len(ids_b) == 1

    time.sleep(SETTLE)
    assert bodies(page) == ["message A", "message B"]
    history = alice_api.call("GET", f"/api/rooms/{room}/messages")["messages"]
    assert [m["body"] for m in history] == ["message A", "message B"]


# --- 4. hostile content --------------------------------------------------------


def test_hostile_message_and_display_name_render_as_text(cluster, routes, contexts):
    alice_api = Api.login(cluster.url, "alice")
    evil_name = '<img src=x onerror="window.__pwned=2">Mallory'
    mallory = Api.register(cluster.url, evil_name)
    room = alice_api.create_room("xss", "Hostile input", members=[mallory])

    page = open_chat(contexts(token=alice_api.token), routes["nginx"], room)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    payload = "<img src=x onerror=alert(1)>"
    send_from_page(page, payload)
    expect_once(page, payload)
    script = "<script>window.__pwned=1</script><b>bold?</b>"
    mallory.send(room, script)
    expect_once(page, script)
    author = page.locator("#messages li.msg[data-id]").last.locator(".msg-author")
    expect(author).to_have_text(evil_name)
    handle = page.locator("#messages li.msg[data-id]").last.locator(".msg-handle")
    expect(handle).to_have_text("@" + mallory.user["username"])
    expect(page.locator("#members-offline .member-name", has_text="Mallory")).to_have_text(
        evil_name
    )

    # The person search shows the name as text too.
    page.click("#new-dm-toggle")
    page.fill("#user-search", mallory.user["username"])
    expect(page.locator("#user-results .user-display")).to_have_text(evil_name)

    time.sleep(SETTLE)
    assert dialogs == []
    assert page.locator("#messages img, #messages script, #messages b").count() == 0
    assert page.locator("body img").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_a_display_name_anyone_can_take_is_shown_with_the_username(cluster, routes, contexts):
    """mallory registers as "Alice": wherever her display name shows, @mallory does
    too - her messages, the member list, typing, the person search, a DM's title
    and the DM list."""
    alice_api = Api.login(cluster.url, "alice")
    impostor = Api.register(cluster.url, "Alice")
    username = impostor.user["username"]
    room = alice_api.create_room("lookalike", members=[impostor])
    impostor.send(room, "hi, it is me, Alice")
    alice_api.send(room, "the real one")

    page = open_chat(contexts(token=alice_api.token), routes["nginx"], room)
    messages = page.locator("#messages li.msg[data-id]")
    expect(messages).to_have_count(2)
    expect(messages.first.locator(".msg-author")).to_have_text("Alice")
    expect(messages.first.locator(".msg-handle")).to_have_text("@" + username)
    expect(messages.last.locator(".msg-handle")).to_have_text("@alice")
    member = page.locator(f'#members [data-username="{username}"]')
    expect(member.locator(".member-name")).to_have_text("Alice")
    expect(member.locator(".member-handle")).to_contain_text("@" + username)

    impostor_page = open_chat(contexts(token=impostor.token), routes["direct"], room)
    impostor_page.locator("#composer-input").press_sequentially("typing as Alice", delay=20)
    expect(page.locator("#typing")).to_have_text(f"Alice (@{username}) is typing…")

    page.click("#new-dm-toggle")
    page.fill("#user-search", username)
    result = page.locator(f'#user-results button[data-username="{username}"]')
    expect(result.locator(".user-handle")).to_have_text("@" + username)
    result.click()
    expect(page.locator("#room-title")).to_have_text(f"Alice (@{username})")
    expect(page.locator("#dm-list .room-handle", has_text=username)).to_have_text("@" + username)


# --- 5. a phone ------------------------------------------------------------------


def test_phone_user_chats_through_the_drawers(cluster, routes, contexts):
    pocket = Api.register(cluster.url, "Pocket Alice")
    desk = Api.register(cluster.url, "Desk Bob")
    first = pocket.create_room("pocket", members=[desk])
    second = pocket.create_room("desk", members=[desk])

    phone = contexts(viewport=PHONE).new_page()
    phone.goto(f"{routes['nginx']}/#{first}")
    log_in(phone, pocket.user["username"])
    desk_page = open_chat(contexts(token=desk.token), routes["direct"], first)
    expect(phone.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(phone.locator("#room-title")).to_have_text(f"#{first}")
    expect(phone.locator("#instance")).to_have_text(routes["nginx_instance"])
    expect(desk_page.locator("#instance")).to_have_text(routes["direct_instance"])
    expect(phone.locator("#sidebar")).to_be_hidden()
    expect(phone.locator("#members")).to_be_hidden()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert_each_control_has_one_clear_name(phone)

    send_from_page(phone, "from the phone")
    expect_once(desk_page, "from the phone")
    send_from_page(desk_page, "from the desk")
    expect_once(phone, "from the desk")

    # News in the other room: a dot on the room-list button; the drawer opens it.
    desk.send(second, "over here")
    expect(phone.locator("#sidebar-unread")).to_be_visible()
    phone.get_by_role("button", name="Show the room list").click()
    expect(phone.locator("#sidebar")).to_be_visible()
    expect(phone.locator(f'#room-list a[data-room="{second}"] .badge')).to_have_text("1")
    phone.locator(f'#room-list a[data-room="{second}"]').click()
    expect(phone.locator("#sidebar")).to_be_hidden()
    expect(phone.locator("#room-title")).to_have_text(f"#{second}")
    expect_once(phone, "over here")
    expect(phone.locator("#sidebar-unread")).to_be_hidden()
    expect(phone.locator("#composer-input")).to_be_focused()

    # The people drawer shows who is online; Esc closes it.
    phone.get_by_role("button", name=re.compile(r"^Show who is in the room")).click()
    expect(phone.locator("#members")).to_be_visible()
    expect(
        phone.locator(f'#members-online [data-username="{desk.user["username"]}"]')
    ).to_be_visible()
    phone.keyboard.press("Escape")
    expect(phone.locator("#members")).to_be_hidden()
    send_from_page(phone, "back at my desk soon")
    expect_once(phone, "back at my desk soon")


# --- 6. a file that does not arrive -------------------------------------------------


def test_page_reloads_when_one_of_its_modules_fails_to_load(cluster, routes, contexts):
    """Any module lost on the way fails the whole module graph (Chromium loses
    requests in flight when a network interface comes or goes, e.g. a Docker
    network): the page reloads itself, up to three times, then says so."""
    user = Api.register(cluster.url, "Flaky Network")
    context = contexts(token=user.token)
    page = context.new_page()
    losses = {"left": 2}

    def lose_twice(route):
        if losses["left"]:
            losses["left"] -= 1
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/static/js/reads.js", lose_twice)
    page.goto(routes["nginx"] + "/")
    expect(page.locator("#chat-view")).to_be_visible()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    assert losses["left"] == 0
    expect(page.locator("#load-failed")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('chat.loadRetries')") is None

    lost = context.new_page()
    lost.route("**/static/js/reads.js", lambda route: route.abort("internetdisconnected"))
    lost.goto(routes["nginx"] + "/")
    expect(lost.get_by_role("alert").filter(has_text="could not load")).to_be_visible()
    expect(lost.locator("#chat-view")).to_be_hidden()
    expect(lost.locator("#auth-view")).to_be_hidden()


# --- 7. how it looks -----------------------------------------------------------


def test_screenshots_of_the_main_screens(cluster, routes, contexts):
    # People of their own, so that other tests' rooms stay out of the pictures.
    maya = Api.register(cluster.url, "Maya Chen", username="maya")
    tom = Api.register(cluster.url, "Tom Okafor", username="tom")
    priya = Api.register(cluster.url, "Priya Nair", username="priya")
    for api in (maya, tom, priya):
        for public in ("general", "random"):
            api.call("POST", f"/api/rooms/{public}/members")
    maya.call("POST", "/api/rooms", json={"name": "release", "title": "Release planning"})
    for api in (tom, priya):
        api.call("POST", "/api/rooms/release/members")
    maya.call("POST", "/api/rooms", json={"name": "leads", "title": "Team leads", "private": True})
    maya.call("POST", "/api/rooms/leads/members", json={"username": "priya"})
    conversation = [
        (priya, "Morning! The release branch is cut and CI is green."),
        (
            tom,
            "Great. I ran the failover drill on the cluster: killed an instance "
            "mid-conversation and every client came back with nothing missing.",
        ),
        (tom, "The reconnect took about a second through nginx."),
        (maya, "Nice work. Anything left before we tag it?"),
        (priya, "Only the release notes.\nI will draft them after lunch."),
    ]
    for api, body in conversation:
        api.send("release", body)
    maya.call("POST", "/api/dm/priya")
    priya.send("random", "Anyone up for lunch at noon?")
    room = "release"

    # Login screen.
    login_page = contexts().new_page()
    login_page.goto(routes["nginx"] + "/")
    expect(login_page.locator("#login-form")).to_be_visible()
    shot(login_page, "login.png")

    # Tom is around (and typing) when Maya looks.
    tom_page = open_chat(contexts(token=tom.token), routes["direct"], room)
    page = open_chat(contexts(token=maya.token), routes["nginx"], room)
    expect(page.locator("#messages li.msg[data-id]")).to_have_count(len(conversation))
    expect(page.locator('#members-online [data-username="tom"]')).to_be_visible()
    expect(page.locator('#room-list a[data-room="random"] .badge')).to_have_text("1")
    tom_page.locator("#composer-input").press_sequentially("Tagging it now", delay=20)
    expect(page.locator("#typing")).to_have_text("Tom Okafor (@tom) is typing…")
    page.locator("#composer-input").fill("Ship it!")
    # (The README's picture, docs/screenshot-chat.png, comes from test_screenshot_chat.py.)
    shot(page, "chat-desktop.png")

    # A phone: the room list collapses into a drawer and nothing scrolls sideways.
    phone = open_chat(contexts(viewport=PHONE, token=maya.token), routes["nginx"], room)
    expect(phone.locator("#sidebar")).to_be_hidden()
    expect(phone.locator("#members")).to_be_hidden()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "chat-phone.png")
    phone.click("#sidebar-toggle")
    expect(phone.locator("#sidebar")).to_be_visible()
    expect(phone.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "true")
    phone.wait_for_timeout(300)  # the drawer's slide-in transition
    shot(phone, "chat-phone-rooms.png")
    phone.keyboard.press("Escape")
    expect(phone.locator("#sidebar")).to_be_hidden()
