"""Running a room from the page (Chromium on the module's two-instance
cluster; fixtures in conftest.py): the room settings dialog (topic, roles,
kick, ban, invite links copied and accepted in another browser context), the
pinned list kept live, a moderator's Remove, the bots dialog, and an axe-core
audit of the settings dialog and the bots dialog.

Every test but the first needs the room administration API (roles, pins,
invites, bots, webhooks): `needs_admin_api` skips them, saying so, on a
server whose OpenAPI document does not list it. The first one (the page's new
controls load and work as dialogs) runs on any server.
"""

import os
import re

import pytest
import requests
from browser_kit import Api, open_chat
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

LIVE_MS = 10000

try:  # the shared axe-core helper, where browser_kit.py has it
    from browser_kit import audit
except ImportError:  # pragma: no cover - depends on the checkout
    AXE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor", "axe.min.js")

    def audit(page, context=None):
        """No serious or critical axe-core violation within `context`."""
        assert os.path.exists(AXE), f"{AXE} is missing (axe-core, vendored for the tests)"
        if not page.evaluate("() => typeof window.axe === 'object'"):
            with open(AXE, encoding="utf-8") as f:
                page.evaluate(f.read())
        found = page.evaluate(
            """async (context) => (await axe.run(context || document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                 "best-practice"]},
                resultTypes: ["violations"],
            })).violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5)}))""",
            context,
        )
        blocking = [v for v in found if v["impact"] in ("serious", "critical")]
        assert blocking == [], blocking
        return found


@pytest.fixture(scope="module")
def admin_api(cluster):
    paths = requests.get(cluster.url + "/api/openapi.json", timeout=10).json().get("paths", {})
    return any(p.endswith("/pins") for p in paths) and any("/invites" in p for p in paths)


@pytest.fixture
def needs_admin_api(admin_api):
    if not admin_api:
        pytest.skip("the server has no room administration API (roles, pins, invites, bots)")


def person(user):
    return f"{user['display_name']} (@{user['username']})"


def settings(page, room):
    page.get_by_role("button", name="Room settings").click()
    dialog = page.get_by_role("dialog", name=f"Settings of #{room}")
    expect(dialog).to_be_visible()
    return dialog


def member_row(dialog, api):
    return dialog.locator(f'#settings-member-list li[data-username="{api.user["username"]}"]')


def message_item(page, text):
    return page.locator("#messages li.msg[data-id]", has_text=text)


# --- runs on any server -------------------------------------------------------


