"""Safe image decoding and metadata-free re-encoding.

``decode_image`` accepts JPEG, PNG and WebP only, decided by magic bytes, reads the
dimensions from the header and refuses oversized images *before* any pixel is decoded (a
20000x20000 decompression bomb costs a header parse, not 1.2 GB). It applies the EXIF
orientation so that pixels are upright, because every later stage drops the EXIF block.

``encode_jpeg`` writes a fresh JPEG from pixels only, so no EXIF, GPS, XMP, ICC profile,
comment or thumbnail of the input can survive.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from monitoring.vision.errors import CorruptImage, ImageTooLarge, UnsupportedFormat
from monitoring.vision.images import BgrImage, as_bgr

ImageFormat = Literal["jpeg", "png", "webp"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG SOFn markers that carry the frame size: C0-CF except DHT (C4), JPG (C8), DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_EXIF_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Refuse inputs above these; the defaults suit webcam frames and phone photos."""

    max_bytes: int = 2 * 1024 * 1024
    max_width: int = 4096
    max_height: int = 4096
    max_pixels: int = 16_000_000


DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says, read without decoding pixels."""

    format: ImageFormat
    width: int
    height: int
    # EXIF orientation 1-8 (1 = upright); 1 when the image has no EXIF.
    orientation: int


def sniff_format(data: bytes) -> ImageFormat:
    """Tell the format from the magic bytes; file names and MIME types are not trusted."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise UnsupportedFormat(
        f"Unsupported image format (first bytes {data[:12].hex() or 'none'}, "
        f"{len(data)} bytes in all); send a JPEG, PNG or WebP image."
    )


def probe_image(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> ImageInfo:
    """Read format, size and orientation from the header and enforce ``limits``.

    Raises ``ImageTooLarge``, ``UnsupportedFormat`` or ``CorruptImage``.
    """
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"Image is {len(data)} bytes, over the {limits.max_bytes}-byte limit; "
            "send a smaller or more compressed image."
        )
    image_format = sniff_format(data)
    if image_format == "jpeg":
        width, height, orientation = _jpeg_header(data)
    elif image_format == "png":
        width, height, orientation = _png_header(data)
    else:
        width, height, orientation = _webp_header(data)
    if width <= 0 or height <= 0:
        raise CorruptImage(
            f"The {image_format} header declares an empty {width}x{height} image; "
            "the file is damaged."
        )
    if width > limits.max_width or height > limits.max_height:
        raise ImageTooLarge(
            f"Image is {width}x{height} pixels, over the {limits.max_width}x"
            f"{limits.max_height} limit; scale it down before sending."
        )
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"Image has {width * height} pixels ({width}x{height}), over the "
            f"{limits.max_pixels}-pixel limit; scale it down before sending."
        )
    return ImageInfo(format=image_format, width=width, height=height, orientation=orientation)


def decode_image(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> BgrImage:
    """Decode JPEG/PNG/WebP bytes to an upright BGR uint8 array of shape (h, w, 3).

    Grayscale, 16-bit, CMYK and alpha inputs are converted to 8-bit BGR; an animated WebP
    yields its first frame. Raises ``ImageTooLarge``, ``UnsupportedFormat`` or
    ``CorruptImage``; never returns a partially decoded image knowingly.
    """
    info = probe_image(data, limits=limits)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        # We apply the orientation ourselves (below) so the behaviour does not depend on
        # which OpenCV codec honours EXIF.
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as error:
        raise CorruptImage(
            f"Could not decode the {info.width}x{info.height} {info.format} image: {error}"
        ) from error
    if image is None or image.size == 0:
        raise CorruptImage(
            f"Could not decode the {info.width}x{info.height} {info.format} image "
            f"({len(data)} bytes); it is truncated or damaged, send it again."
        )
    if image.shape[0] * image.shape[1] > limits.max_pixels:
        # Defence in depth: the header we parsed and the codec disagree.
        raise ImageTooLarge(
            f"Decoded image is {image.shape[1]}x{image.shape[0]} pixels, over the "
            f"{limits.max_pixels}-pixel limit although its header said "
            f"{info.width}x{info.height}."
        )
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    return apply_orientation(as_bgr(np.ascontiguousarray(image)), info.orientation)


def apply_orientation(image: BgrImage, orientation: int) -> BgrImage:
    """Rotate/flip pixels as EXIF orientation 1-8 says; unknown values leave them as they are."""
    if orientation == 2:
        return as_bgr(cv2.flip(image, 1))
    if orientation == 3:
        return as_bgr(cv2.rotate(image, cv2.ROTATE_180))
    if orientation == 4:
        return as_bgr(cv2.flip(image, 0))
    if orientation == 5:
        return as_bgr(cv2.transpose(image))
    if orientation == 6:
        return as_bgr(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE))
    if orientation == 7:
        return as_bgr(cv2.rotate(cv2.transpose(image), cv2.ROTATE_180))
    if orientation == 8:
        return as_bgr(cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE))
    return image


