"""Uploads and attachments: sniffing, limits, who reads a file, attaching, deleting,
the cleanup, search by file name, and what they cost the send path and history."""

import io
import zlib
from datetime import timedelta

import pytest
from PIL import Image
from unit_helpers import assert_error

from app.chat import files as files_domain
from app.chat import images
from app.extensions import db
from app.models import FileChunk, StoredFile, utcnow

LIMIT = 300_000
QUOTA = 700_000
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200


@pytest.fixture
def config_overrides():
    return {"MAX_UPLOAD_BYTES": LIMIT, "USER_QUOTA_BYTES": QUOTA, "RATELIMIT_ENABLED": True}


def png_bytes(width=40, height=30, color=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def bomb_png(side=30_000):
    """A valid PNG header announcing side×side pixels, with a tiny compressed body."""

    def chunk(kind, data):
        return (
            len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        )

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(200)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.fixture
def upload(client):
    """upload(user, data, name="f.bin", content_type=...) -> the response."""

    def upload(user, data, name="f.bin", content_type="application/octet-stream"):
        return client.post(
            "/api/uploads",
            headers=user.headers,
            data={"file": (io.BytesIO(data), name, content_type)},
            content_type="multipart/form-data",
        )

    return upload


@pytest.fixture
def send_with(client):
    def send_with(user, room, ids, body=""):
        return client.post(
            f"/api/rooms/{room}/messages",
            headers=user.headers,
            json={"body": body, "attachments": ids},
        )

    return send_with


# --- sniffing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 12, "image/jpeg"),
        (b"GIF89a" + b"\x00" * 10, "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "application/octet-stream"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04" + b"\x00" * 12, "application/zip"),
        (ELF[:16], "application/octet-stream"),
        (b"#!/bin/sh\nrm -rf /\n", "application/octet-stream"),
        (b"<svg onload=alert(1)>", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_the_content_type_comes_from_the_bytes(head, expected):
    assert images.sniff(head) == expected


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("", "file"),
        ("...", "file"),
        ("x" * 300 + ".png", "x" * 251 + ".png"),
    ],
)
def test_a_file_name_is_reduced_to_a_safe_display_name(given, kept):
    assert files_domain.safe_name(given) == kept


# --- uploading --------------------------------------------------------------------


def test_an_image_upload_gets_its_size_and_a_thumbnail(upload, alice, client):
    response = upload(alice, png_bytes(400, 200), "cat.png", "image/png")
    assert response.status_code == 201, response.get_json()
    shaped = response.get_json()
    assert shaped == {
        "id": shaped["id"],
        "name": "cat.png",
        "content_type": "image/png",
        "size": len(png_bytes(400, 200)),
        "width": 400,
        "height": 200,
        "url": f"/api/files/{shaped['id']}",
        "thumbnail_url": f"/api/files/{shaped['id']}/thumbnail",
    }
    thumb = client.get(shaped["thumbnail_url"], headers=alice.headers)
    assert thumb.status_code == 200
    assert thumb.mimetype == "image/webp"
    with Image.open(io.BytesIO(thumb.data)) as image:
        assert image.size == (320, 160)


def test_a_renamed_executable_is_served_as_what_it_is(upload, alice, client):
    shaped = upload(alice, ELF, "cute.png", "image/png").get_json()
    assert shaped["content_type"] == "application/octet-stream"
    assert "width" not in shaped and "thumbnail_url" not in shaped
    response = client.get(shaped["url"], headers=alice.headers)
    assert response.status_code == 200
    assert response.data == ELF
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert client.get(shaped["url"] + "/thumbnail", headers=alice.headers).status_code == 404


def test_an_image_is_inline_with_a_utf8_file_name(upload, alice, client):
    shaped = upload(alice, png_bytes(), "résumé;1.png").get_json()
    response = client.get(shaped["url"], headers=alice.headers)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('inline; filename="r_sum__1.png"')
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%3B1.png" in disposition
    assert response.mimetype == "image/png"


