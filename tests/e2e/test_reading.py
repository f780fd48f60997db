"""Markdown bodies (rendered, nothing of an XSS corpus ever run), the unread
divider and its jump, drafts kept across reloads and the emoji picker, in
Debian's Chromium against the local 2-instance cluster (fixtures in conftest.py).

One user's page goes through nginx; the other user's REST sends go straight to
the other instance, so what the page shows has crossed instances.
"""

import re
import time

import pytest
from browser_kit import Api, open_chat, send_from_page
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

LIVE_MS = 5000
LINK_REL = "noopener noreferrer nofollow"

# Each payload, if anything of it ran, would set window.__xss (alert and xss()
# are wired to set it too, see XSS_TRAP).
XSS_CORPUS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 1">',
    "<img src=x onerror=alert(1)>",
    '<svg onload="window.__xss = 1"></svg>',
    "<svg><script>window.__xss = 1</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text x=20 y=20>svg link</text></a></svg>',
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss = 1">',
    '<math href="javascript:alert(1)">math</math>',
    '<iframe srcdoc="<script>parent.__xss = 1</script>"></iframe>',
    '<details open ontoggle="window.__xss = 1">x</details>',
    '<a href="javascript:alert(1)">raw html link</a>',
    '<a href="&#x6A;avascript:alert(1)">entity link</a>',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    "[plain js](javascript:window.__xss=1)",
    "[mixed case](JaVaScRiPt:alert(1))",
    "[leading space]( javascript:alert(1))",
    "[tab inside](java\tscript:alert(1))",
    "[entity tab](java&#x09;script:alert(1))",
    "[entity j](&#106;avascript:alert(1))",
    "[colon entity](javascript&colon;alert(1))",
    "[escaped](\\javascript:alert(1))",
    "[percent](%6Aavascript:alert(1))",
    "[vb](vbscript:msgbox(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](javascript:xss())",
    '[quote break](https://example.com/" onmouseover="window.__xss = 1)',
    "[ref link][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    '![x](x" onerror="window.__xss = 1)',
    "![x](javascript:alert(1))",
    "![x](https://example.com/x.png)",
    "`<img src=x onerror=alert(1)>`",
    "```\n<script>window.__xss = 1</script>\n```",
    "&lt;img src=x onerror=alert(1)&gt; &#60;script&#62;xss()&#60;/script&#62;",
    "**<img src=x onerror=alert(1)>** _<svg/onload=xss()>_",
    "> <svg/onload=alert(1)>\n> [q](javascript:alert(1))",
    "- <script>xss()</script>\n- [l](javascript:xss())",
    "<style>body { display: none }</style>styled?",
    '<p style="position:fixed;inset:0" onclick="xss()">cover</p>',
    '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
    '<base href="javascript:alert(1)//">base',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "[[nested](javascript:alert(1))](javascript:alert(1))",
    "[a](<javascript:alert(1)>)",
    "http://example.com/<script>xss()</script>",
]

XSS_TRAP = """
window.__xss = 0;
window.xss = () => { window.__xss = 1; };
window.alert = () => { window.__xss = 1; };
window.prompt = window.confirm = window.alert;
"""

# Elements a rendered body may hold: the sanitizer's list and the mention mark.
ALLOWED = {"p", "br", "em", "strong", "s", "code", "pre", "a", "blockquote", "ul", "ol", "li"}
ALLOWED |= {"mark"}

DOM_CHECK = """() => {
    const bad = [];
    for (const el of document.querySelectorAll("*")) {
        for (const attr of el.attributes) {
            if (/^on/i.test(attr.name)) bad.push(el.tagName + " " + attr.name);
            if (/^\\s*(javascript|vbscript|data):/i.test(attr.value)) bad.push(el.tagName + " " + attr.name + "=" + attr.value);
        }
    }
    const tags = new Set();
    for (const el of document.querySelectorAll("#messages .msg-body *")) tags.add(el.tagName.toLowerCase());
    const links = [...document.querySelectorAll("#messages .msg-body a")].map(
        (a) => [a.getAttribute("href"), a.getAttribute("target"), a.getAttribute("rel")]);
    return {bad, tags: [...tags], links, scripts: document.scripts.length};
}"""