def test_room_tools_open_as_dialogs_and_close_with_escape(cluster, routes, contexts):
    me = Api.register(cluster.url, "Tool Tess")
    room = me.create_room("tools", title="Tools")
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    toggle = page.get_by_role("button", name="Room settings")
    expect(toggle).to_be_visible()
    dialog = settings(page, room)
    expect(dialog.get_by_role("heading", name=f"Settings of #{room}")).to_be_focused()
    expect(dialog.locator("#settings-member-list li")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(toggle).to_be_focused()

    page.get_by_role("button", name="Pinned").click()
    pins = page.get_by_role("dialog", name=f"Pinned in #{room}")
    expect(pins).to_be_visible()
    page.get_by_role("button", name="Close the pinned messages").click()
    expect(pins).to_be_hidden()

    page.get_by_role("button", name="Bots").click()
    bots = page.get_by_role("dialog", name="My bots")
    expect(bots).to_be_visible()
    expect(bots.get_by_role("textbox", name="Username")).to_be_visible()
    page.keyboard.press("Escape")
    expect(bots).to_be_hidden()
    expect(page.get_by_role("button", name="Bots")).to_be_focused()


# --- need the room administration API -------------------------------------------


def test_settings_topic_promote_kick_and_ban(cluster, routes, contexts, needs_admin_api):
    owner = Api.register(cluster.url, "Owner Olga")
    bob = Api.register(routes["direct"], "Bob Helper")
    carol = Api.register(routes["direct"], "Carol Leaves")
    dan = Api.register(routes["direct"], "Dan Banned")
    room = owner.create_room("admin", title="Operations", members=[bob, carol, dan])
    owner.send(room, "hello team")
    page = open_chat(contexts(token=owner.token), routes["nginx"], room)
    bob_page = open_chat(contexts(token=bob.token), routes["direct"], room)
    carol_page = open_chat(contexts(token=carol.token), routes["direct"], room)

    # Title and topic: saved from the dialog, in both headers (room_updated).
    dialog = settings(page, room)
    expect(dialog.get_by_text("Your role: Owner")).to_be_visible()
    dialog.get_by_role("textbox", name="Topic").fill("Deploys on Fridays, never")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#room-topic")).to_have_text("Deploys on Fridays, never")
    expect(bob_page.locator("#room-topic")).to_have_text(
        "Deploys on Fridays, never", timeout=LIVE_MS
    )
    assert owner.call("GET", f"/api/rooms/{room}")["topic"] == "Deploys on Fridays, never"

    # Promote Bob: his role shows, the server has it, and his page gets the
    # moderator's actions (his own role came by room_updated).
    expect(member_row(dialog, owner).locator(".role-badge")).to_have_text("Owner")
    dialog.get_by_role("button", name=f"Make admin: {person(bob.user)}").click()
    expect(member_row(dialog, bob).locator(".role-badge")).to_have_text("Admin")
    roles = {
        m["user"]["username"]: m.get("role")
        for m in owner.call("GET", f"/api/rooms/{room}/members")["members"]
    }
    assert roles[bob.user["username"]] == "admin"
    bob_msg = message_item(bob_page, "hello team")
    bob_msg.hover()
    expect(bob_msg.get_by_role("button", name=re.compile(r"^Pin message by "))).to_be_visible(
        timeout=LIVE_MS
    )

    # Kick Carol: asked first; her page says why and drops the room; the
    # others' people lists drop her (member_removed).
    dialog.get_by_role("button", name=f"Kick {person(carol.user)}").click()
    dialog.get_by_role("button", name="Kick", exact=True).click()
    expect(member_row(dialog, carol)).to_have_count(0)
    expect(carol_page.locator("#toast")).to_have_text(
        f"You were removed from #{room} by a moderator.", timeout=LIVE_MS
    )
    expect(carol_page.locator(f'#room-list a[data-room="{room}"]')).to_have_count(0)
    expect(
        bob_page.locator(f'#members li[data-username="{carol.user["username"]}"]')
    ).to_have_count(0, timeout=LIVE_MS)

    # Ban Dan: listed under Banned, refused when added back; Unban.
    dialog.get_by_role("button", name=f"Ban {person(dan.user)}").click()
    dialog.get_by_role("button", name="Ban", exact=True).click()
    expect(member_row(dialog, dan)).to_have_count(0)
    banned = dialog.locator("#settings-ban-list li[data-username]")
    expect(banned).to_have_count(1)
    expect(banned).to_contain_text("Dan Banned")
    r = owner.session.post(
        cluster.url + f"/api/rooms/{room}/members", json={"username": dan.user["username"]}
    )
    assert 400 <= r.status_code < 500, r.text
    dialog.get_by_role("button", name=f"Unban {person(dan.user)}").click()
    expect(banned).to_have_count(0)
    expect(dialog.locator("#settings-ban-list")).to_contain_text("Nobody is banned.")

    # The audit log has what happened.
    # The audit log has what happened (asked again after each action): at
    # least the promotion, the kick, the ban and the unban.
    expect(dialog.locator("#settings-audit li.audit-entry").nth(3)).to_be_visible()

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Room settings")).to_be_focused()


def test_invite_copied_and_accepted_in_another_browser(cluster, routes, contexts, needs_admin_api):
    owner = Api.register(cluster.url, "Inviting Ivy")
    room = owner.create_room("invite", title="Invite only")
    context = contexts(token=owner.token)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=routes["nginx"])
    page = open_chat(context, routes["nginx"], room)
    dialog = settings(page, room)
    dialog.get_by_role("combobox", name="Expires after").select_option(label="1 hour")
    dialog.get_by_role("spinbutton", name="Max uses").fill("1")
    dialog.get_by_role("button", name="Create invite link").click()
    link = dialog.get_by_role("textbox", name="invite link 1")
    expect(link).to_have_value(re.compile(r"/#/invite/[^/]+$"))
    expect(dialog.locator("#settings-invite-list")).to_contain_text("0 of 1 uses")
    dialog.get_by_role("button", name="Copy invite link 1").click()
    expect(dialog.locator("#settings-invite-list .copy-status")).to_have_text("Copied")
    url = link.input_value()
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    assert owner.call("GET", f"/api/rooms/{room}/invites")["invites"][0]["max_uses"] == 1

    # Someone without an account opens it, registers, and lands in the room.
    guest = contexts().new_page()
    guest.goto(url.replace(routes["nginx"], routes["direct"]))
    expect(guest.locator("#invite-note")).to_be_visible()
    guest.get_by_role("tab", name="Create account").click()
    guest.locator("#register-username").fill("g" + os.urandom(5).hex())
    guest.locator("#register-password").fill("password123")
    guest.get_by_role("button", name="Create account", exact=True).click()
    expect(guest.locator("#room-title")).to_have_text(f"#{room}")
    expect(guest.locator("#composer")).to_be_visible()
    expect(page.locator("#members li.member")).to_have_count(2, timeout=LIVE_MS)

    # Used up: another logged-in person is told so.
    late = Api.register(routes["direct"], "Late Larry")
    late_page = open_chat(contexts(token=late.token), routes["direct"])
    late_page.goto(url.replace(routes["nginx"], routes["direct"]))
    expect(late_page.locator("#toast")).to_have_text("This invite is no longer valid.")
    expect(late_page.locator(f'#room-list a[data-room="{room}"]')).to_have_count(0)

    # Banned: a fresh invite does not let a banned person in.
    owner.call("PUT", f"/api/rooms/{room}/bans/{late.user['username']}")
    token = owner.call("POST", f"/api/rooms/{room}/invites", json={})["token"]
    late_page.goto(routes["direct"] + f"/#/invite/{token}")
    expect(late_page.locator("#toast")).to_have_text("You are banned from this room.")

    # Revoke from the list (opened again: it now has the fresh invite too).
    page.keyboard.press("Escape")
    dialog = settings(page, room)
    invites = dialog.locator("#settings-invite-list li.settings-link")
    expect(invites.first).to_be_visible()
    before = invites.count()
    dialog.get_by_role("button", name="Revoke invite link 1").click()
    expect(invites).to_have_count(before - 1)
    open_tokens = [i["token"] for i in owner.call("GET", f"/api/rooms/{room}/invites")["invites"]]
    assert len(open_tokens) == before - 1


