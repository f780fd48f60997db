"""Uploads and attachments across the instances of a local cluster
(scripts/cluster.py: 4 instances behind nginx, Redis, PostgreSQL, started once
for the module): a file uploaded on one instance, attached on another and read
through a third; who may read it; what it is served as; the limits, nginx's
among them; files gone with their message; search by file name."""

import io
import zlib

import pytest
from PIL import Image
from socket_clients import assert_error_shape, unique_name

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
QUOTA = 24 * MIB
CLUSTER_ENV = {
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "AUTH_RATE_LIMIT": "10000 per minute",
    "SEND_RATE_LIMIT": "1000 per second",
    "USER_QUOTA_BYTES": str(QUOTA),
}
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def cluster_options():
    return {"instances": 4, "async_mode": "eventlet", "extra_env": CLUSTER_ENV}


def on(cluster, number):
    return cluster.instances[number - 1].url


def png_bytes(width=64, height=48):
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 220)).save(out, format="PNG")
    return out.getvalue()


def bomb_png(side=40_000):
    """A valid PNG announcing side×side pixels (1.6 gigapixels) in a few KiB."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    body = b"".join(compressor.compress(row) for _ in range(500)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def upload(account, data, name="f.bin", claimed="application/octet-stream", base_url=None):
    return account.request(
        "POST",
        "/api/uploads",
        base_url=base_url,
        files={"file": (name, data, claimed)},
        timeout=60,
    )


def uploaded(account, data, name="f.bin", claimed="application/octet-stream", base_url=None):
    response = upload(account, data, name, claimed, base_url)
    assert response.status_code == 201, response.text
    return response.json()


def send_with(account, room, ids, body="", base_url=None):
    return account.request(
        "POST",
        f"/api/rooms/{room}/messages",
        base_url=base_url,
        json={"body": body, "attachments": ids},
    )


@pytest.fixture
def room_of(user):
    """room_of(owner, *members): a fresh public room with them in it; its name."""

    def make(owner, *members):
        name = unique_name("files")
        owner.create_room(name)
        for member in members:
            member.join_room(name)
        return name

    return make


def test_an_upload_attached_through_one_instance_is_read_through_another(
    cluster, user, connect, room_of
):
    alice, bob = user(), user()
    room = room_of(alice, bob)
    listening = connect(bob, 3)
    listening.join(room)
    data = png_bytes(640, 480)
    shaped = uploaded(alice, data, "holiday.png", "image/png", base_url=on(cluster, 1))
    assert (shaped["content_type"], shaped["width"], shaped["height"]) == ("image/png", 640, 480)
    response = send_with(alice, room, [shaped["id"]], base_url=on(cluster, 2))
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["attachments"] == [shaped] and message["body"] == ""
    live = listening.wait_for("message", lambda m: m["id"] == message["id"])
    assert live["attachments"] == [shaped]
    got = bob.request("GET", shaped["url"], base_url=on(cluster, 4))
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["Content-Disposition"].startswith("inline;")
    thumb = bob.request("GET", shaped["thumbnail_url"])  # through nginx
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.size == (320, 240)
    page = bob.request("GET", f"/api/rooms/{room}/messages", base_url=on(cluster, 1)).json()
    assert page["messages"][-1]["attachments"] == [shaped]


def test_a_socketio_send_with_attachments_reaches_every_instance(cluster, user, connect, room_of):
    alice, bob = user(), user()
    room = room_of(alice, bob)
    listeners = [connect(bob, 1), connect(bob, 4)]
    for listener in listeners:
        listener.join(room)
    files = [uploaded(alice, b"%PDF-1.4 minutes", "minutes.pdf", base_url=on(cluster, 3))]
    files.append(uploaded(alice, png_bytes(), "chart.png", base_url=on(cluster, 1)))
    sender = connect(alice, 2)
    sender.join(room)
    ack = sender.call(
        "send",
        {
            "room": room,
            "body": "",
            "client_id": "with-files",
            "attachments": [f["id"] for f in files],
        },
    )
    assert ack["ok"] is True, ack
    assert ack["message"]["attachments"] == files
    for listener in listeners:
        assert (
            listener.wait_for("message", lambda m: m["id"] == ack["message"]["id"])
            == ack["message"]
        )
    # the same upload cannot be attached twice
    again = sender.call(
        "send", {"room": room, "body": "x", "client_id": "again", "attachments": [files[0]["id"]]}
    )
    assert_error_shape(again, "validation_error")


def test_a_file_is_404_for_anyone_but_the_rooms_members(cluster, user, room_of):
    alice, bob, carol = user(), user(), user()
    room = room_of(alice, bob)
    shaped = uploaded(alice, png_bytes(), "private.png")
    for outsider in (bob, carol):  # before it is attached, only its uploader
        for path in (shaped["url"], shaped["thumbnail_url"]):
            response = outsider.request("GET", path, base_url=on(cluster, 2))
            assert response.status_code == 404
            assert_error_shape(response.json(), "not_found")
    assert send_with(alice, room, [shaped["id"]], "look").status_code == 201
    assert bob.request("GET", shaped["url"], base_url=on(cluster, 3)).status_code == 200
    for number in (1, 2, 3, 4):  # carol, with the id, on every instance
        response = carol.request("GET", shaped["url"], base_url=on(cluster, number))
        assert response.status_code == 404
        assert_error_shape(response.json(), "not_found")
        assert response.content.find(b"\x89PNG") == -1
    assert alice.request("GET", "/api/files/99999999").status_code == 404


def test_a_renamed_executable_claimed_as_png_is_served_as_what_it_is(cluster, user, room_of):
    alice, bob = user(), user()
    room = room_of(alice, bob)
    shaped = uploaded(alice, ELF, "kitten.png", "image/png")
    assert shaped["content_type"] == "application/octet-stream"
    assert not {"width", "height", "thumbnail_url"} & set(shaped)
    assert send_with(alice, room, [shaped["id"]], "a kitten").status_code == 201
    response = bob.request("GET", shaped["url"])  # through nginx
    assert response.status_code == 200
    assert response.content == ELF
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="kitten.png"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert bob.request("GET", shaped["url"] + "/thumbnail").status_code == 404
    script = uploaded(alice, b"#!/bin/sh\necho pwned\n", "run.sh.png", "image/png")
    assert script["content_type"] == "application/octet-stream"


def test_an_11_mib_upload_is_refused_by_nginx_and_10_mib_passes(cluster, user):
    alice = user()
    response = upload(alice, b"\x00" * (11 * MIB), "big.bin")  # through nginx
    assert response.status_code == 413
    assert_error_shape(response.json(), "payload_too_large")
    assert "X-Instance" not in response.headers  # nginx refused it, no instance saw it
    shaped = uploaded(alice, b"\x01" * (10 * MIB), "exactly.bin")
    assert shaped["size"] == 10 * MIB
    # past 10 MiB by a byte: within nginx's margin for the multipart wrapping, so the app refuses it
    response = upload(alice, b"\x01" * (10 * MIB + 1), "over.bin")
    assert response.status_code == 413
    assert_error_shape(response.json(), "payload_too_large")
    assert "X-Instance" in response.headers
    got = alice.request("GET", shaped["url"], base_url=on(cluster, 2), stream=True)
    size = sum(len(piece) for piece in got.iter_content(64 * 1024))
    assert size == 10 * MIB


def test_a_decompression_bomb_is_refused(cluster, user):
    alice = user()
    data = bomb_png()
    assert len(data) < 200_000
    for number in (1, 2):
        response = upload(alice, data, "bomb.png", "image/png", base_url=on(cluster, number))
        assert response.status_code == 422, response.text
        assert_error_shape(response.json(), "validation_error")
        assert "file" in response.json()["error"]["fields"]
    # the instances are alive and well
    for number in (1, 2):
        assert alice.request("GET", "/api/me", base_url=on(cluster, number)).status_code == 200


def test_files_are_gone_with_their_message(cluster, user, room_of):
    alice, bob = user(), user()
    room = room_of(alice, bob)
    shaped = uploaded(alice, png_bytes(), "gone.png", base_url=on(cluster, 1))
    message = send_with(alice, room, [shaped["id"]], "soon gone", base_url=on(cluster, 2)).json()
    assert bob.request("GET", shaped["url"], base_url=on(cluster, 3)).status_code == 200
    deleted = alice.request("DELETE", f"/api/messages/{message['id']}", base_url=on(cluster, 4))
    assert deleted.status_code == 200 and deleted.json()["attachments"] == []
    for who in (alice, bob):
        for path in (shaped["url"], shaped["thumbnail_url"]):
            assert who.request("GET", path, base_url=on(cluster, 1)).status_code == 404
    page = bob.request("GET", f"/api/rooms/{room}/messages").json()
    assert page["messages"][-1]["attachments"] == []


def test_the_quota_holds_across_instances(cluster, user):
    alice = user()
    for number in (1, 2):
        uploaded(alice, b"\x02" * (10 * MIB), base_url=on(cluster, number))
    left = QUOTA - 20 * MIB
    response = upload(alice, b"\x02" * (left + 1), base_url=on(cluster, 3))
    assert response.status_code == 413
    assert_error_shape(response.json(), "payload_too_large")
    uploaded(alice, b"\x02" * left, base_url=on(cluster, 4))


def test_uploads_are_rate_limited_cluster_wide(cluster, user):
    alice, bob = user(), user()
    for i in range(30):
        uploaded(alice, b"r", base_url=on(cluster, 1 + i % 4))
    response = upload(alice, b"r", base_url=on(cluster, 2))
    assert response.status_code == 429
    assert_error_shape(response.json(), "rate_limited")
    uploaded(bob, b"r", base_url=on(cluster, 2))  # others unaffected


def test_search_finds_a_message_by_its_file_name(cluster, user, room_of):
    alice, bob = user(), user()
    room = room_of(alice, bob)
    word = unique_name("zebra").replace("-", "").replace("_", "")
    shaped = uploaded(alice, b"%PDF-1.4", f"{word}-Quarterly_Report.pdf")
    message = send_with(alice, room, [shaped["id"]], "see attached").json()
    for q in (word, "quarterly report", f"{word} pdf"):
        found = bob.request("GET", "/api/search", params={"q": q, "room": room}).json()
        assert [m["id"] for m in found["messages"]] == [message["id"]], q
        assert found["messages"][0]["attachments"] == [shaped]
