"""Replies, the thread panel, mute and notifications in the real page (Chromium
on the module's two-instance cluster; fixtures in conftest.py)."""

import time

from browser_kit import Api, expect_once, open_chat, publish, shot
from playwright.sync_api import expect

LIVE_MS = 10000

# The page keeps the real Notification API (the context grants the permission)
# and records each notification it creates; the tab says it is hidden while
# window.__hidden is set (headless Chromium never hides a tab by itself).
NOTIFICATION_SPY = """
if (location.protocol.startsWith('http')) {
  window.__notes = []; window.__hidden = false;
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({title, body: options && options.body});
    }
  };
  Object.defineProperty(Document.prototype, 'visibilityState',
    {configurable: true, get() { return window.__hidden ? 'hidden' : 'visible'; }});
}
"""


def message_item(page, text):
    return page.locator("#messages li.msg[data-id]", has_text=text)


def test_reply_from_the_thread_panel_and_live_counts(cluster, routes, contexts):
    alice = Api.register(cluster.url, "Alice Asks")
    bob = Api.register(routes["direct"], "Bob Answers")
    room = alice.create_room("threads", members=[bob])
    parent = bob.send(room, "Which database shall we use?")
    page = open_chat(contexts(token=alice.token), routes["nginx"], room)
    item = page.locator(f'#messages li.msg[data-id="{parent["id"]}"]')
    expect(item).to_have_count(1)

    # "Reply" among the message's actions (reachable from the keyboard) opens
    # the thread panel with its composer focused.
    item.hover()
    item.get_by_role(
        "button",
        name=f"Reply to Bob Answers (@{bob.user['username']}): Which database shall we use?",
    ).click()
    panel = page.get_by_role("complementary", name="Thread")
    expect(panel).to_be_visible()
    expect(panel.locator("#thread-parent")).to_contain_text("Which database shall we use?")
    expect(panel.locator("#thread-status")).to_have_text("No replies yet.")
    box = panel.get_by_role("textbox", name="Reply in the thread")
    expect(box).to_be_focused()
    box.fill("PostgreSQL, of course")
    box.press("Enter")
    replies = panel.locator("#thread-replies li")
    expect(replies).to_have_count(1)
    expect(replies.first).to_contain_text("PostgreSQL, of course")
    expect(panel.locator("#thread-status")).to_have_text("1 reply")

    # In the room: the reply is an ordinary message with the quote above it,
    # and the parent says how many replies it has.
    expect_once(page, "PostgreSQL, of course")
    quote = message_item(page, "PostgreSQL, of course").locator(".reply-quote")
    expect(quote).to_contain_text("Bob Answers")
    expect(quote).to_contain_text("Which database shall we use?")
    summary = item.locator(".thread-summary")
    expect(summary).to_contain_text("1 reply")

    # Bob replies through the other instance: the counts move live.
    bob.call(
        "POST",
        f"/api/rooms/{room}/messages",
        json={"body": "Agreed, with a replica", "reply_to": parent["id"]},
    )
    expect(summary).to_contain_text("2 replies", timeout=LIVE_MS)
    expect(replies).to_have_count(2, timeout=LIVE_MS)
    expect(replies.nth(1)).to_contain_text("Agreed, with a replica")
    expect(panel.locator("#thread-status")).to_have_text("2 replies")
    path = shot(page, "thread-panel.png")
    publish(path, "screenshot-thread.png")

    # Esc closes the panel; the summary opens it again, from the keyboard.
    box.focus()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    summary.focus()
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(replies).to_have_count(2)

    # Bob deletes the parent: it keeps its thread, and the quotes say so live.
    bob.call("DELETE", f"/api/messages/{parent['id']}")
    expect(panel.locator("#thread-parent")).to_contain_text("This message was deleted.")
    expect(quote).to_contain_text("(deleted message)", timeout=LIVE_MS)
    expect(summary).to_contain_text("2 replies")
    expect(replies).to_have_count(2)
    page.get_by_role("button", name="Close the thread").click()
    expect(panel).to_be_hidden()


