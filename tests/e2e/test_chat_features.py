"""The page's live room list, reactions, mentions and search, its
live-delivery banner and the end of a session, in Debian's Chromium
against a local 2-instance cluster (fixtures in conftest.py).

As in test_chat_page.py, one user's page goes through nginx (instance X) and
the other's straight to the other instance (Y), so every event crosses
instances; REST calls made "by another user" go to Y as well.

Each test waits for something only the feature makes happen (a room listed
before any message in it, a chip from the `reaction` event, a badge from the
`mention` event, a banner from `delivery`, the log-in screen after
`session_ended`), with deadlines far shorter than any reload or poll.
"""

import re
import time
import uuid

import pytest
from browser_kit import (
    PHONE,
    Api,
    assert_each_control_has_one_clear_name,
    bodies,
    expect_once,
    open_chat,
    publish,
    send_from_page,
    shot,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

LIVE_MS = 5000  # a live event reaches the page well within this


def reaction_chip(page, text, emoji):
    message = page.locator("#messages li.msg[data-id]", has_text=text)
    return message.locator(f'.reactions button[data-react="{emoji}"]')


def pick_reaction(page, text, emoji):
    message = page.locator("#messages li.msg[data-id]", has_text=text)
    message.hover()
    message.get_by_role("button", name=re.compile(r"^Add a reaction to ")).click()
    picker = page.get_by_role("group", name="Pick a reaction")
    expect(picker).to_be_visible()
    picker.get_by_role("button", name=f"React with {emoji}").click()
    expect(picker).to_have_count(0)


# --- the room list follows membership live ------------------------------------------


def test_room_list_follows_membership_without_reload(cluster, routes, contexts):
    me = Api.register(cluster.url, "Listed Lee")
    other = Api.register(routes["direct"], "Other Olga")
    home = me.create_room("home")
    page = open_chat(contexts(token=me.token), routes["nginx"], home)
    expect(page.locator("#instance")).to_have_text(routes["nginx_instance"])

    # Olga (on the other instance) opens a DM with me: listed before anything is said.
    dm = other.call("POST", f"/api/dm/{me.user['username']}")
    link = page.locator(f'#dm-list a[data-room="{dm["name"]}"]')
    expect(link).to_have_text(re.compile("Other Olga"), timeout=LIVE_MS)
    other.send(dm["name"], "hello from the other instance")
    expect(link.locator(".badge")).to_have_text("1", timeout=LIVE_MS)

    # Olga adds me to her private room: listed at once, and its messages count.
    olgas = other.create_room("olgas")
    other.call("POST", f"/api/rooms/{olgas}/members", json={"username": me.user["username"]})
    room_link = page.locator(f'#room-list a[data-room="{olgas}"]')
    expect(room_link).to_be_visible(timeout=LIVE_MS)
    other.send(olgas, "welcome")
    expect(room_link.locator(".badge")).to_have_text("1", timeout=LIVE_MS)

    # I open it, then leave it on "another tab" (REST): it goes, and the page
    # moves to another room.
    room_link.click()
    expect(page.locator("#room-title")).to_have_text(f"#{olgas}")
    expect_once(page, "welcome")
    me.call("DELETE", f"/api/rooms/{olgas}/members/me")
    expect(room_link).to_have_count(0, timeout=LIVE_MS)
    expect(page.locator("#room-title")).not_to_have_text(f"#{olgas}", timeout=LIVE_MS)
    # ... and its live events stop: a later message there changes nothing here.
    other.send(olgas, "after you left")
    time.sleep(1)
    expect(room_link).to_have_count(0)
    assert "after you left" not in bodies(page)


def test_a_room_added_while_the_list_reloads_stays_listed(cluster, routes, contexts):
    """After a reconnect the page reloads its room list; a `room_added` heard
    while that answer is on its way must survive the (older) answer."""
    me = Api.register(cluster.url, "Racing Rae")
    other = Api.register(routes["direct"], "Other Otto")
    home = me.create_room("racehome")
    sockets, held, closed = [], [], []

    def on_websocket(ws):
        server = ws.connect_to_server()
        sockets.append(ws)
        ws.on_message(server.send)
        server.on_message(ws.send)

    def hold_room_list(route):
        # Every list asked for after the close: the reconnect's CONNECT may be
        # answered over polling before its new WebSocket exists.
        if route.request.method == "GET" and closed:
            held.append((route, route.fetch()))  # answered now, delivered later
        else:
            route.continue_()

    page = contexts(token=me.token).new_page()
    page.route_web_socket(re.compile(r"/socket\.io/"), on_websocket)
    page.route(re.compile(r"/api/rooms$"), hold_room_list)
    page.goto(f"{routes['nginx']}/#{home}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    deadline = time.monotonic() + 10
    while not sockets and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert sockets, "the page never upgraded to a WebSocket"

    closed.append(True)
    sockets[-1].close()  # the page reconnects and asks for its rooms again
    deadline = time.monotonic() + 15
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert held, "the page did not reload its room list after the reconnect"
    dm = other.call("POST", f"/api/dm/{me.user['username']}")
    link = page.locator(f'#dm-list a[data-room="{dm["name"]}"]')
    expect(link).to_be_visible(timeout=LIVE_MS)
    route, response = held.pop()
    route.fulfill(response=response)  # the list from before the DM existed
    expect(page.locator("#connection")).to_have_attribute("data-state", "back")
    time.sleep(1)
    expect(link).to_be_visible()


def test_a_private_room_with_a_secret_name_from_the_form(cluster, routes, contexts):
    """The form's "Private, with a secret name" leaves the name to the server (`p-`
    and random characters): the page opens and uses the room under that name;
    someone not in it gets the 404 of a room that does not exist."""
    me = Api.register(cluster.url, "Secret Sam")
    outsider = Api.register(routes["direct"], "Outside Otis")
    page = open_chat(contexts(token=me.token), routes["nginx"], me.create_room("secrethome"))
    page.get_by_role("button", name="Create a room").click()
    form = page.locator("#new-room-form")
    form.get_by_role("checkbox", name="Private, with a secret name").check()
    expect(form.get_by_role("textbox", name="Name")).to_be_disabled()
    expect(form.get_by_role("checkbox", name="Private", exact=True)).to_be_checked()
    form.get_by_role("textbox", name="Title").fill("Surprise party")
    form.get_by_role("button", name="Create", exact=True).click()
    title = page.locator("#room-title")
    expect(title).to_have_text(re.compile(r"^#p-[a-z0-9]{22}$"))
    name = title.inner_text()[1:]
    expect(page.locator(f'#room-list a[data-room="{name}"]')).to_be_visible()
    send_from_page(page, "cake at five")
    expect_once(page, "cake at five")
    room = me.call("GET", f"/api/rooms/{name}")
    assert (room["private"], room["title"], room["role"]) == (True, "Surprise party", "owner")
    hidden = outsider.session.get(f"{outsider.base}/api/rooms/{name}", timeout=10)
    assert hidden.status_code == 404
    # The form is back to a chosen name for the next room.
    page.get_by_role("button", name="Create a room").click()
    expect(form.get_by_role("textbox", name="Name")).to_be_enabled()
    expect(form.get_by_role("checkbox", name="Private, with a secret name")).not_to_be_checked()


# --- reactions ---------------------------------------------------------------------


def test_reactions_show_for_both_users_and_toggle(cluster, routes, contexts):
    alice = Api.register(cluster.url, "Alice Reacts")
    bob = Api.register(routes["direct"], "Bob Reacts")
    room = alice.create_room("react", members=[bob])
    alice_page = open_chat(contexts(token=alice.token), routes["nginx"], room)
    bob_page = open_chat(contexts(token=bob.token), routes["direct"], room)
    expect(bob_page.locator("#instance")).to_have_text(routes["direct_instance"])
    send_from_page(bob_page, "ship it today?")
    expect_once(alice_page, "ship it today?")

    # Alice picks 👍 from the picker: both pages show it, pressed only on hers.
    pick_reaction(alice_page, "ship it today?", "👍")
    for page, pressed in ((alice_page, "true"), (bob_page, "false")):
        chip = reaction_chip(page, "ship it today?", "👍")
        expect(chip).to_have_text("👍1", timeout=LIVE_MS)
        expect(chip).to_have_attribute("aria-pressed", pressed)
        expect(chip).to_have_attribute("title", f"{alice.user['username']} reacted with 👍")
    assert_each_control_has_one_clear_name(alice_page)

    # Bob clicks the chip to add his: 2 on both, with both names in the tooltip.
    reaction_chip(bob_page, "ship it today?", "👍").click()
    for page in (alice_page, bob_page):
        chip = reaction_chip(page, "ship it today?", "👍")
        expect(chip).to_have_text("👍2", timeout=LIVE_MS)
        expect(chip).to_have_attribute(
            "title", f"{alice.user['username']} and {bob.user['username']} reacted with 👍"
        )
    expect(reaction_chip(bob_page, "ship it today?", "👍")).to_have_attribute(
        "aria-pressed", "true"
    )
    # A second emoji from Bob, then he takes his 👍 back.
    pick_reaction(bob_page, "ship it today?", "🎉")
    reaction_chip(bob_page, "ship it today?", "👍").click()
    for page in (alice_page, bob_page):
        expect(reaction_chip(page, "ship it today?", "👍")).to_have_text("👍1", timeout=LIVE_MS)
        expect(reaction_chip(page, "ship it today?", "🎉")).to_have_text("🎉1", timeout=LIVE_MS)
    # Alice takes hers back: the 👍 chip goes on both pages.
    reaction_chip(alice_page, "ship it today?", "👍").click()
    for page in (alice_page, bob_page):
        expect(reaction_chip(page, "ship it today?", "👍")).to_have_count(0, timeout=LIVE_MS)

    # The server agrees, and a fresh page draws the same.
    [message] = alice.call("GET", f"/api/rooms/{room}/messages")["messages"]
    assert message["reactions"] == [{"emoji": "🎉", "usernames": [bob.user["username"]]}]
    alice_page.reload()
    expect(reaction_chip(alice_page, "ship it today?", "🎉")).to_have_attribute(
        "aria-pressed", "false"
    )


# --- mentions ------------------------------------------------------------------------

# Headless Chromium can neither show a permission prompt nor hide a tab, so this
# page records what the client asks of the browser's Notification API and
# says the tab is hidden while window.__hidden is set. The server and the
# client's code run unchanged.
NOTIFICATION_RECORDER = """
if (location.protocol.startsWith('http')) {
  window.__notes = []; window.__asked = 0; window.__perm = 'default'; window.__hidden = false;
  window.Notification = class {
    constructor(title, options) { window.__notes.push({title, body: options && options.body}); }
    close() {}
    static get permission() { return window.__perm; }
    static requestPermission() {
      window.__asked += 1; window.__perm = 'granted'; return Promise.resolve('granted');
    }
  };
  Object.defineProperty(Document.prototype, 'visibilityState',
    {configurable: true, get() { return window.__hidden ? 'hidden' : 'visible'; }});
}
"""


def test_mention_badge_highlight_and_notification(cluster, routes, contexts):
    alice = Api.register(cluster.url, "Alice Named")
    bob = Api.register(routes["direct"], "Bob Caller")
    here = alice.create_room("calm", members=[bob])
    there = alice.create_room("busy", members=[bob])
    context = contexts(token=alice.token)
    context.add_init_script(NOTIFICATION_RECORDER)
    page = open_chat(context, routes["nginx"], here)
    badge = page.locator(f'#room-list a[data-room="{there}"] .badge-mention')

    # Never asked on load; one click on the button asks, and the button goes.
    enable = page.get_by_role("button", name=re.compile(r"^Enable notifications"))
    expect(enable).to_be_visible()
    assert page.evaluate("window.__asked") == 0
    enable.click()
    expect(enable).to_be_hidden()
    assert page.evaluate("window.__asked") == 1

    # Bob names Alice in the other room: a mention badge there.
    username = alice.user["username"]
    bob.send(there, f"@{username} can you look at this?")
    expect(badge).to_have_text("@1", timeout=LIVE_MS)
    expect(badge).to_have_attribute("aria-label", "1 mention")
    bob.send(there, "no mention here")
    bob.send(there, f"thanks @{username}!")
    expect(badge).to_have_text("@2", timeout=LIVE_MS)
    expect(
        page.locator(f'#room-list a[data-room="{there}"] .badge:not(.badge-mention)')
    ).to_have_text("3")
    assert page.evaluate("window.__notes") == []  # the tab is visible: no notification

    # Hidden tab: a notification for the mention (none for a plain message).
    page.evaluate("window.__hidden = true")
    bob.send(there, "plain again")
    bob.send(here, f"@{username} over here too")
    deadline = time.monotonic() + LIVE_MS / 1000
    while not page.evaluate("window.__notes.length") and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    notes = page.evaluate("window.__notes")
    assert notes == [
        {
            "title": f"Bob Caller (@{bob.user['username']}) mentioned you in #{here}",
            "body": f"@{username} over here too",
        }
    ]
    page.evaluate("window.__hidden = false")

    # Opening the room clears its badge (here, and on my other tab, which hears
    # my `read`); my name is marked in the bodies, as text.
    other_tab = open_chat(context, routes["direct"], here)
    other_badge = other_tab.locator(f'#room-list a[data-room="{there}"] .badge-mention')
    expect(other_badge).to_have_text("@2")
    page.locator(f'#room-list a[data-room="{there}"]').click()
    expect_once(page, "no mention here")
    expect(badge).to_have_count(0)
    expect(other_badge).to_have_count(0, timeout=LIVE_MS)
    expect(other_tab.locator(f'#room-list a[data-room="{there}"] .badge')).to_have_count(0)
    marks = page.locator("#messages mark.mention-me")
    expect(marks).to_have_count(2)
    expect(marks.first).to_have_text(f"@{username}")
    expect(page.locator("#messages li.msg.mentions-me")).to_have_count(2)
    # The server cleared it too (reading clears mentions): not back after a reload.
    deadline = time.monotonic() + 10
    while alice.call("GET", f"/api/rooms/{there}")["mentions"]:
        assert time.monotonic() < deadline, "reading the room did not clear its mentions"
        page.wait_for_timeout(100)
    page.locator(f'#room-list a[data-room="{here}"]').click()
    page.reload()
    expect(page.locator(f'#room-list a[data-room="{there}"]')).to_be_visible()
    expect(badge).to_have_count(0)


# --- search --------------------------------------------------------------------------


def test_search_lists_hits_pages_on_and_jumps_to_one(cluster, routes, contexts):
    owner = Api.register(cluster.url, "Searcher Sam")
    room = owner.create_room("archive")
    other_room = owner.create_room("elsewhere")
    word = "zebra" + uuid.uuid4().hex[:6]
    bodies_sent = []
    for n in range(1, 121):
        body = f"archive message {n:03d}"
        if n == 10:
            body = f"the old {word} decision, message {n:03d}"
        owner.send(room, body)
        bodies_sent.append(body)
    owner.send(other_room, f"a newer note on the {word} thing")
    page = open_chat(contexts(token=owner.token), routes["nginx"], other_room)

    box = page.get_by_role("searchbox", name="Search messages")
    box.fill(word)
    box.press("Enter")
    panel = page.get_by_role("region", name="Search results")
    expect(panel).to_be_visible()
    hits = panel.locator(".search-hit")
    expect(hits).to_have_count(2)
    expect(page.locator("#search-status")).to_have_text(f"2 messages found for “{word}”")
    # Newest first: room, author, the body as text with the word marked.
    expect(hits.nth(0).locator(".hit-room")).to_have_text(f"#{other_room}")
    expect(hits.nth(1).locator(".hit-room")).to_have_text(f"#{room}")
    expect(hits.nth(1).locator(".hit-author")).to_have_text("Searcher Sam")
    expect(hits.nth(1).locator(".hit-body")).to_have_text(f"the old {word} decision, message 010")
    expect(hits.nth(1).locator("mark")).to_have_text(word)
    expect(hits.nth(1).locator("time")).to_have_count(1)

    # The old hit opens its room around it (not the newest page), highlighted.
    hits.nth(1).click()
    expect(panel).to_be_hidden()
    expect(page.locator("#room-title")).to_have_text(f"#{room}")
    target = page.locator("#messages li.msg.highlight")
    expect(target).to_have_count(1)
    expect(target.locator(".msg-body")).to_have_text(f"the old {word} decision, message 010")
    expect(target).to_be_in_viewport()
    expect(target).to_be_focused()
    # Around the hit, not the newest page (which would start at message 071).
    assert "archive message 001" in bodies(page)
    # Going live catches up the rest: every message once, in order.
    expect(page.locator("#messages li.msg[data-id]")).to_have_count(120)
    assert bodies(page) == bodies_sent
    expect(target).to_be_in_viewport()

    # Paging with `before`: 25 hits come as 20, then 5 more.
    many = "pager" + uuid.uuid4().hex[:6]
    for n in range(25):
        owner.send(other_room, f"{many} number {n}")
    box.fill(many)
    box.press("Enter")
    expect(hits).to_have_count(20)
    more = panel.get_by_role("button", name="More results")
    expect(more).to_be_visible()
    more.click()
    expect(hits).to_have_count(25)
    expect(more).to_be_hidden()
    expect(page.locator("#search-status")).to_have_text(f"25 messages found for “{many}”")
    texts = hits.locator(".hit-body").all_text_contents()
    assert texts == [f"{many} number {n}" for n in range(24, -1, -1)]
    # Esc closes the results and gives the search box the focus back.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(box).to_be_focused()


def test_search_on_a_phone_opens_the_hit_from_the_drawer(cluster, routes, contexts):
    owner = Api.register(cluster.url, "Pocket Searcher")
    room = owner.create_room("pocketsearch")
    word = "quokka" + uuid.uuid4().hex[:6]
    owner.send(room, f"where is the {word} report?")
    for n in range(5):
        owner.send(room, f"filler {n}")
    phone = open_chat(contexts(viewport=PHONE, token=owner.token), routes["nginx"], room)
    phone.get_by_role("button", name="Show the room list").click()
    box = phone.get_by_role("searchbox", name="Search messages")
    box.fill(word)
    box.press("Enter")
    expect(phone.locator("#sidebar")).to_be_hidden()
    hit = phone.locator(".search-hit")
    expect(hit).to_have_count(1)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    hit.click()
    expect(phone.locator("#messages li.msg.highlight .msg-body")).to_have_text(
        f"where is the {word} report?"
    )


# --- live delivery paused ------------------------------------------------------------


def test_delivery_paused_shows_a_banner_and_the_page_catches_up(cluster, routes, contexts):
    """Redis stops: each instance tells its sockets `delivery {live: false}`;
    the pages say so and fetch what they miss (a message sent on the other
    instance arrives through `sync`); Redis back: the banner goes."""
    alice = Api.register(cluster.url, "Alice Paused")
    bob = Api.register(routes["direct"], "Bob Paused")
    room = alice.create_room("paused", members=[bob])
    side = alice.create_room("side", members=[bob])
    alice_page = open_chat(contexts(token=alice.token), routes["nginx"], room)
    bob_page = open_chat(contexts(token=bob.token), routes["direct"], room)
    banner = alice_page.get_by_role("status").filter(has_text="Live updates paused")
    expect(banner).to_be_hidden()

    cluster.redis.stop(remove=False)
    try:
        expect(banner).to_be_visible(timeout=20000)
        expect(bob_page.locator("#delivery-banner")).to_be_visible(timeout=20000)
        # Sent on Y while the queue is down: no live event reaches X, but
        # Alice's page catches up by itself (no reload, no reconnect).
        send_from_page(bob_page, "sent while the queue is down")
        expect_once(bob_page, "sent while the queue is down")
        expect_once(alice_page, "sent while the queue is down")
        expect(banner).to_be_visible()
        path = shot(alice_page, "delivery-paused.png")
        publish(path, "screenshot-delivery.png")
        bob.send(side, "elsewhere, meanwhile")
        expect(alice_page.locator(f'#room-list a[data-room="{side}"] .badge')).to_have_text(
            "1", timeout=15000
        )
        expect(alice_page.locator("#connection")).to_have_attribute("data-state", "connected")
        # A page that connects while its instance is without the queue hears
        # it at once (the event may come before the socket's "connect").
        alice_page.reload()
        expect(alice_page.locator("#connection")).to_have_attribute("data-state", "connected")
        expect(banner).to_be_visible()
        expect_once(alice_page, "sent while the queue is down")
    finally:
        cluster.redis.start()
    expect(banner).to_be_hidden(timeout=20000)
    expect(bob_page.locator("#delivery-banner")).to_be_hidden(timeout=20000)
    send_from_page(bob_page, "live again")
    expect_once(alice_page, "live again")


# --- the session ends ---------------------------------------------------------------------


def test_logging_out_in_one_tab_ends_the_session_in_the_other(cluster, routes, contexts):
    user = Api.register(cluster.url, "Two Tabs")
    room = user.create_room("tabs")
    context = contexts(token=user.token)
    first = open_chat(context, routes["nginx"], room)
    second = open_chat(context, routes["nginx"], room)
    sockets = []
    second.on("request", lambda request: "/socket.io/" in request.url and sockets.append(1))

    first.get_by_role("button", name="Log out").click()
    expect(first.locator("#auth-view")).to_be_visible()
    # The other tab hears session_ended (each instance checks its sockets every
    # SESSION_CHECK_SECONDS, 5 by default), says why, and shows the log-in.
    expect(second.locator("#auth-view")).to_be_visible(timeout=15000)
    expect(second.locator("#login-form [data-form-error]")).to_have_text(
        re.compile(r"^You logged out")
    )
    # It does not try to reconnect with the dead token.
    count = len(sockets)
    time.sleep(3)
    assert len(sockets) == count
    expect(second.locator("#auth-view")).to_be_visible()
    # The token is dead on the server.
    assert user.session.get(cluster.url + "/api/me", timeout=10).status_code == 401


# --- how it looks ---------------------------------------------------------------------------


def test_screenshots_of_reactions_mentions_and_search(cluster, routes, contexts):
    maya = Api.register(cluster.url, "Maya Chen", username="maya")
    tom = Api.register(cluster.url, "Tom Okafor", username="tom")
    priya = Api.register(cluster.url, "Priya Nair", username="priya")
    maya.call("POST", "/api/rooms", json={"name": "release", "title": "Release planning"})
    maya.call("POST", "/api/rooms", json={"name": "design", "title": "Design reviews"})
    for api in (tom, priya):
        for name in ("release", "design"):
            api.call("POST", f"/api/rooms/{name}/members")
    said = {}
    for api, body in [
        (priya, "Morning! The release branch is cut and CI is green."),
        (tom, "I ran the failover drill: every client came back with nothing missing."),
        (priya, "@maya can you sign off the release notes before lunch?"),
        (maya, "On it. @tom the rollback plan looks good to me."),
    ]:
        said[body] = api.send("release", body)
    drill = said["I ran the failover drill: every client came back with nothing missing."]
    for api, emoji in ((maya, "🎉"), (priya, "🎉"), (maya, "👍")):
        api.call("PUT", f"/api/messages/{drill['id']}/reactions/{emoji}")
    tom.send("design", "@maya the new room list mock-ups are in the drive")
    tom.send("design", "The failover banner copy needs a second look too.")

    page = open_chat(contexts(token=maya.token), routes["nginx"], "release")
    expect(page.locator("#messages li.msg[data-id]")).to_have_count(4)
    expect(page.locator('#room-list a[data-room="design"] .badge-mention')).to_have_text("@1")
    message = page.locator("#messages li.msg[data-id]", has_text="failover drill")
    message.hover()
    message.get_by_role("button", name=re.compile(r"^Add a reaction to ")).click()
    expect(page.get_by_role("group", name="Pick a reaction")).to_be_visible()
    path = shot(page, "reactions-mentions.png")
    publish(path, "screenshot-reactions-mentions.png")
    page.keyboard.press("Escape")

    box = page.get_by_role("searchbox", name="Search messages")
    box.fill("failover")
    box.press("Enter")
    expect(page.locator(".search-hit")).to_have_count(2)
    path = shot(page, "search.png")
    publish(path, "screenshot-search.png")
    page.locator(".search-hit", has_text="drill").click()
    expect(page.locator("#messages li.msg.highlight")).to_have_count(1)
    path = shot(page, "search-hit.png")
    publish(path, "screenshot-search-hit.png")

    phone = open_chat(contexts(viewport=PHONE, token=maya.token), routes["nginx"], "release")
    expect(phone.locator(".reactions button")).to_have_count(2)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.get_by_role("button", name="Show the room list").click()
    phone.wait_for_timeout(300)  # the drawer's slide-in transition
    path = shot(phone, "phone-rooms-mentions.png")
    publish(path, "screenshot-phone-rooms.png")
    phone.get_by_role("searchbox", name="Search messages").fill("failover")
    phone.get_by_role("searchbox", name="Search messages").press("Enter")
    expect(phone.locator(".search-hit")).to_have_count(2)
    path = shot(phone, "phone-search.png")
    publish(path, "screenshot-phone-search.png")