def test_a_png_that_does_not_decode_is_a_plain_download(upload, alice):
    shaped = upload(alice, b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "x.png").get_json()
    assert shaped["content_type"] == "application/octet-stream"


def test_a_decompression_bomb_is_refused_without_decoding(upload, alice, client):
    data = bomb_png()
    assert len(data) < LIMIT
    response = upload(alice, data, "bomb.png", "image/png")
    assert_error(response, 422, "validation_error")
    assert "file" in response.get_json()["error"]["fields"]
    with client.application.app_context():
        assert db.session.query(StoredFile).count() == 0


def test_a_file_over_the_limit_is_413(upload, alice):
    assert_error(upload(alice, b"\x00" * (LIMIT + 1)), 413, "payload_too_large")
    assert upload(alice, b"\x00" * LIMIT).status_code == 201


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(upload, alice):
    response = upload(alice, b"\x00" * (LIMIT + 200_000))
    assert_error(response, 413, "payload_too_large")


def test_the_quota_counts_what_a_user_keeps(upload, alice, bob):
    for _ in range(2):
        assert upload(alice, b"\x01" * LIMIT).status_code == 201
    assert_error(upload(alice, b"\x01" * (QUOTA - 2 * LIMIT + 1)), 413, "payload_too_large")
    assert upload(alice, b"\x01" * (QUOTA - 2 * LIMIT)).status_code == 201
    assert upload(bob, b"\x01" * LIMIT).status_code == 201  # a quota per user


def test_an_empty_file_or_no_file_is_invalid(upload, alice, client):
    assert_error(upload(alice, b""), 422, "validation_error")
    response = client.post("/api/uploads", headers=alice.headers, data={})
    assert response.status_code in (415, 422), response.get_json()


def test_uploads_are_rate_limited_per_user(upload, alice, bob):
    for _ in range(30):
        assert upload(alice, b"x").status_code == 201
    assert_error(upload(alice, b"x"), 429, "rate_limited")
    assert upload(bob, b"x").status_code == 201


def test_an_upload_needs_a_token(client):
    response = client.post(
        "/api/uploads", data={"file": (io.BytesIO(b"x"), "a")}, content_type="multipart/form-data"
    )
    assert_error(response, 401, "unauthorized")


# --- attaching and reading --------------------------------------------------------


def test_a_message_carries_its_attachments_and_may_have_no_body(
    upload, send_with, lounge, alice, bob, client
):
    image = upload(alice, png_bytes(), "a.png").get_json()
    doc = upload(alice, b"%PDF-1.4 hello", "doc.pdf").get_json()
    response = send_with(alice, lounge, [image["id"], doc["id"]])
    assert response.status_code == 201, response.get_json()
    message = response.get_json()
    assert message["body"] == ""
    assert message["attachments"] == [image, doc]
    history = client.get(f"/api/rooms/{lounge}/messages", headers=bob.headers).get_json()
    assert history["messages"][-1]["attachments"] == [image, doc]
    # a member reads them now; the uploader too
    assert client.get(doc["url"], headers=bob.headers).data == b"%PDF-1.4 hello"
    assert client.get(image["thumbnail_url"], headers=bob.headers).status_code == 200


def test_an_upload_is_read_by_its_uploader_only_until_attached(
    upload, send_with, lounge, alice, bob, carol, client
):
    shaped = upload(alice, b"secret", "s.txt").get_json()
    assert client.get(shaped["url"], headers=alice.headers).status_code == 200
    assert_error(client.get(shaped["url"], headers=bob.headers), 404, "not_found")
    send_with(alice, lounge, [shaped["id"]], body="here")
    assert client.get(shaped["url"], headers=bob.headers).status_code == 200
    # carol is not a member of the (public) room: 404 as if there were no such file
    assert_error(client.get(shaped["url"], headers=carol.headers), 404, "not_found")
    assert_error(client.get("/api/files/999999", headers=alice.headers), 404, "not_found")