def check_nothing_ran(page, scripts):
    page.wait_for_timeout(500)  # errors of images that would load, toggles, refreshes
    assert page.evaluate("() => window.__xss") == 0
    found = page.evaluate(DOM_CHECK)
    assert found["bad"] == []
    assert set(found["tags"]) <= ALLOWED, found["tags"]
    assert found["scripts"] == scripts  # the page's own, none added
    for href, target, rel in found["links"]:
        assert re.match(r"^(https?:|mailto:)", href), href
        assert (target, rel) == ("_blank", LINK_REL)


def expect_count(page, n):
    expect(page.locator("#messages li.msg[data-id]")).to_have_count(n)


def test_xss_corpus_sent_by_rest_and_socket_runs_nothing_live_or_from_history(
    cluster, routes, contexts
):
    me = Api.register(cluster.url, "Safe Sam")
    other = Api.register(routes["direct"], "Mallory")
    by_rest = me.create_room("xss-rest", members=[other])
    by_socket = me.create_room("xss-socket", members=[other])
    context = contexts(token=me.token)
    context.add_init_script(XSS_TRAP)
    page = open_chat(context, routes["nginx"], by_rest)
    scripts = page.evaluate("() => document.scripts.length")
    requests_made = []
    page.on("request", lambda r: requests_made.append(r.url))

    # Live over the socket from REST sends of another user on the other instance.
    for payload in XSS_CORPUS:
        other.send(by_rest, payload)
    expect_count(page, len(XSS_CORPUS))
    check_nothing_ran(page, scripts)

    # Through the page's own composer (the Socket.IO `send`).
    page.locator(f'#room-list a[data-room="{by_socket}"]').click()
    expect(page.locator("#room-title")).to_have_text(f"#{by_socket}")
    for payload in XSS_CORPUS:
        send_from_page(page, payload)
    expect_count(page, len(XSS_CORPUS))
    expect(page.locator("#messages li.msg.pending")).to_have_count(0)
    check_nothing_ran(page, scripts)
    stored = other.call("GET", f"/api/rooms/{by_socket}/messages?limit=100")["messages"]
    assert [m["body"] for m in stored] == [p.strip() for p in XSS_CORPUS]  # stored as written

    # From history, after a reload, both rooms.
    for room in (by_socket, by_rest):
        page.goto(routes["nginx"] + f"/#{room}")
        page.reload()
        expect(page.locator("#room-title")).to_have_text(f"#{room}")
        expect_count(page, len(XSS_CORPUS))
        check_nothing_ran(page, scripts)
    # Nothing was fetched from anywhere but the chat itself.
    assert [u for u in requests_made if not u.startswith(routes["nginx"])] == []


FORMATTED = (
    "**bold** and _em_ and ~~gone~~ and `a  b` to @{mention}\n"
    "\n"
    "```\n"
    "def f():\n"
    "    return  1\n"
    "```\n"
    "\n"
    "> quoted\n"
    "\n"
    "- one\n"
    "- two\n"
    "\n"
    "1. first\n"
    "\n"
    "[docs](https://example.com/docs?a=1&b=2), https://example.org/x and "
    "[mail](mailto:someone@example.com); main.py stays text; `@{mention}` in code\n"
    "line one\n"
    "line two"
)


def test_markdown_renders_with_code_whitespace_safe_links_and_mentions(cluster, routes, contexts):
    me = Api.register(cluster.url, "Format Fay")
    other = Api.register(routes["direct"], "Other Otto")
    room = me.create_room("fmt", members=[other])
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    other.send(room, FORMATTED.format(mention=me.user["username"]))
    body = page.locator("#messages li.msg[data-id] .msg-body")
    expect(body).to_have_count(1)
    expect(body.locator("strong")).to_have_text("bold")
    expect(body.locator("em")).to_have_text("em")
    expect(body.locator("s")).to_have_text("gone")
    expect(body.locator("p code").first).to_have_text("a  b")
    pre = body.locator("pre")
    assert pre.evaluate("el => el.textContent") == "def f():\n    return  1\n"
    assert pre.evaluate("el => getComputedStyle(el).whiteSpace") == "pre"
    expect(body.locator("blockquote")).to_have_text("quoted")
    expect(body.locator("ul > li")).to_have_text(["one", "two"])
    expect(body.locator("ol > li")).to_have_text(["first"])
    links = body.locator("a")
    expect(links).to_have_count(3)
    assert links.evaluate_all(
        "as => as.map(a => [a.getAttribute('href'), a.target, a.rel, a.textContent])"
    ) == [
        ["https://example.com/docs?a=1&b=2", "_blank", LINK_REL, "docs"],
        ["https://example.org/x", "_blank", LINK_REL, "https://example.org/x"],
        ["mailto:someone@example.com", "_blank", LINK_REL, "mail"],
    ]
    # The mention in prose is marked (mine), the one in code is not.
    mark = body.locator("mark.mention.mention-me")
    expect(mark).to_have_count(1)
    expect(mark).to_have_text("@" + me.user["username"])
    assert "line one\nline two" in body.locator("p").last.evaluate("el => el.innerText")


