"""Image files made to order for tests: encoded bytes, and PNGs that only claim a size."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def image_bytes(img: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def header_only_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height RGB, with almost no pixel data behind it:
    a decompression bomb in under a kilobyte."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))