def test_a_quote_jumps_to_the_original_loading_history_around_it(cluster, routes, contexts):
    alice = Api.register(cluster.url, "Alice Scrolls")
    room = alice.create_room("jump")
    parent = alice.send(room, "The original question")
    for number in range(70):
        alice.send(room, f"filler {number}")
    alice.call(
        "POST",
        f"/api/rooms/{room}/messages",
        json={"body": "A late answer", "reply_to": parent["id"]},
    )
    page = open_chat(contexts(token=alice.token), routes["nginx"], room)
    expect_once(page, "A late answer")
    original = page.locator(f'#messages li.msg[data-id="{parent["id"]}"]')
    expect(original).to_have_count(0)  # not loaded yet
    message_item(page, "A late answer").get_by_role(
        "button",
        name=f"In reply to Alice Scrolls (@{alice.user['username']}): The original question. "
        "Show the original message",
    ).click()
    expect(original).to_have_class("msg own highlight")
    expect(original).to_be_focused()
    expect(original.locator(".thread-summary")).to_contain_text("1 reply")


def wait_for_notes(page, count, timeout=LIVE_MS / 1000):
    deadline = time.monotonic() + timeout
    while page.evaluate("window.__notes.length") < count and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    return page.evaluate("window.__notes")


def test_dms_and_replies_notify_a_hidden_tab_and_a_muted_room_never(cluster, routes, contexts):
    alice = Api.register(cluster.url, "Alice Away")
    bob = Api.register(routes["direct"], "Bob Busy")
    loud = alice.create_room("loud", members=[bob])
    quiet = alice.create_room("quiet", members=[bob])
    dm = bob.call("POST", f"/api/dm/{alice.user['username']}")["name"]
    mine_loud = alice.send(loud, "my loud question")
    mine_quiet = alice.send(quiet, "my quiet question")

    context = contexts(token=alice.token)
    context.grant_permissions(["notifications"], origin=routes["nginx"])
    context.add_init_script(NOTIFICATION_SPY)
    page = open_chat(context, routes["nginx"], loud)
    assert page.evaluate("Notification.permission") == "granted"

    # Mute #quiet from its header; the other tab (other instance) follows.
    other = open_chat(context, routes["direct"], loud)
    page.locator(f'#room-list a[data-room="{quiet}"]').click()
    expect(page.locator("#room-title")).to_have_text(f"#{quiet}")
    toggle = page.get_by_role("button", name=f"Mute #{quiet}")
    toggle.click()
    expect(page.get_by_role("button", name=f"Unmute #{quiet}")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(other.locator(f'#room-list a[data-room="{quiet}"] .room-muted')).to_have_text(
        "muted", timeout=LIVE_MS
    )
    page.locator(f'#room-list a[data-room="{loud}"]').click()
    expect(page.locator("#room-title")).to_have_text(f"#{loud}")
    other.close()

    # The tab is hidden: the muted room raises nothing (a reply to me, a
    # mention, a plain message), and shows its unread count dimmed.
    page.evaluate("window.__hidden = true")
    bob.call(
        "POST",
        f"/api/rooms/{quiet}/messages",
        json={"body": "quiet reply", "reply_to": mine_quiet["id"]},
    )
    bob.send(quiet, f"@{alice.user['username']} quiet mention")
    bob.send(quiet, "quiet chatter")
    dimmed = page.locator(f'#room-list a[data-room="{quiet}"] .badge-muted')
    expect(dimmed).to_have_text("3", timeout=LIVE_MS)
    expect(dimmed).to_have_attribute("aria-label", "3 unread, muted")
    assert page.evaluate("window.__notes") == []
    assert not page.title().startswith("(")  # muted unread is not counted in the title

    # A DM raises one; so does a reply to my message in a room not muted; a
    # plain message in it does not.
    bob.send(dm, "are you around?")
    assert wait_for_notes(page, 1) == [
        {
            "title": f"Bob Busy (@{bob.user['username']}) sent you a message",
            "body": "are you around?",
        }
    ]
    bob.send(loud, "loud chatter")
    bob.call(
        "POST",
        f"/api/rooms/{loud}/messages",
        json={"body": "loud reply", "reply_to": mine_loud["id"]},
    )
    notes = wait_for_notes(page, 2)
    assert notes[1:] == [
        {
            "title": f"Bob Busy (@{bob.user['username']}) replied to you in #{loud}",
            "body": "loud reply",
        }
    ]
    page.wait_for_timeout(500)
    assert len(page.evaluate("window.__notes")) == 2
    # The favicon carries the unread count of the rooms not muted (the DM).
    expect(page.locator('link[rel="icon"]')).to_have_attribute("data-badge", "n1")
    assert (
        page.locator('link[rel="icon"]').get_attribute("href").startswith("data:image/png;base64,")
    )