# --- the unread divider and "Jump to first unread" ----------------------------------


def read_up_to(api, room, message_id):
    api.call("POST", f"/api/rooms/{room}/read", json={"message_id": message_id})


def test_unread_divider_marks_the_first_unread_message(cluster, routes, contexts):
    me = Api.register(cluster.url, "Reader Rae")
    other = Api.register(routes["direct"], "Writer Wes")
    room = me.create_room("unread", members=[other])
    seen = [other.send(room, f"seen {i}") for i in range(3)]
    read_up_to(me, room, seen[-1]["id"])
    me.send(room, "my own, after my read")
    for i in range(3):
        other.send(room, f"unread {i}")
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    divider = page.locator("#messages li.unread-divider")
    expect(divider).to_have_text("New messages")
    after = page.locator("#unread-divider + li.msg .msg-body")
    expect(after).to_have_text("unread 0")
    expect(page.locator("#jump-unread")).to_be_hidden()  # all in view
    # Read now (the page said so): after a reload, nothing unread, no divider.
    deadline = time.monotonic() + LIVE_MS / 1000
    while me.call("GET", f"/api/rooms/{room}")["unread"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert me.call("GET", f"/api/rooms/{room}")["unread"] == 0
    page.reload()
    expect(page.locator("#room-title")).to_have_text(f"#{room}")
    expect(page.locator("#messages li.msg[data-id]")).to_have_count(7)
    expect(divider).to_have_count(0)


def test_jump_to_first_unread_loads_the_history_around_it(cluster, routes, contexts):
    me = Api.register(cluster.url, "Jumper Jo")
    other = Api.register(routes["direct"], "Chatty Cy")
    room = me.create_room("jump", members=[other])
    for i in range(5):
        last_seen = other.send(room, f"old {i}")
    read_up_to(me, room, last_seen["id"])
    for i in range(80):
        other.send(room, f"unread {i:03d}")
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    expect(page.locator("#messages li.msg[data-id]").last).to_contain_text("unread 079")
    jump = page.get_by_role("button", name=re.compile("Jump to first unread"))
    expect(jump).to_be_visible()
    expect(jump).to_contain_text("80 new")
    expect(page.locator("#unread-divider")).to_have_count(0)  # not loaded yet
    jump.click()
    first = page.locator("#unread-divider + li.msg")
    expect(first.locator(".msg-body")).to_have_text("unread 000")
    expect(first).to_be_focused()
    expect(first).to_be_in_viewport()
    expect(page.locator("#unread-divider")).to_be_in_viewport()
    expect(jump).to_be_hidden()
    # Scrolling down reaches the live end (newer pages come by sync).
    expect(page.locator("#messages li.msg[data-id]", has_text="unread 079")).to_have_count(1)


def test_jump_back_to_a_divider_scrolled_out_of_view(cluster, routes, contexts):
    me = Api.register(cluster.url, "Scroll Sue")
    other = Api.register(routes["direct"], "Poster Pat")
    room = me.create_room("scroll", members=[other])
    first = other.send(room, "read already")
    read_up_to(me, room, first["id"])
    for i in range(40):
        other.send(room, f"line {i:02d}\n\nwith a second paragraph")
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    expect(page.locator("#unread-divider")).to_have_count(1)
    jump = page.get_by_role("button", name=re.compile("Jump to first unread"))
    expect(jump).to_be_visible()  # the divider is above, out of sight
    page.keyboard.press("Escape")
    jump.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#unread-divider")).to_be_in_viewport()
    expect(page.locator("#unread-divider + li.msg")).to_be_focused()
    expect(jump).to_be_hidden()


# --- drafts ---------------------------------------------------------------------------


def drafts_stored(page):
    return page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.startsWith('chat.draft.')).sort()"
    )