def encode_jpeg(image_bgr: BgrImage, *, quality: int = 80) -> bytes:
    """Encode pixels as a baseline JPEG carrying no metadata at all.

    OpenCV writes only a JFIF header and the image data: nothing from the input file (it
    never sees it) can leak into the output.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be between 1 and 100, got {quality}.")
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CorruptImage(
            f"Could not encode a {image_bgr.shape} {image_bgr.dtype} array as JPEG; "
            "pass a BGR uint8 image."
        )
    return encoded.tobytes()


def encode_image(image_bgr: BgrImage, image_format: ImageFormat, *, quality: int = 90) -> bytes:
    """Encode pixels as JPEG, PNG or WebP, with no metadata (OpenCV writes none)."""
    if image_format == "jpeg":
        return encode_jpeg(image_bgr, quality=quality)
    extension, params = (
        (".png", [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if image_format == "png"
        else (".webp", [cv2.IMWRITE_WEBP_QUALITY, quality])
    )
    ok, encoded = cv2.imencode(extension, image_bgr, params)
    if not ok:
        raise CorruptImage(
            f"Could not encode a {image_bgr.shape} {image_bgr.dtype} array as "
            f"{image_format}; pass a BGR uint8 image."
        )
    return encoded.tobytes()


def strip_metadata(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> bytes:
    """Decode (upright) and re-encode as JPEG: the output holds pixels only."""
    return encode_jpeg(decode_image(data, limits=limits))


# --- header parsers -------------------------------------------------------------------


def _jpeg_header(data: bytes) -> tuple[int, int, int]:
    orientation = 1
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            break
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2:
            break
        segment = data[position + 4 : position + 2 + length]
        if marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(segment[6:])
        elif marker in _SOF_MARKERS:
            if len(segment) < 5:
                break
            height, width = struct.unpack(">HH", segment[1:5])
            return width, height, orientation
        elif marker == 0xDA:  # start of scan before any frame header
            break
        position += 2 + length
    raise CorruptImage(
        f"JPEG header has no readable frame size (parsed {min(position, len(data))} of "
        f"{len(data)} bytes); the file is truncated or damaged."
    )


def _png_header(data: bytes) -> tuple[int, int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise CorruptImage(
            f"PNG has no IHDR chunk in its first 24 bytes ({len(data)} bytes in all); "
            "the file is truncated or damaged."
        )
    width, height = struct.unpack(">II", data[16:24])
    orientation = 1
    # Look for an eXIf chunk before the image data (where the PNG spec puts it).
    position = 8
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"eXIf":
            orientation = _exif_orientation(data[position + 8 : position + 8 + length])
            break
        if kind in (b"IDAT", b"IEND"):
            break
        position += 12 + length
    return width, height, orientation


def _webp_header(data: bytes) -> tuple[int, int, int]:
    kind = data[12:16]
    chunk = data[20:]
    if kind == b"VP8 " and len(chunk) >= 10 and chunk[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", chunk[6:10])
        return width & 0x3FFF, height & 0x3FFF, 1
    if kind == b"VP8L" and len(chunk) >= 5 and chunk[0] == 0x2F:
        bits = int.from_bytes(chunk[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    if kind == b"VP8X" and len(chunk) >= 10:
        width = int.from_bytes(chunk[4:7], "little") + 1
        height = int.from_bytes(chunk[7:10], "little") + 1
        return width, height, _webp_exif_orientation(data)
    raise CorruptImage(
        f"WebP has no readable VP8/VP8L/VP8X header (first chunk {kind!r}, {len(data)} "
        "bytes in all); the file is truncated or damaged."
    )


def _webp_exif_orientation(data: bytes) -> int:
    position = 12
    while position + 8 <= len(data):
        kind = data[position : position + 4]
        (length,) = struct.unpack("<I", data[position + 4 : position + 8])
        if kind == b"EXIF":
            payload = data[position + 8 : position + 8 + length]
            if payload.startswith(b"Exif\x00\x00"):
                payload = payload[6:]
            return _exif_orientation(payload)
        position += 8 + length + (length & 1)
    return 1


def _exif_orientation(tiff: bytes) -> int:
    """Orientation tag of IFD0 in a TIFF-structured EXIF block; 1 when absent or malformed.

    A malformed EXIF block is no reason to refuse an image: we drop EXIF anyway.
    """
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd_offset,) = struct.unpack(order + "I", tiff[4:8])
    if ifd_offset + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd_offset : ifd_offset + 2])
    for index in range(count):
        entry = ifd_offset + 2 + 12 * index
        if entry + 12 > len(tiff):
            return 1
        tag, _type, _count = struct.unpack(order + "HHI", tiff[entry : entry + 8])
        if tag == _EXIF_ORIENTATION_TAG:
            (value,) = struct.unpack(order + "H", tiff[entry + 8 : entry + 10])
            return value if 1 <= value <= 8 else 1
    return 1
