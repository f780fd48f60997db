"""The README's picture, docs/screenshot-chat.png: a conversation of the seed
users (alice, bob, carol) in #general with an image attached and a thread open
beside the room. The module has a cluster of its own, so that no other test's
rooms or people show in the picture; as a test it checks that the scene
renders (the thumbnail loaded, the thread's replies in the panel, no script
error). `scripts/screenshots.py` runs it with UPDATE_DOC_SCREENSHOTS=1 to
remake the picture."""

import io

import pytest
from browser_kit import Api, open_chat, publish, shot
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

# p99 latency (ms) each hour of a day: before the change, and after it.
BEFORE = [182, 175, 190, 168, 185, 201, 178, 192, 188, 170, 195, 184]
AFTER = [46, 41, 44, 39, 42, 48, 40, 43, 41, 38, 45, 40]


def latency_chart(width: int = 640, height: int = 360) -> bytes:
    """A small line chart, as someone would paste from a dashboard (PNG)."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    title = ImageFont.load_default(size=26)
    small = ImageFont.load_default(size=17)
    left, top, right, bottom = 60, 62, width - 28, height - 44
    draw.text((left, 16), "Delivery latency, p99 (ms)", fill="#1f2937", font=title)
    top_value = 220
    for value in range(0, top_value + 1, 50):
        y = bottom - (bottom - top) * value / top_value
        draw.line([(left, y), (right, y)], fill="#e5e7eb", width=1)
        draw.text((left - 10, y), str(value), fill="#6b7280", font=small, anchor="rm")
    draw.line([(left, top), (left, bottom), (right, bottom)], fill="#9ca3af", width=1)
    step = (right - left) / (len(BEFORE) - 1)
    for hour in range(0, len(BEFORE), 2):
        draw.text(
            (left + hour * step, bottom + 8),
            f"{9 + hour:02d}:00",
            fill="#6b7280",
            font=small,
            anchor="ma",
        )
    for series, colour, label in ((BEFORE, "#dc2626", "before"), (AFTER, "#2563eb", "after")):
        points = [
            (left + i * step, bottom - (bottom - top) * v / top_value) for i, v in enumerate(series)
        ]
        draw.line(points, fill=colour, width=4, joint="curve")
        x, y = points[1]
        draw.text(
            (x, min(p[1] for p in points[:4]) - 8), label, fill=colour, font=small, anchor="lb"
        )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_screenshot_of_a_conversation_with_an_image_and_a_thread(cluster, routes, contexts):
    alice, bob, carol = (Api.login(cluster.url, name) for name in ("alice", "bob", "carol"))
    room = "general"
    bob.send(room, "Morning! The new message queue has been on staging since Friday.")
    upload = carol.call(
        "POST",
        "/api/uploads",
        files={"file": ("p99-latency.png", latency_chart(), "image/png")},
    )
    chart = carol.call(
        "POST",
        f"/api/rooms/{room}/messages",
        json={
            "body": "Here is the p99 since the switch: down from 180 ms to about 40 ms.",
            "attachments": [upload["id"]],
        },
    )
    thread = [
        (alice, "That is a big drop. Is it the queue itself, or the new connection pool?"),
        (carol, "Mostly the pool: far fewer requests wait for a connection now."),
        (bob, "I will put the chart in the release notes."),
    ]
    for api, body in thread:
        api.call(
            "POST",
            f"/api/rooms/{room}/messages",
            json={"body": body, "reply_to": chart["id"]},
        )
    last = bob.send(room, "Anyone free to review the **rollout plan** after lunch?")
    # Alice has read it all: no unread divider or jump in the picture.
    alice.call("POST", f"/api/rooms/{room}/read", json={"message_id": last["id"]})

    carol_page = open_chat(contexts(token=carol.token), routes["direct"], room)
    page = open_chat(contexts(token=alice.token), routes["nginx"], room)
    expect(page.locator('#members-online [data-username="carol"]')).to_be_visible()
    item = page.locator(f'#messages li.msg[data-id="{chart["id"]}"]')
    thumb = item.get_by_role("button", name="View image p99-latency.png (640×360)")
    expect(thumb).to_be_visible()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0",
        arg=thumb.locator("img").element_handle(),
    )
    item.locator(".thread-summary").click()
    panel = page.get_by_role("complementary", name="Thread")
    replies = panel.locator("#thread-replies li")
    expect(replies).to_have_count(len(thread))
    expect(panel.locator("#thread-status")).to_have_text(f"{len(thread)} replies")
    panel.get_by_role("textbox", name="Reply in the thread").fill("Nice, thanks both!")
    # The picture: the image in the room, the thread panel open beside it.
    page.locator("#scroller").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    page.mouse.move(0, 0)
    path = shot(page, "chat-thread-image.png")
    publish(path, "screenshot-chat.png")
    carol_page.close()
