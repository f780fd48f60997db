"""Accessibility: axe-core (vendored in tests/e2e/vendor, run inside the page by
`audit` in browser_kit.py) finds no serious or critical violation on the log-in
page and in a room (with Markdown, reactions, the pickers, the unread divider),
and the keyboard reaches every control.

Other parts of the page are audited the same way: `audit(page, "#selector")`.
"""

import io
import re

import pytest
from browser_kit import Api, audit, open_chat, tab_stops
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_log_in_page_has_no_serious_violation(cluster, routes, contexts):
    page = contexts().new_page()
    page.goto(routes["nginx"] + "/")
    expect(page.locator("#auth-view")).to_be_visible()
    audit(page)
    page.get_by_role("tab", name="Create account").click()
    expect(page.locator("#register-panel")).to_be_visible()
    audit(page)
    # An error shown under the form is audited too.
    page.get_by_role("button", name="Create account", exact=True).click()
    expect(page.locator("#register-panel [data-field-error]").first).not_to_be_empty()
    audit(page)


def room_with_everything(cluster, routes):
    me = Api.register(cluster.url, "Audit Ada")
    other = Api.register(routes["direct"], "Other Ozzy")
    room = me.create_room("a11y", title="Audited", members=[other])
    first = me.send(room, "read already")
    me.call("POST", f"/api/rooms/{room}/read", json={"message_id": first["id"]})
    other.send(room, f"**Hello** @{me.user['username']}, see [the docs](https://example.com/docs)")
    other.send(room, "```\ncode  block\n```\n\n> a quote\n\n- a\n- b")
    reacted = other.send(room, "react to this")
    other.call("PUT", f"/api/messages/{reacted['id']}/reactions/👍")
    return me, other, room