def test_only_my_unattached_uploads_can_be_attached(upload, send_with, lounge, alice, bob):
    mine = upload(alice, b"a").get_json()
    theirs = upload(bob, b"b").get_json()
    assert_error(send_with(alice, lounge, [theirs["id"]]), 422, "validation_error")
    assert send_with(alice, lounge, [mine["id"]]).status_code == 201
    response = send_with(alice, lounge, [mine["id"]])  # attached already
    assert_error(response, 422, "validation_error")
    assert "attachments" in response.get_json()["error"]["fields"]


def test_an_id_given_twice_attaches_the_file_once(upload, send_with, lounge, alice, client):
    mine = upload(alice, b"twice").get_json()
    message = send_with(alice, lounge, [mine["id"], mine["id"]]).get_json()
    assert message["attachments"] == [mine]
    page = client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers).get_json()
    assert page["messages"][-1]["attachments"] == [mine]


def test_a_refused_attachment_stores_no_message(upload, send_with, lounge, alice, client):
    mine = upload(alice, b"a").get_json()
    assert_error(send_with(alice, lounge, [mine["id"], 424242], "hi"), 422, "validation_error")
    history = client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers).get_json()
    assert history["messages"] == []
    assert send_with(alice, lounge, [mine["id"]]).status_code == 201  # still free


def test_at_most_ten_attachments_and_an_empty_message_is_refused(
    upload, send_with, lounge, alice, client
):
    ids = [upload(alice, b"z").get_json()["id"] for _ in range(11)]
    assert_error(send_with(alice, lounge, ids), 422, "validation_error")
    assert_error(send_with(alice, lounge, []), 422, "validation_error")
    response = client.post(
        f"/api/rooms/{lounge}/messages", headers=alice.headers, json={"body": "  "}
    )
    assert_error(response, 422, "validation_error")
    assert send_with(alice, lounge, ids[:10]).status_code == 201


def test_attachments_over_socketio(upload, lounge, alice, bob, socket_for):
    shaped = upload(alice, png_bytes(), "p.png").get_json()
    bob_socket = socket_for(bob)
    bob_socket.emit("join", {"room": lounge}, callback=True)
    alice_socket = socket_for(alice)
    ack = alice_socket.emit(
        "send",
        {"room": lounge, "body": "", "client_id": "c1", "attachments": [shaped["id"]]},
        callback=True,
    )
    assert ack["ok"] is True, ack
    assert ack["message"]["attachments"] == [shaped]
    received = [e["args"] for e in bob_socket.get_received() if e["name"] == "message"]
    last = received[-1][0] if isinstance(received[-1], list) else received[-1]
    assert last["attachments"] == [shaped]


def test_deleting_a_message_deletes_its_files(upload, send_with, lounge, alice, bob, client):
    shaped = upload(alice, png_bytes(), "p.png").get_json()
    message = send_with(alice, lounge, [shaped["id"]]).get_json()
    deleted = client.delete(f"/api/messages/{message['id']}", headers=alice.headers)
    assert deleted.get_json()["attachments"] == []
    assert_error(client.get(shaped["url"], headers=bob.headers), 404, "not_found")
    assert_error(client.get(shaped["url"], headers=alice.headers), 404, "not_found")
    with client.application.app_context():
        assert db.session.query(StoredFile).count() == 0
        assert db.session.query(FileChunk).count() == 0


def test_uploads_never_attached_are_removed_after_a_day(upload, send_with, lounge, alice, app):
    old = upload(alice, b"old").get_json()
    attached = upload(alice, b"kept").get_json()
    send_with(alice, lounge, [attached["id"]])
    fresh = upload(alice, b"fresh").get_json()
    with app.app_context():
        for file_id in (old["id"], attached["id"]):
            db.session.get(StoredFile, file_id).created_at = utcnow() - timedelta(hours=25)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["files", "cleanup"])
    assert result.exit_code == 0, result.output
    assert "removed 1" in result.output
    with app.app_context():
        left = {f.id for f in db.session.query(StoredFile)}
        assert left == {attached["id"], fresh["id"]}
        assert {c.file_id for c in db.session.query(FileChunk)} == left