def test_pinned_list_live_and_moderator_remove(cluster, routes, contexts, needs_admin_api):
    owner = Api.register(cluster.url, "Pinning Pia")
    bob = Api.register(routes["direct"], "Bob Reads")
    room = owner.create_room("pins", members=[bob])
    first = bob.send(room, "Release checklist: tag, build, ship")
    bob.send(room, "Spam spam spam")
    page = open_chat(contexts(token=owner.token), routes["nginx"], room)
    bob_page = open_chat(contexts(token=bob.token), routes["direct"], room)

    # The owner pins Bob's message from its actions; it is marked.
    item = message_item(page, "Release checklist")
    item.hover()
    item.get_by_role("button", name=re.compile(r"^Pin message by Bob Reads")).click()
    expect(item.locator(".msg-pinned")).to_have_text("Pinned")
    expect(message_item(bob_page, "Release checklist").locator(".msg-pinned")).to_have_count(
        1, timeout=LIVE_MS
    )
    # Bob (a member: no Pin action) opens the list; it follows pins live.
    bob_item = message_item(bob_page, "Spam spam spam")
    bob_item.hover()
    expect(bob_item.get_by_role("button", name=re.compile(r"^Pin "))).to_have_count(0)
    bob_page.get_by_role("button", name="Pinned").click()
    pins = bob_page.get_by_role("dialog", name=f"Pinned in #{room}")
    listed = pins.locator("li.pin")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("Release checklist")
    expect(pins.get_by_role("button", name=re.compile(r"^Unpin"))).to_have_count(0)
    later = owner.send(room, "Freeze starts Monday")
    owner.call("PUT", f"/api/rooms/{room}/pins/{later['id']}")
    expect(listed).to_have_count(2, timeout=LIVE_MS)
    expect(listed.first).to_contain_text("Freeze starts Monday")  # newest pin first
    owner.call("DELETE", f"/api/rooms/{room}/pins/{later['id']}")
    expect(listed).to_have_count(1, timeout=LIVE_MS)
    pins.get_by_role("button", name="Show in the room: message by Bob Reads").click()
    expect(pins).to_be_hidden()
    expect(bob_page.locator(f'#messages li.msg[data-id="{first["id"]}"]')).to_have_class(
        re.compile(r"\bhighlight\b")
    )

    # The owner's list, with Unpin.
    page.get_by_role("button", name="Pinned").click()
    owner_pins = page.get_by_role("dialog", name=f"Pinned in #{room}")
    owner_pins.get_by_role("button", name="Unpin the message by Bob Reads").click()
    expect(owner_pins.locator("li.pin")).to_have_count(0)
    expect(owner_pins.locator("#pins-status")).to_have_text("No pinned messages yet.")
    page.keyboard.press("Escape")

    # A moderator removes Bob's message: both pages say so.
    spam = message_item(page, "Spam spam spam")
    spam.hover()
    spam.get_by_role("button", name=re.compile(r"^Remove message by Bob Reads")).click()
    spam.get_by_role("button", name="Remove", exact=True).click()
    removed = page.locator("#messages li.msg.moderated .msg-deleted")
    expect(removed).to_have_text("Removed by a moderator.")
    expect(bob_page.locator("#messages li.msg.moderated .msg-deleted")).to_have_text(
        "Removed by a moderator.", timeout=LIVE_MS
    )


