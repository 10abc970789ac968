"""Safe decoding: format sniffing, limits before decoding, orientation, metadata removal."""

from __future__ import annotations

import contextlib
import io
import struct
import time
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from monitoring.vision.decode import (
    DecodeLimits,
    decode_image,
    encode_jpeg,
    probe_image,
    strip_metadata,
)
from monitoring.vision.errors import CorruptImage, ImageTooLarge, UnsupportedFormat, VisionError


def gradient(width: int = 64, height: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None, None]
    return np.concatenate(
        [np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
         np.full((height, width, 1), 128, np.uint8)], axis=2
    ).copy()


def encoded(extension: str, image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (the IDAT holds a few bytes only)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


@pytest.mark.parametrize("extension", [".jpg", ".png", ".webp"])
def test_supported_formats_decode_to_bgr_uint8(extension):
    image = decode_image(encoded(extension, gradient()))
    assert image.shape == (48, 64, 3)
    assert image.dtype == np.uint8


def test_zero_bytes_are_refused_as_unsupported():
    with pytest.raises(UnsupportedFormat, match=r"first bytes none, 0 bytes.*JPEG, PNG or WebP"):
        decode_image(b"")


def test_wrong_magic_is_refused_even_if_the_rest_is_an_image():
    gif = b"GIF89a" + encoded(".png", gradient())[6:]
    with pytest.raises(UnsupportedFormat, match="474946383961"):
        decode_image(gif)


@pytest.mark.parametrize("keep", [4, 100, 700, 0.5])
def test_truncated_jpeg_is_a_corrupt_image(keep):
    data = encoded(".jpg", np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8))
    cut = data[: int(len(data) * keep) if isinstance(keep, float) else keep]
    with pytest.raises(CorruptImage, match="truncated or damaged"):
        decode_image(cut)


def test_decompression_bomb_is_refused_from_the_header_without_allocating():
    bomb = png_declaring(20000, 20000)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match=r"20000x20000 pixels, over the 4096x4096 limit"):
        decode_image(bomb)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.05
    assert peak < 1_000_000  # the image would be 1.2 GB


def jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG header whose frame (SOF0) claims width x height, followed by nothing useful."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00"
            + b"\x00\x01\x00\x01\x00\x00" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof
            + b"\xff\xd9")


