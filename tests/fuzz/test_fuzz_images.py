"""Fuzzing the image loader every command uses (`synthbio.io.images.read_image`).

Inputs: small valid images of every accepted format and mode (16-bit gray
included), with byte edits; PNG headers declaring any size; random bytes
behind each format's magic. Each either decodes to uint8 [H, W] or [H, W, 3]
within MAX_IMAGE_PIXELS or is refused with an InputError naming the file.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import PIL.Image
from hypothesis import strategies as st

from fuzzing import fuzz, mutated
from synthbio.errors import InputError
from synthbio.io.images import MAX_IMAGE_PIXELS, read_image, read_image_header

NAME = "fuzzed-image"
_FORMATS = {"PNG": ("L", "RGB", "RGBA", "P", "I;16", "1", "LA"), "JPEG": ("L", "RGB"), "BMP": ("L", "RGB", "P"),
            "TIFF": ("L", "RGB", "I;16", "F", "1"), "WEBP": ("RGB", "RGBA"), "PPM": ("L", "RGB")}
_MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
          b"P5\n", b"P6\n", b"GIF89a", b"%!PS-Adobe-3.0 EPSF-3.0\n", b"\x00\x00\x01\x00"]


def _encode(fmt: str, mode: str, width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        img = PIL.Image.fromarray(rng.integers(0, 65535, (height, width), dtype=np.uint16))
    elif mode == "F":
        img = PIL.Image.fromarray(rng.standard_normal((height, width)).astype(np.float32) * 100)
    else:
        img = PIL.Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@st.composite
def valid_images(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(sorted(_FORMATS)))
    data = _encode(fmt, draw(st.sampled_from(_FORMATS[fmt])), draw(st.integers(1, 12)), draw(st.integers(1, 12)),
                   draw(st.integers(0, 99)))
    return draw(mutated(data, max_edits=3))


def _png(width: int, height: int, depth: int, color: int, body: bytes) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b""))


PNG_HEADERS = st.builds(_png, st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)),
                        st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)), st.sampled_from([1, 2, 4, 8, 16, 3]),
                        st.sampled_from([0, 2, 3, 4, 6, 1]), st.binary(max_size=64))

IMAGES = st.one_of(valid_images(), PNG_HEADERS,
                   st.builds(lambda magic, rest: magic + rest, st.sampled_from(_MAGIC), st.binary(max_size=48)),
                   st.binary(max_size=32))


@fuzz("images", st.tuples(IMAGES, st.sampled_from([None, "L", "RGB"])), examples=200, mutations=2000)
def test_fuzz_read_image(case: tuple[bytes, str | None]) -> None:
    data, mode = case
    try:
        size, _ = read_image_header(NAME, data=data)
    except InputError as exc:
        assert NAME in str(exc)
        size = None
    try:
        a = read_image(NAME, data=data, mode=mode)  # type: ignore[arg-type]
    except InputError as exc:
        assert NAME in str(exc)
        return
    assert a.dtype == np.uint8 and a.ndim in (2, 3) and a.shape[0] * a.shape[1] <= MAX_IMAGE_PIXELS
    assert a.ndim == 2 if mode == "L" else mode is None or a.shape[2] == 3
    assert size == (a.shape[1], a.shape[0])  # the header that was checked is the image that was decoded