def test_a_draft_per_room_survives_a_reload_and_goes_on_send_and_logout(cluster, routes, contexts):
    me = Api.register(cluster.url, "Drafty Dee")
    one = me.create_room("draft-one")
    two = me.create_room("draft-two")
    context = contexts(token=me.token)
    page = open_chat(context, routes["nginx"], one)
    box = page.locator("#composer-input")
    box.press_sequentially("half a thought")
    box.press("Shift+Enter")
    box.press_sequentially("on two lines")
    page.reload()
    expect(page.locator("#room-title")).to_have_text(f"#{one}")
    expect(box).to_have_value("half a thought\non two lines")

    # Each room has its own.
    page.locator(f'#room-list a[data-room="{two}"]').click()
    expect(page.locator("#room-title")).to_have_text(f"#{two}")
    expect(box).to_have_value("")
    box.press_sequentially("for two")
    page.locator(f'#room-list a[data-room="{one}"]').click()
    expect(box).to_have_value("half a thought\non two lines")
    username = me.user["username"]
    assert drafts_stored(page) == [f"chat.draft.{username}.{one}", f"chat.draft.{username}.{two}"]

    # Sent: gone, after a reload too.
    box.press("Enter")
    expect(page.locator("#messages li.msg[data-id] .msg-body")).to_have_count(1)
    page.reload()
    expect(page.locator("#room-title")).to_have_text(f"#{one}")
    expect(page.locator("#messages li.msg[data-id]")).to_have_count(1)
    expect(box).to_have_value("")
    assert drafts_stored(page) == [f"chat.draft.{username}.{two}"]

    # Logging out forgets the rest.
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#auth-view")).to_be_visible()
    assert drafts_stored(page) == []
    expect(box).to_have_value("")


# --- the emoji picker -----------------------------------------------------------------


def test_any_emoji_reacts_from_the_vendored_picker_by_keyboard(cluster, routes, contexts):
    me = Api.register(cluster.url, "Emoji Em")
    other = Api.register(routes["direct"], "Other Ola")
    room = me.create_room("emoji", members=[other])
    other.send(room, "pick something for this")
    context = contexts(token=me.token)
    outside = []
    context.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(routes["nginx"]) else None,
    )
    page = open_chat(context, routes["nginx"], room)
    message = page.locator("#messages li.msg[data-id]", has_text="pick something")
    opener = message.get_by_role("button", name=re.compile(r"^Add a reaction to "))
    opener.focus()
    page.keyboard.press("Enter")
    small = page.get_by_role("group", name="Pick a reaction")
    expect(small).to_be_visible()
    with page.expect_response(re.compile(r"/static/vendor/emoji-picker-element-data/")) as data:
        small.get_by_role("button", name="More emoji").press("Enter")
    assert data.value.status in (200, 304)
    dialog = page.get_by_role("dialog", name="Pick any emoji")
    expect(dialog).to_be_visible()
    search = dialog.get_by_role("combobox")
    expect(search).to_be_focused()
    page.keyboard.type("unicorn")
    expect(dialog.get_by_role("option", name=re.compile("unicorn", re.I)).first).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    chip = message.locator('.reactions button[data-react="🦄"]')
    expect(chip).to_have_attribute("aria-pressed", "true", timeout=LIVE_MS)
    expect(opener).to_be_focused()
    # It reached the server: the other user sees it.
    reactions = other.call("GET", f"/api/rooms/{room}/messages")["messages"][0]["reactions"]
    assert reactions == [{"emoji": "🦄", "usernames": [me.user["username"]]}]
    # Esc closes the picker and gives the focus back.
    opener.focus()
    page.keyboard.press("Enter")
    small.get_by_role("button", name="More emoji").press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(opener).to_be_focused()
    assert outside == []
