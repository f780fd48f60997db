"""What the browser tests share: settings, a REST caller acting as one user,
and helpers that drive and read the chat page (the fixtures are in conftest.py)."""

import os
import re
import shutil
import uuid

import requests
from playwright.sync_api import expect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CLUSTER_ENV = {
    # Cheap hashing and a generous login limit: the tests log in often from one address.
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "10000 per minute",
    # Seeding 120 messages of history through REST should not take 12 s.
    "SEND_RATE_LIMIT": "1000 per second",
}
PASSWORD = "password123"
SHOTS = os.path.join(ROOT, "tests", "artifacts", "screenshots")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15000
# The first paint of a page can wait on a machine busy with the container
# tests' image builds (its modules and first requests): longer than an action's timeout.
FIRST_PAINT_MS = 60_000
SETTLE = 1.0  # seconds for a duplicate to show up before we say there is none

expect.set_options(timeout=TIMEOUT_MS)


class Api:
    """A REST caller (through nginx) acting as one user."""

    def __init__(self, base, token, user):
        self.base, self.token, self.user = base, token, user
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def login(cls, base, username, password=PASSWORD):
        r = requests.post(
            base + "/api/auth/login", json={"username": username, "password": password}, timeout=10
        )
        r.raise_for_status()
        return cls(base, r.json()["token"], r.json()["user"])

    @classmethod
    def register(cls, base, display_name=None, username=None):
        username = username or "u" + uuid.uuid4().hex[:10]
        body = {"username": username, "password": PASSWORD}
        if display_name:
            body["display_name"] = display_name
        r = requests.post(base + "/api/auth/register", json=body, timeout=10)
        r.raise_for_status()
        return cls(base, r.json()["token"], r.json()["user"])

    def call(self, method, path, **kwargs):
        r = self.session.request(method, self.base + path, timeout=10, **kwargs)
        assert r.status_code < 400, (r.status_code, r.text)
        return r.json() if r.content else None

    def create_room(self, prefix, title="", members=(), private=True):
        """A room for one test; private, so that other tests' users never see it."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.call("POST", "/api/rooms", json={"name": name, "title": title, "private": private})
        for member in members:
            if private:
                self.call(
                    "POST", f"/api/rooms/{name}/members", json={"username": member.user["username"]}
                )
            else:
                member.call("POST", f"/api/rooms/{name}/members")
        return name

    def send(self, room, body):
        return self.call(
            "POST",
            f"/api/rooms/{room}/messages",
            json={"body": body, "client_id": uuid.uuid4().hex},
        )


def open_chat(context, base, room=None):
    page = context.new_page()
    page.goto(base + "/" + (f"#{room}" if room else ""))
    expect(page.locator("#chat-view")).to_be_visible(timeout=FIRST_PAINT_MS)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    if room:
        expect(page.locator("#room-title")).to_have_text(f"#{room}")
    return page


def log_in(page, username, password=PASSWORD):
    username_box = page.get_by_role("textbox", name="Username")
    expect(username_box).to_be_visible(timeout=FIRST_PAINT_MS)
    username_box.fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#chat-view")).to_be_visible()


CONTROL = re.compile(
    r"^\s*- (button|tab|link|textbox|searchbox|checkbox|combobox)\b"
    r'(?: "((?:[^"\\]|\\.)*)")?'
)


def controls(page):
    """(role, accessible name) of every control a screen reader would find now."""
    found = []
    for line in page.locator("body").aria_snapshot().splitlines():
        match = CONTROL.match(line)
        if match:
            found.append((match.group(1), match.group(2) or ""))
    return found


def assert_each_control_has_one_clear_name(page):
    found = controls(page)
    assert found
    assert [c for c in found if not c[1].strip()] == [], "controls without a name"
    assert sorted({c for c in found if found.count(c) > 1}) == [], "controls sharing a name"


def bodies(page):
    return page.locator("#messages li.msg[data-id] .msg-body").all_text_contents()


def message_ids(page):
    return [
        int(i)
        for i in page.locator("#messages li.msg[data-id]").evaluate_all(
            "nodes => nodes.map(n => n.dataset.id)"
        )
    ]


def send_from_page(page, text):
    box = page.locator("#composer-input")
    box.fill(text)
    box.press("Enter")


def expect_once(page, text):
    """`text` is shown exactly once, as a confirmed (not pending) message."""
    confirmed = page.locator("#messages li.msg[data-id] .msg-body", has_text=text)
    expect(confirmed).to_have_count(1)
    expect(page.locator("#messages li.msg.pending")).to_have_count(0)


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name)
    page.screenshot(path=path)
    return path


def publish(path, doc_name):
    """Copies a screenshot over docs/<doc_name> only when asked to
    (UPDATE_DOC_SCREENSHOTS=1): a plain test run leaves the tracked images, and
    so a clean clone, as they are. The shot itself stays in tests/artifacts/."""
    if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
        shutil.copyfile(path, os.path.join(ROOT, "docs", doc_name))


# --- accessibility audit (axe-core, vendored in tests/e2e/vendor) -------------------

AXE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor", "axe.min.js")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING_IMPACTS = ("serious", "critical")


def _axe_source():
    with open(AXE_PATH, encoding="utf-8") as f:
        return f.read()


def violations(page, context=None):
    """axe-core's violations on `page` now, within `context` (a CSS selector, or
    the whole document): [{id, impact, help, nodes: [selector, ...]}].

    axe goes in through the DevTools protocol (page.evaluate), which the page's
    Content Security Policy does not govern, so the page's own policy stays as
    served."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    return page.evaluate(
        """async ([context, tags]) => {
            const result = await axe.run(context || document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
            });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
            }));
        }""",
        [context, AXE_TAGS],
    )


def audit(page, context=None):
    """Fails unless axe-core finds no serious or critical violation on `page`
    (within `context`, a CSS selector such as "#thread-panel"); returns every
    violation found (the minor and moderate ones too) for a test to look at."""
    found = violations(page, context)
    blocking = [v for v in found if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == [], "axe-core: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in blocking
    )
    return found


def tab_stops(page, presses, start="body"):
    """What Tab reaches, in order, from the start of `start` (presses times): a
    short description of each focused element (`#id`, or tag, role, name and
    data-action), so that a test can say which controls the keyboard gets to."""
    page.locator(start).evaluate(
        "el => { if (document.activeElement) document.activeElement.blur(); "
        "el.setAttribute('tabindex', '-1'); el.focus(); el.removeAttribute('tabindex'); }"
    )
    stops = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        stops.append(
            page.evaluate(
                """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return "body";
                const parts = [el.tagName.toLowerCase()];
                if (el.id) parts.push("#" + el.id);
                if (el.dataset.action) parts.push("[action=" + el.dataset.action + "]");
                if (el.dataset.room) parts.push("[room=" + el.dataset.room + "]");
                const name = el.getAttribute("aria-label") || (el.textContent || "").trim();
                parts.push(JSON.stringify(name.slice(0, 40)));
                return parts.join(" ");
            }"""
            )
        )
    return stops