def test_bots_page_creates_rotates_and_deletes(cluster, routes, contexts, needs_admin_api):
    me = Api.register(cluster.url, "Bot Maker")
    context = contexts(token=me.token)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=routes["nginx"])
    page = open_chat(context, routes["nginx"])
    page.get_by_role("button", name="Bots").click()
    dialog = page.get_by_role("dialog", name="My bots")
    expect(dialog.locator("#bot-list")).to_contain_text("You have no bots yet.")
    name = "bot" + os.urandom(4).hex()
    dialog.get_by_role("textbox", name="Username").fill(name)
    dialog.get_by_role("textbox", name="Display name (optional)").fill("Deploy Bot")
    dialog.get_by_role("button", name="Create bot").click()
    token_box = dialog.locator("#bot-token")
    expect(token_box).to_contain_text("shown only this once")
    token = dialog.get_by_role("textbox", name=f"API token of @{name}").input_value()
    dialog.get_by_role("button", name="Copy token").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == token
    assert Api(cluster.url, token, None).call("GET", "/api/me")["username"] == name
    expect(dialog.locator(f'#bot-list li[data-username="{name}"]')).to_contain_text("Deploy Bot")

    dialog.get_by_role("button", name=f"New token for @{name}").click()
    dialog.get_by_role("button", name="New token", exact=True).click()
    expect(dialog.locator("#bot-token h3")).to_have_text(f"New API token of @{name}")
    fresh = dialog.get_by_role("textbox", name=f"API token of @{name}").input_value()
    assert fresh != token
    old = requests.get(
        cluster.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert old.status_code == 401

    dialog.get_by_role("button", name=f"Delete @{name}").click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(dialog.locator("#bot-list")).to_contain_text("You have no bots yet.")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # The token is not kept in the page once the dialog is closed.
    assert fresh not in page.content()


def test_settings_dialog_and_bots_page_pass_axe(cluster, routes, contexts, needs_admin_api):
    owner = Api.register(cluster.url, "Audit Owner")
    bob = Api.register(routes["direct"], "Audit Bob")
    room = owner.create_room("a11y-admin", title="Audited admin", members=[bob])
    bot = owner.call("POST", "/api/bots", json={"username": "b" + os.urandom(5).hex()})["user"]
    owner.call("POST", f"/api/rooms/{room}/members", json={"username": bot["username"]})
    owner.call("POST", f"/api/rooms/{room}/invites", json={"expires_in": 3600, "max_uses": 3})
    owner.call("POST", f"/api/rooms/{room}/webhooks", json={"bot": bot["username"]})
    owner.call("PUT", f"/api/rooms/{room}/members/{bob.user['username']}", json={"role": "admin"})
    page = open_chat(contexts(token=owner.token), routes["nginx"], room)
    dialog = settings(page, room)
    expect(dialog.locator("#settings-invite-list li.settings-link")).to_have_count(1)
    expect(dialog.locator("#settings-webhook-list li.settings-link")).to_have_count(1)
    expect(dialog.locator("#settings-audit li").first).to_be_visible()
    audit(page, "#settings-dialog")
    # A confirmation in a row is audited too.
    dialog.get_by_role("button", name=f"Kick {person(bob.user)}").click()
    audit(page, "#settings-dialog")
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Bots").click()
    bots = page.get_by_role("dialog", name="My bots")
    expect(bots.locator("#bot-list li[data-username]")).to_have_count(1)
    audit(page, "#bots-dialog")
    bots.get_by_role("button", name="Create bot").click()  # an error under the form
    expect(bots.locator("[data-form-error]")).to_be_visible()
    bots.get_by_role("textbox", name="Username").fill("b" + os.urandom(5).hex())
    bots.get_by_role("button", name="Create bot").click()
    expect(bots.locator("#bot-token")).to_be_visible()
    audit(page, "#bots-dialog")