def webp_declaring(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP header claiming a canvas of width x height."""
    payload = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (
        height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("declaring", [jpeg_declaring, webp_declaring])
def test_jpeg_and_webp_bombs_are_refused_from_the_header(declaring):
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match=r"20000x20000 pixels"):
        decode_image(declaring(20000, 20000))
    assert time.perf_counter() - started < 0.05


def test_pixel_limit_applies_within_the_side_limits():
    with pytest.raises(ImageTooLarge, match=r"16777216 pixels \(4096x4096\), over the 16000000"):
        probe_image(png_declaring(4096, 4096))


def test_byte_limit_is_checked_first():
    with pytest.raises(ImageTooLarge, match="over the 1000-byte limit"):
        decode_image(b"\xff\xd8\xff" + b"\x00" * 2000, limits=DecodeLimits(max_bytes=1000))


def test_png_declaring_an_empty_image_is_corrupt():
    with pytest.raises(CorruptImage, match="empty 0x10 image"):
        decode_image(png_declaring(0, 10))


def test_one_pixel_image_decodes():
    assert decode_image(encoded(".png", np.full((1, 1, 3), 200, np.uint8))).shape == (1, 1, 3)


def test_grayscale_becomes_three_channels():
    grey = cv2.cvtColor(gradient(), cv2.COLOR_BGR2GRAY)
    image = decode_image(encoded(".png", grey))
    assert image.shape == (48, 64, 3)
    assert np.array_equal(image[..., 0], grey)


def test_sixteen_bit_png_becomes_eight_bit():
    deep = (gradient().astype(np.uint16) * 257)
    image = decode_image(encoded(".png", deep))
    assert image.dtype == np.uint8
    assert np.abs(image.astype(int) - gradient().astype(int)).max() <= 1


def test_cmyk_jpeg_decodes_to_the_right_colour():
    buffer = io.BytesIO()
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(buffer, "JPEG")  # pure red
    image = decode_image(buffer.getvalue())
    assert image.shape == (30, 40, 3)
    blue, green, red = image[15, 20]
    assert red > 200 and green < 40 and blue < 40


def test_animated_webp_yields_its_first_frame():
    buffer = io.BytesIO()
    first = Image.new("RGB", (64, 48), (255, 0, 0))
    first.save(buffer, "WEBP", save_all=True, duration=100, loop=0,
               append_images=[Image.new("RGB", (64, 48), (0, 255, 0))])
    image = decode_image(buffer.getvalue())
    assert image.shape == (48, 64, 3)
    assert image[24, 32, 2] > 200  # red, the first frame


@pytest.mark.parametrize(("orientation", "expected_shape"), [(1, (30, 60)), (6, (60, 30)),
                                                            (3, (30, 60)), (8, (60, 30))])
def test_exif_orientation_is_applied(orientation, expected_shape):
    picture = Image.new("RGB", (60, 30), (0, 0, 0))
    picture.paste((255, 255, 255), (0, 0, 10, 30))  # a white stripe on the left edge
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    data = buffer.getvalue()
    assert probe_image(data).orientation == orientation
    image = decode_image(data)
    assert image.shape[:2] == expected_shape
    # Where the stripe ends up: orientation 6 turns the left edge to the top.
    bright = {1: image[:, :5], 3: image[:, -5:], 6: image[:5], 8: image[-5:]}[orientation]
    assert bright.mean() > 200


def jpeg_with_every_kind_of_metadata() -> bytes:
    picture = Image.fromarray(gradient(120, 80)[..., ::-1].copy())
    exif = Image.Exif()
    exif[0x010E] = "SECRET-EXIF-DESCRIPTION"
    exif[0x0112] = 1
    gps = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)}
    exif[0x8825] = gps
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=exif.tobytes(), comment=b"SECRET-COMMENT",
                 icc_profile=b"SECRET-ICC-PROFILE" * 4)
    data = buffer.getvalue()
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>SECRET-XMP</x:xmpmeta>"
    # A JFIF-style thumbnail extension segment (APP0 JFXX) carrying its own marker text.
    thumbnail = b"JFXX\x00\x13" + b"SECRET-THUMBNAIL"
    extra = b"".join(
        marker + struct.pack(">H", len(payload) + 2) + payload
        for marker, payload in ((b"\xff\xe1", xmp), (b"\xff\xe0", thumbnail),
                                (b"\xff\xed", b"Photoshop 3.0\x00SECRET-IPTC"))
    )
    return data[:2] + extra + data[2:]


def segment_markers(jpeg: bytes) -> list[int]:
    markers, position = [], 2
    while position + 4 <= len(jpeg) and jpeg[position] == 0xFF:
        marker = jpeg[position + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        position += 2 + struct.unpack(">H", jpeg[position + 2:position + 4])[0]
    return markers


def test_reencoded_jpeg_keeps_no_metadata_at_all():
    crafted = jpeg_with_every_kind_of_metadata()
    for secret in (b"SECRET-EXIF", b"SECRET-COMMENT", b"SECRET-ICC", b"SECRET-XMP",
                   b"SECRET-THUMBNAIL", b"SECRET-IPTC", b"Exif\x00\x00"):
        assert secret in crafted
    output = strip_metadata(crafted)
    assert b"SECRET" not in output
    assert b"Exif" not in output and b"ICC_PROFILE" not in output
    markers = segment_markers(output)
    # Only JFIF (APP0), tables, frame and scan headers: no APP1-APP15 and no COM.
    assert not [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE]
    assert decode_image(output).shape == (80, 120, 3)


def test_png_text_and_exif_chunks_do_not_survive():
    plain = encoded(".png", gradient())
    iend = plain.rindex(b"IEND") - 4
    crafted = (plain[:33] + png_chunk(b"tEXt", b"Author\x00SECRET-AUTHOR")
               + png_chunk(b"eXIf", b"MM\x00\x2a\x00\x00\x00\x08\x00\x00") + plain[33:iend]
               + png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00SECRET-XMP")
               + plain[iend:])
    output = strip_metadata(crafted)
    assert b"SECRET" not in output
    assert output[:3] == b"\xff\xd8\xff"


def test_encode_jpeg_rejects_an_impossible_quality():
    with pytest.raises(ValueError, match="between 1 and 100, got 0"):
        encode_jpeg(gradient(), quality=0)


SEEDS = [encoded(".jpg", gradient()), encoded(".png", gradient()), encoded(".webp", gradient()),
         png_declaring(30000, 2)]


# No per-example deadline: on a loaded CI machine one slow example would fail the run for
# nothing. A hang still fails, through the test's timeout (a decode takes ~1 ms).
@pytest.mark.timeout(120)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=12),
    cut=st.integers(0, 5000),
)
def test_fuzzed_inputs_raise_only_vision_errors(seed, edits, cut):
    data = bytearray(seed)
    for position, value in edits:
        if position < len(data):
            data[position] = value
    data = bytes(data[: max(cut, 0) or len(data)])
    try:
        image = decode_image(data)
    except VisionError:
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_vision_errors(data):
    with contextlib.suppress(VisionError):
        decode_image(data)
