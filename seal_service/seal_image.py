"""Raster image of a round Chinese official seal (公章) for visible signature stamps."""

from __future__ import annotations

import functools
import io
import math
import struct
import threading

import pylopdf_fonts_zh_cn
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from seal_service.errors import SealError
from verifier.errors import InputError

SEAL_RED: tuple[int, int, int] = (230, 0, 18)
MAX_NAME_CHARS = 24
MIN_SIZE_PX = 64
MAX_SIZE_PX = 4096

# Proportions of the outer radius R, modelled on round government seals: a thick rim,
# a star about one third of R, the name in a band just inside the rim.
_RING_WIDTH = 0.075
_STAR_RADIUS = 0.34
_TEXT_HEIGHT = 0.25
_TEXT_GAP = 0.045
_MIN_ASPECT = 0.5
_FULL_SPAN_DEG = 220.0
# Short names are not stretched over the full span: the gaps would read as separate words.
_MAX_STEP_DEG = 50.0
# Glyphs are rasterised once at this em size and scaled down, so one font object serves
# every seal size.
_GLYPH_EM_PX = 256
# Noto CJK's ideographic em box spans descender -0.12 em to ascender 0.88 em.
_IDEO_ASCENT = 0.88
# A seal's characters are heavier than book text; Regular is the only weight shipped.
_EMBOLDEN = 0.03
_SUPERSAMPLE = 3

_font_lock = threading.Lock()


@functools.cache
def _seal_font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(pylopdf_fonts_zh_cn.serif_path(), _GLYPH_EM_PX)


@functools.cache
def _seal_font_codepoints() -> frozenset[int]:
    with TTFont(pylopdf_fonts_zh_cn.serif_path(), lazy=True) as font:
        return frozenset(font.getBestCmap())


@functools.lru_cache(maxsize=512)
def _glyph_mask(char: str) -> Image.Image:
    """One character as an em-square 'L' mask, horizontally centred on its advance."""
    font = _seal_font()
    em = _GLYPH_EM_PX
    stroke = max(1, round(em * _EMBOLDEN))
    canvas = Image.new("L", (em, em), 0)
    # FreeType faces are not safe to share between threads.
    with _font_lock:
        advance = font.getlength(char)
        ImageDraw.Draw(canvas).text(
            ((em - advance) / 2, em * _IDEO_ASCENT),
            char,
            fill=255,
            font=font,
            anchor="ls",
            stroke_width=stroke,
            stroke_fill=255,
        )
    return canvas


def _validated_name(department_name: str) -> str:
    name = department_name.strip()
    if not name:
        raise InputError("seal department name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise InputError(
            f"seal department name has {len(name)} characters; at most {MAX_NAME_CHARS} fit"
        )
    if any(not ch.isprintable() or ch.isspace() for ch in name):
        raise InputError("seal department name contains whitespace or control characters")
    missing = sorted({f"U+{ord(ch):04X}" for ch in name if ord(ch) not in _seal_font_codepoints()})
    if missing:
        # An engraved seal with a blank box in the name would be worse than no seal.
        raise InputError(f"seal font has no glyph for {', '.join(missing)} in the department name")
    return name


def _star_points(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(54))
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else inner
        angle = math.radians(-90 + 36 * i)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def _draw_name(mask: Image.Image, name: str, cx: float, cy: float, outer: float) -> None:
    n = len(name)
    span = min(_FULL_SPAN_DEG, _MAX_STEP_DEG * (n - 1))
    step = span / (n - 1) if n > 1 else 0.0
    step_rad = math.radians(step) if n > 1 else math.pi
    # Distance from the centre to the band's outer edge, where the character tops sit.
    band_outer = outer * (1 - _RING_WIDTH - _TEXT_GAP)
    # Long names get narrow characters, as engraved seals do; past the narrowest
    # aspect the characters shrink too. Spacing is measured at the band's inner edge,
    # where neighbours come closest.
    fill = 0.88 * step_rad
    height = min(outer * _TEXT_HEIGHT, fill * band_outer / (_MIN_ASPECT + fill))
    width = min(height, fill * (band_outer - height))
    radius = band_outer - height / 2
    size = (max(1, round(width)), max(1, round(height)))
    for i, char in enumerate(name):
        theta = -span / 2 + i * step
        glyph = _glyph_mask(char).resize(size, Image.Resampling.LANCZOS)
        rotated = glyph.rotate(-theta, resample=Image.Resampling.BICUBIC, expand=True)
        x = cx + radius * math.sin(math.radians(theta))
        y = cy - radius * math.cos(math.radians(theta))
        left = round(x - rotated.width / 2)
        top = round(y - rotated.height / 2)
        mask.paste(255, (left, top, left + rotated.width, top + rotated.height), rotated)


def render_seal_image(department_name: str, *, size_px: int = 600) -> bytes:
    """Return a PNG (RGBA, transparent background) of a red round seal for a department.

    The name runs clockwise along the upper arc, each character rotated to stand upright
    on the circle, around a solid five-pointed star. Same input, same bytes.
    """
    name = _validated_name(department_name)
    if not MIN_SIZE_PX <= size_px <= MAX_SIZE_PX:
        raise InputError(f"seal size must be {MIN_SIZE_PX}-{MAX_SIZE_PX} px, got {size_px}")

    big = size_px * _SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    centre = big / 2
    outer = big * 0.485
    ring = outer * _RING_WIDTH
    draw.ellipse(
        (centre - outer, centre - outer, centre + outer, centre + outer),
        outline=255,
        width=round(ring),
    )
    draw.polygon(_star_points(centre, centre, outer * _STAR_RADIUS), fill=255)
    _draw_name(mask, name, centre, centre, outer)

    alpha = mask.resize((size_px, size_px), Image.Resampling.LANCZOS)
    image = Image.new("RGBA", (size_px, size_px), (*SEAL_RED, 0))
    image.putalpha(alpha)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --- uploaded seal images -------------------------------------------------------------------

