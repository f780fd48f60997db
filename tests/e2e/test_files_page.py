"""Files on the page, in Debian's Chromium against a local 2-instance cluster
(fixtures in conftest.py): an image pasted into the message box uploads with a
progress bar (the upload slowed by the browser's network emulation so that the
bar is seen moving), can be cancelled, is sent, shows as a thumbnail on the
other user's page on the other instance, and opens in the image viewer, which
keeps the focus inside and closes with Escape, giving the focus back; a file
that is not an image shows as a chip with its name and size."""

import base64
import io
import os

import pytest
from browser_kit import Api, open_chat, publish, shot
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

# Slow enough that a few hundred KiB take seconds (bytes per second).
SLOW_UPLOAD = 60 * 1024


def noisy_png(width=640, height=480):
    """A sunset-coloured gradient with a little grain, which keeps the PNG from
    compressing much: a few hundred KiB."""
    sky = Image.linear_gradient("L").resize((width, height))
    red = sky.point(lambda v: 255 - v // 4)
    green = sky.point(lambda v: 90 + v // 2)
    blue = sky.point(lambda v: 60 + v // 2)
    grain = Image.frombytes("L", (width, height), bytes(b & 15 for b in os.urandom(width * height)))
    channels = [Image.blend(c, grain, 0.12) for c in (red, green, blue)]
    out = io.BytesIO()
    Image.merge("RGB", channels).save(out, "PNG")
    return out.getvalue()


def paste_file(page, data, name, mime):
    """Pastes a file into the message box as a clipboard paste would."""
    page.locator("#composer-input").focus()
    page.evaluate(
        """([b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], name, { type: mime }));
            const box = document.getElementById("composer-input");
            box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true,
                                                            cancelable: true }));
        }""",
        [base64.b64encode(data).decode(), name, mime],
    )


def throttle_uploads(context, page, bytes_per_second):
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )
    return cdp


def focus_inside_viewer(page):
    return page.evaluate("document.getElementById('image-viewer').contains(document.activeElement)")


def test_a_pasted_image_uploads_with_progress_and_opens_in_the_viewer(cluster, routes, contexts):
    me = Api.register(cluster.url, "Paste Pia")
    friend = Api.register(routes["direct"], "Friend Fred")
    room = me.create_room("pics", members=[friend])
    context = contexts(token=me.token)
    page = open_chat(context, routes["nginx"], room)
    friend_page = open_chat(contexts(token=friend.token), routes["direct"], room)
    cdp = throttle_uploads(context, page, SLOW_UPLOAD)

    # A first paste, cancelled while it uploads.
    paste_file(page, noisy_png(), "cancelled.png", "image/png")
    item = page.locator("#upload-tray .upload-item", has_text="cancelled.png")
    expect(item.locator("progress")).to_be_visible()
    page.get_by_role("button", name="Cancel upload of cancelled.png").click()
    expect(item).to_have_count(0)
    expect(page.locator("#upload-tray")).to_be_hidden()

    # The second one is kept: its bar moves, then it is ready.
    data = noisy_png()
    paste_file(page, data, "sunset.png", "image/png")
    item = page.locator("#upload-tray .upload-item", has_text="sunset.png")
    bar = item.get_by_role("progressbar", name="Uploading sunset.png")
    expect(bar).to_be_visible()
    page.wait_for_function(
        "() => { const p = document.querySelector('#upload-tray progress');"
        " return p && p.value > 0 && p.value < 100; }"
    )
    shot(page, "files-uploading.png")
    expect(item).to_have_attribute("data-state", "done", timeout=30000)
    expect(item.locator("progress")).to_have_count(0)
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": -1,
        },
    )

    box = page.locator("#composer-input")
    box.fill("the view from here")
    box.press("Enter")
    expect(page.locator("#upload-tray")).to_be_hidden()
    for p in (page, friend_page):
        message = p.locator("#messages li.msg[data-id]", has_text="the view from here")
        thumb = message.get_by_role("button", name="View image sunset.png (640×480)")
        expect(thumb).to_be_visible()
        img = thumb.locator("img")
        p.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 320", arg=img.element_handle()
        )
    publish(shot(friend_page, "files-thumbnail.png"), "screenshot-image.png")

    # The viewer, from the keyboard only.
    thumb = friend_page.get_by_role("button", name="View image sunset.png (640×480)")
    thumb.focus()
    friend_page.keyboard.press("Enter")
    viewer = friend_page.get_by_role("dialog", name="sunset.png")
    expect(viewer).to_be_visible()
    friend_page.wait_for_function(
        "() => { const i = document.getElementById('viewer-image');"
        " return i.complete && i.naturalWidth === 640; }"
    )
    assert focus_inside_viewer(friend_page)
    for _ in range(5):  # Tab cycles among the dialog's controls
        friend_page.keyboard.press("Tab")
        assert focus_inside_viewer(friend_page)
    friend_page.keyboard.press("Shift+Tab")
    assert focus_inside_viewer(friend_page)
    shot(friend_page, "files-viewer.png")
    friend_page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    assert friend_page.evaluate("document.activeElement.dataset.fileId") is not None
    expect(thumb).to_be_focused()


def test_a_file_that_is_not_an_image_is_a_chip_with_its_name_and_size(cluster, routes, contexts):
    me = Api.register(cluster.url, "Chip Chen")
    room = me.create_room("docs")
    page = open_chat(contexts(token=me.token), routes["nginx"], room)
    page.set_input_files(
        "#attach-input",
        files=[
            {
                "name": "notes.pdf",
                "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4 " + b"x" * 2039,
            },
        ],
    )
    item = page.locator("#upload-tray .upload-item", has_text="notes.pdf")
    expect(item).to_have_attribute("data-state", "done")
    # A second file dropped on the room.
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["a,b\\n1,2\\n"], "table.csv", { type: "text/csv" }));
            const room = document.getElementById("room");
            for (const type of ["dragenter", "dragover", "drop"]) {
                room.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true,
                                                         cancelable: true }));
            }
        }"""
    )
    dropped = page.locator("#upload-tray .upload-item", has_text="table.csv")
    expect(dropped).to_have_attribute("data-state", "done")
    page.locator("#composer-input").press("Enter")  # no text: the file alone
    chip = page.get_by_role("button", name="Download notes.pdf (2.0 KB)")
    expect(chip).to_be_visible()
    expect(page.get_by_role("button", name="Download table.csv (8 B)")).to_be_visible()
    with page.expect_download() as info:
        chip.click()
    assert info.value.suggested_filename == "notes.pdf"
