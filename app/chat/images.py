"""What an upload's bytes are, and what an image among them looks like.

Rules here: the content type comes from the bytes' magic numbers (SNIFFED),
never from the client's claim; anything not recognised is
application/octet-stream. PNG, JPEG, GIF and WebP are images: they get their
width and height and a thumbnail (at most THUMBNAIL_SIDE pixels a side,
WebP), made with Pillow. An image whose header announces more than
MAX_PIXELS pixels is refused before any of it is decoded (a decompression
bomb: a few KiB that would decode to gigabytes); one Pillow cannot decode is
kept as application/octet-stream, a download like any other file.
"""

import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps

THUMBNAIL_SIDE = 320
THUMBNAIL_TYPE = "image/webp"
MAX_PIXELS = 20_000_000
OCTET_STREAM = "application/octet-stream"

# (offset, magic bytes, content type), first match wins.
SNIFFED: list[tuple[int, bytes, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (8, b"WEBP", "image/webp"),  # after "RIFF" and a length, checked below
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (4, b"ftyp", "video/mp4"),
]
SNIFF_BYTES = 16
# Pillow format names of the image types.
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


class ImageRefused(ValueError):
    """An image too large to decode safely."""


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    thumbnail: bytes


def sniff(head: bytes) -> str:
    """The content type of bytes starting with `head` (at least SNIFF_BYTES of them
    when the file is that long)."""
    for offset, magic, content_type in SNIFFED:
        if head[offset : offset + len(magic)] == magic:
            if content_type == "image/webp" and head[:4] != b"RIFF":
                continue
            return content_type
    return OCTET_STREAM


def is_image_type(content_type: str) -> bool:
    return content_type in IMAGE_FORMATS


def inspect(stream: BinaryIO, content_type: str) -> ImageFacts | None:
    """Width, height and thumbnail of the image in `stream` (read from its start),
    None if Pillow cannot decode it as `content_type`; ImageRefused for one over
    MAX_PIXELS. CPU-heavy: run it off the event loop (app/offload.py)."""
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream, formats=[IMAGE_FORMATS[content_type]]) as image:
                width, height = image.size  # from the header: nothing decoded yet
                if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                    raise ImageRefused(
                        f"The image is {width}×{height} pixels; at most {MAX_PIXELS} are allowed."
                    )
                if image.getexif().get(0x0112) in (5, 6, 7, 8):  # turned a quarter
                    width, height = height, width
                return ImageFacts(width, height, _thumbnail(image))
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.UnidentifiedImageError):
        return None


def _thumbnail(image: Image.Image) -> bytes:
    image.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # JPEG: decode scaled down
    image.seek(0)  # an animation's first frame
    small = ImageOps.exif_transpose(image)
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    if small.mode not in ("RGB", "RGBA"):
        has_alpha = "A" in small.mode or "transparency" in small.info
        small = small.convert("RGBA" if has_alpha else "RGB")
    out = io.BytesIO()
    small.save(out, format="WEBP", quality=80)
    return out.getvalue()