MAX_UPLOAD_BYTES = 1024 * 1024
MIN_UPLOAD_PX = 200
MAX_UPLOAD_PX = 2000
# Checked from the PNG header before Pillow decodes a byte: a few KiB of zlib can declare
# gigabytes of pixels. Pillow's own limit (Image.MAX_IMAGE_PIXELS) is process-wide and far
# higher, and lowering it would also limit every other image the process handles.
MAX_UPLOAD_PIXELS = MAX_UPLOAD_PX * MAX_UPLOAD_PX
MAX_ASPECT_DIFFERENCE = 0.10
# A round stamp leaves about 21% of its square transparent in the corners; a stamp that is
# nearly all opaque would hide the licence text beneath it.
MIN_TRANSPARENT_FRACTION = 0.10

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_OTHER_FORMATS = (
    (b"\xff\xd8\xff", "a JPEG"),
    (b"GIF87a", "a GIF"),
    (b"GIF89a", "a GIF"),
    (b"BM", "a BMP"),
    (b"%PDF", "a PDF"),
)


class SealImageError(SealError):
    """An uploaded seal image was refused; the message says why."""


def validate_seal_image(data: bytes) -> bytes:
    """Check an uploaded seal image and return it normalised: an RGBA PNG with no metadata.

    Refused: more than 1 MiB; anything but a PNG; a header declaring more pixels than a seal
    image may have (checked before decoding); a file Pillow cannot verify and decode; sides
    outside 200-2000 px or more than 10% from square; no alpha channel; too few fully
    transparent pixels; nothing visible at all.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise SealImageError(
            f"seal image is {len(data)} bytes; at most {MAX_UPLOAD_BYTES} (1 MiB) are accepted"
        )
    width, height = _png_header_size(data)
    if width * height > MAX_UPLOAD_PIXELS:
        raise SealImageError(
            f"seal image header declares {width}x{height} pixels, more than the "
            f"{MAX_UPLOAD_PIXELS} a seal image may have (a decompression bomb?); not decoded"
        )
    _check_dimensions(width, height)
    image = _decode(data)
    if image.size != (width, height):
        raise SealImageError("seal image is not a valid PNG: its size changed while decoding")
    rgba = _with_alpha(image)
    _check_transparency(rgba)
    # A fresh image carries none of the upload's chunks (text, EXIF, ICC, timestamps).
    clean = Image.frombytes("RGBA", rgba.size, rgba.tobytes())
    out = io.BytesIO()
    clean.save(out, format="PNG")
    return out.getvalue()


def _png_header_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(_PNG_SIGNATURE):
        for magic, name in _OTHER_FORMATS:
            if data.startswith(magic):
                raise SealImageError(
                    f"seal image is {name} file, not a PNG (renaming a file does not convert it)"
                )
        raise SealImageError("seal image is not a PNG file (no PNG signature)")
    # RFC 2083: the IHDR chunk comes first, 13 bytes of data starting with width and height.
    if len(data) < 33 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
        raise SealImageError("seal image is not a valid PNG: no IHDR header after the signature")
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        raise SealImageError("seal image is not a valid PNG: zero width or height")
    return width, height


def _check_dimensions(width: int, height: int) -> None:
    low, high = MIN_UPLOAD_PX, MAX_UPLOAD_PX
    if not (low <= width <= high and low <= height <= high):
        raise SealImageError(
            f"seal image is {width}x{height} px; each side must be {low}-{high} px"
        )
    if abs(width - height) > MAX_ASPECT_DIFFERENCE * max(width, height):
        raise SealImageError(
            f"seal image is {width}x{height} px; a seal must be square within "
            f"{MAX_ASPECT_DIFFERENCE:.0%}"
        )


def _decode(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
            # verify() checks the chunk CRCs without decoding; it leaves the object unusable.
            probe.verify()
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        if getattr(image, "is_animated", False):
            raise SealImageError("seal image is an animated PNG; a seal is one still image")
        image.load()
    except SealImageError:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        Image.DecompressionBombError,
    ) as exc:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise SealImageError(f"seal image is not a valid PNG ({detail})") from None
    return image


def _with_alpha(image: Image.Image) -> Image.Image:
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    if not has_alpha:
        raise SealImageError(
            f"seal image has no alpha channel (PNG mode {image.mode}); "
            "the paper around the stamp must be transparent"
        )
    try:
        return image.convert("RGBA")
    except ValueError:
        raise SealImageError(f"seal image PNG mode {image.mode} is not supported") from None


def _check_transparency(rgba: Image.Image) -> None:
    histogram = rgba.getchannel("A").histogram()
    pixels = rgba.width * rgba.height
    transparent = histogram[0]
    if transparent == pixels:
        raise SealImageError("seal image is blank: every pixel is fully transparent")
    if transparent < MIN_TRANSPARENT_FRACTION * pixels:
        raise SealImageError(
            f"seal image is opaque: {transparent / pixels:.1%} of its pixels are fully "
            f"transparent, at least {MIN_TRANSPARENT_FRACTION:.0%} must be"
        )