def test_a_room_has_no_serious_violation(cluster, routes, contexts):
    me, _, room = room_with_everything(cluster, routes)
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    expect(page.locator("#unread-divider")).to_have_count(1)
    expect(page.locator("#messages .msg-body strong")).to_have_text("Hello")
    audit(page)
    # The small reaction picker, then the full emoji picker.
    message = page.locator("#messages li.msg[data-id]", has_text="react to this")
    message.hover()
    message.get_by_role("button", name=re.compile(r"^Add a reaction to ")).click()
    audit(page)
    page.get_by_role("button", name="More emoji").click()
    dialog = page.get_by_role("dialog", name="Pick any emoji")
    expect(dialog.get_by_role("tab").first).to_be_visible()
    audit(page)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def test_the_keyboard_reaches_the_composer_rooms_and_message_actions(cluster, routes, contexts):
    me, _, room = room_with_everything(cluster, routes)
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    expect(page.locator("#messages li.msg[data-id]")).to_have_count(4)
    stops = tab_stops(page, 60)
    text = "\n".join(stops)
    assert "#search-input" in text
    assert f"[room={room}]" in text
    assert "#new-room-toggle" in text and "#new-dm-toggle" in text
    assert "#logout" in text
    assert "#scroller" in text  # the history scrolls from the keyboard
    assert "[action=react]" in text
    assert "#composer-input" in text
    assert stops.index(next(s for s in stops if "[action=react]" in s)) < stops.index(
        next(s for s in stops if "#composer-input" in s)
    )
    # Used from the keyboard: react to a message without the mouse.
    message = page.locator("#messages li.msg[data-id]", has_text="react to this")
    message.get_by_role("button", name=re.compile(r"^Add a reaction to ")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("group", name="Pick a reaction")).to_be_visible()
    expect(page.get_by_role("button", name="React with 👍")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="React with ❤️")).to_be_focused()
    page.keyboard.press("Enter")
    expect(message.locator('.reactions button[data-react="❤️"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    # And from the message box, back to the log-in page's controls.
    page.locator("#composer-input").focus()
    page.keyboard.type("typed, never clicked")
    page.keyboard.press("Enter")
    expect(page.locator("#messages li.msg[data-id] .msg-body").last).to_have_text(
        "typed, never clicked"
    )


def test_the_keyboard_reaches_the_log_in_form(cluster, routes, contexts):
    page = contexts().new_page()
    page.goto(routes["nginx"] + "/")
    expect(page.locator("#auth-view")).to_be_visible()
    stops = "\n".join(tab_stops(page, 8))
    for wanted in ("#tab-login", "#login-username", "#login-password", '"Log in"'):
        assert wanted in stops, stops
    page.locator("#tab-login").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-register")).to_be_focused()
    expect(page.locator("#register-panel")).to_be_visible()


def tiny_png(width=320, height=200):
    out = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(out, "PNG")
    return out.getvalue()


def room_with_a_thread_and_an_image(cluster, routes):
    """A room where a message has three replies and another carries an image."""
    me = Api.register(cluster.url, "Keyboard Kim")
    other = Api.register(routes["direct"], "Other Olga")
    room = me.create_room("a11y-convo", title="Threads and images", members=[other])
    parent = other.send(room, "Which **port** does the staging proxy use?")
    for who, body in ((me, "8443, as in production"), (other, "Thanks!"), (me, "`curl -k` it")):
        who.call(
            "POST",
            f"/api/rooms/{room}/messages",
            json={"body": body, "reply_to": parent["id"]},
        )
    upload = other.call(
        "POST", "/api/uploads", files={"file": ("chart.png", tiny_png(), "image/png")}
    )
    other.call(
        "POST",
        f"/api/rooms/{room}/messages",
        json={"body": "the latency chart", "attachments": [upload["id"]]},
    )
    return me, other, room, parent


def test_the_thread_panel_and_the_image_viewer_have_no_serious_violation(cluster, routes, contexts):
    me, _, room, parent = room_with_a_thread_and_an_image(cluster, routes)
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    item = page.locator(f'#messages li.msg[data-id="{parent["id"]}"]')
    item.locator(".thread-summary").click()
    panel = page.get_by_role("complementary", name="Thread")
    expect(panel.locator("#thread-replies li")).to_have_count(3)
    expect(panel.locator("#thread-status")).to_have_text("3 replies")
    audit(page, "#thread-panel")
    audit(page)  # the room beside it too
    page.get_by_role("button", name="Close the thread").click()
    expect(panel).to_be_hidden()

    page.get_by_role("button", name="View image chart.png (320×200)").click()
    viewer = page.get_by_role("dialog", name="chart.png")
    expect(viewer).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.getElementById('viewer-image');"
        " return i && i.complete && i.naturalWidth === 320; }"
    )
    audit(page, "#image-viewer")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()


def test_the_keyboard_opens_uses_and_closes_the_thread_panel_and_the_viewer(
    cluster, routes, contexts
):
    me, _, room, parent = room_with_a_thread_and_an_image(cluster, routes)
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    item = page.locator(f'#messages li.msg[data-id="{parent["id"]}"]')
    expect(item.locator(".thread-summary")).to_contain_text("3 replies")
    stops = "\n".join(tab_stops(page, 60))
    assert "[action=reply]" in stops
    assert '"View image chart.png (320×200)"' in stops
    assert "3 replies" in stops

    # The reply count, with Enter: the panel opens on its heading.
    summary = item.locator(".thread-summary")
    summary.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("complementary", name="Thread")
    expect(panel).to_be_visible()
    expect(panel.locator("#thread-heading")).to_be_focused()
    expect(panel.locator("#thread-replies li")).to_have_count(3)
    # Tab goes on to the panel's controls, the reply box among them.
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "thread-input":
            break
        page.keyboard.press("Tab")
    expect(panel.get_by_role("textbox", name="Reply in the thread")).to_be_focused()
    page.keyboard.type("sent from the keyboard")
    page.keyboard.press("Enter")
    expect(panel.locator("#thread-replies li")).to_have_count(4)
    expect(panel.locator("#thread-replies li").last).to_contain_text("sent from the keyboard")
    expect(summary).to_contain_text("4 replies")
    # Esc closes it and gives the focus back to the reply count.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(summary).to_be_focused()

    # The message's Reply button, with Enter: the panel opens on its reply box.
    item.get_by_role("button", name=re.compile(r"^Reply to Other Olga\b")).focus()
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("textbox", name="Reply in the thread")).to_be_focused()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(item.get_by_role("button", name=re.compile(r"^Reply to Other Olga\b"))).to_be_focused()

    # The image, with Enter; Esc closes the viewer and the focus comes back.
    thumb = page.get_by_role("button", name="View image chart.png (320×200)")
    thumb.focus()
    page.keyboard.press("Enter")
    viewer = page.get_by_role("dialog", name="chart.png")
    expect(viewer).to_be_visible()
    expect(viewer.get_by_role("button", name="Close the image")).to_be_focused()
    page.keyboard.press("Tab")
    expect(viewer.get_by_role("button", name="Download")).to_be_focused()
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(thumb).to_be_focused()
