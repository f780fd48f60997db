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
    expect(page.locator("#chat-view")).to_be_visible()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    if room:
        expect(page.locator("#room-title")).to_have_text(f"#{room}")
    return page


def log_in(page, username, password=PASSWORD):
    page.get_by_role("textbox", name="Username").fill(username)
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