def test_an_upload_also_removes_old_unattached_ones_at_most_every_ten_minutes(
    upload, alice, app, monkeypatch
):
    old = upload(alice, b"old").get_json()
    with app.app_context():
        db.session.get(StoredFile, old["id"]).created_at = utcnow() - timedelta(hours=25)
        db.session.commit()
    monkeypatch.setattr(files_domain, "_last_cleanup", 0.0)  # none in this process yet
    upload(alice, b"new")
    with app.app_context():
        assert db.session.get(StoredFile, old["id"]) is None
    older = upload(alice, b"older").get_json()
    with app.app_context():
        db.session.get(StoredFile, older["id"]).created_at = utcnow() - timedelta(hours=25)
        db.session.commit()
    upload(alice, b"newer")  # within ten minutes of the last run: left for the next
    with app.app_context():
        assert db.session.get(StoredFile, older["id"]) is not None


def test_search_finds_a_message_by_its_file_name(upload, send_with, lounge, alice, client):
    shaped = upload(alice, b"%PDF-1.4", "Quarterly-Budget_2026.pdf").get_json()
    message = send_with(alice, lounge, [shaped["id"]], body="see attached").get_json()
    for q in ("budget", "quarterly", "pdf"):
        found = client.get(f"/api/search?q={q}", headers=alice.headers).get_json()
        assert [m["id"] for m in found["messages"]] == [message["id"]], q
        assert found["messages"][0]["attachments"] == [shaped]
    unattached = upload(alice, b"x", "unicorn.txt").get_json()
    assert unattached["id"]
    found = client.get("/api/search?q=unicorn", headers=alice.headers).get_json()
    assert found["messages"] == []


# --- cost -------------------------------------------------------------------------


def test_a_send_and_a_page_without_attachments_never_look_for_files(
    send, lounge, alice, client, statements
):
    assert send(alice, lounge, "plain").status_code == 201
    client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers)
    assert not [s for s in statements if "files" in s]


def test_a_page_loads_its_attachments_in_one_query(
    upload, send_with, send, lounge, alice, client, statements
):
    for _ in range(3):
        send_with(alice, lounge, [upload(alice, b"q").get_json()["id"]])
        send(alice, lounge, "between")
    statements.clear()
    page = client.get(f"/api/rooms/{lounge}/messages", headers=alice.headers).get_json()
    assert sum(len(m["attachments"]) for m in page["messages"]) == 3
    assert len([s for s in statements if "FROM files" in s]) == 1


def _encoded(image, fmt, **options):
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _rotated_jpeg():
    image = Image.new("RGB", (400, 100), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: 100 wide, 400 high
    return _encoded(image, "JPEG", exif=exif)


@pytest.mark.parametrize(
    ("data", "content_type", "size", "thumb"),
    [
        (
            _encoded(Image.new("RGBA", (640, 320), (0, 0, 255, 128)), "PNG"),
            "image/png",
            (640, 320),
            (320, 160),
        ),
        (_encoded(Image.new("RGB", (1000, 500)), "JPEG"), "image/jpeg", (1000, 500), (320, 160)),
        (
            _encoded(Image.new("P", (90, 60)), "GIF", transparency=0),
            "image/gif",
            (90, 60),
            (90, 60),
        ),
        (_encoded(Image.new("RGB", (300, 900)), "WEBP"), "image/webp", (300, 900), (107, 320)),
        (_rotated_jpeg(), "image/jpeg", (100, 400), (80, 320)),
    ],
)
def test_each_image_type_gets_its_size_and_a_webp_thumbnail(data, content_type, size, thumb):
    assert images.sniff(data[: images.SNIFF_BYTES]) == content_type
    facts = images.inspect(io.BytesIO(data), content_type)
    assert (facts.width, facts.height) == size
    with Image.open(io.BytesIO(facts.thumbnail)) as small:
        assert small.format == "WEBP"
        assert small.size == thumb
