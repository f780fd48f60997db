"""Accessibility: axe-core (vendored in tests/e2e/vendor, run inside the page by
`audit` in browser_kit.py) finds no serious or critical violation on the log-in
page and in a room (with Markdown, reactions, the pickers, the unread divider),
and the keyboard reaches every control.

Other parts of the page are audited the same way: `audit(page, "#selector")`.
"""

import re

import pytest
from browser_kit import Api, audit, open_chat, tab_stops
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
