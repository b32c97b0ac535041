"""The seal PNG, decoded and inspected pixel by pixel; uploaded seal images, checked."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib

import pytest
from PIL import Image, ImageChops, ImageDraw
from PIL.PngImagePlugin import PngInfo

from seal_service.seal_image import SealImageError, render_seal_image, validate_seal_image
from verifier.errors import InputError

DEPARTMENT = "杭州市市场监督管理局"


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def is_red(pixel: tuple[int, int, int, int]) -> bool:
    r, g, b, a = pixel
    return a > 200 and r > 180 and g < 80 and b < 80


def red_fraction(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    r, g, b, a = image.crop(box).split()
    # Per-channel masks of the is_red() thresholds, multiplied together (logical and).
    masks = [
        a.point(lambda v: 255 if v > 200 else 0),
        r.point(lambda v: 255 if v > 180 else 0),
        g.point(lambda v: 255 if v < 80 else 0),
        b.point(lambda v: 255 if v < 80 else 0),
    ]
    combined = masks[0]
    for mask in masks[1:]:
        combined = ImageChops.multiply(combined, mask)
    return combined.histogram()[255] / (combined.width * combined.height)


@pytest.fixture(scope="module")
def seal() -> Image.Image:
    return decode(render_seal_image(DEPARTMENT))


def test_png_is_rgba_of_requested_size(seal: Image.Image) -> None:
    assert seal.mode == "RGBA"
    assert seal.size == (600, 600)
    assert decode(render_seal_image(DEPARTMENT, size_px=300)).size == (300, 300)


def test_corners_are_transparent(seal: Image.Image) -> None:
    last = seal.width - 1
    for xy in ((0, 0), (last, 0), (0, last), (last, last), (30, 30)):
        assert seal.getpixel(xy)[3] == 0, xy


def test_centre_is_the_solid_red_star(seal: Image.Image) -> None:
    assert is_red(seal.getpixel((300, 300)))
    # The star's top point, and empty space beside it.
    assert is_red(seal.getpixel((300, 215)))
    assert seal.getpixel((250, 215))[3] == 0


def test_many_red_pixels(seal: Image.Image) -> None:
    assert red_fraction(seal, (0, 0, seal.width, seal.height)) > 0.12


def test_ring_is_closed(seal: Image.Image) -> None:
    # On the ring's radius at the four compass points, just inside the edge.
    for xy in ((300, 20), (300, 580), (20, 300), (580, 300)):
        assert is_red(seal.getpixel(xy)), xy


def test_name_runs_along_the_upper_arc_only(seal: Image.Image) -> None:
    # The text band (between ring and star) is inked above the centre, empty below.
    upper = red_fraction(seal, (200, 60, 400, 120))
    lower = red_fraction(seal, (200, 480, 400, 540))
    assert upper > 0.1
    assert lower == 0


def test_same_input_same_bytes() -> None:
    assert render_seal_image(DEPARTMENT) == render_seal_image(DEPARTMENT)
    assert render_seal_image(DEPARTMENT) != render_seal_image("杭州市公安局")


LONGEST_NAME = "浙江省杭州市西湖区人民政府行政审批服务管理办公室"


@pytest.mark.parametrize("name", ["局", "杭州市公安局", LONGEST_NAME])
def test_name_lengths_from_one_to_24(name: str) -> None:
    assert len(LONGEST_NAME) == 24
    image = decode(render_seal_image(name))
    assert is_red(image.getpixel((300, 300)))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("一" * 25, "at most 24"),
        ("杭州 公安局", "whitespace"),
        ("杭州\U00020000局", r"U\+20000"),
    ],
)
def test_unusable_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        render_seal_image(name)
    assert "\n" not in str(caught.value)


def test_unusable_size_is_refused() -> None:
    with pytest.raises(InputError, match="size"):
        render_seal_image(DEPARTMENT, size_px=10)


# --- uploaded seal images -------------------------------------------------------------------


def stamp(
    size: tuple[int, int] = (600, 600),
    *,
    background: tuple[int, int, int, int] = (255, 255, 255, 0),
    mode: str = "RGBA",
    **save: object,
) -> bytes:
    """A red disc on `background`, as PNG in `mode` (save options such as pnginfo passed on)."""
    image = Image.new("RGBA", size, background)
    ImageDraw.Draw(image).ellipse((10, 10, size[0] - 10, size[1] - 10), fill=(230, 0, 18, 255))
    if mode != "RGBA":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, format="PNG", **save)
    return out.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def handmade_png(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    """A PNG written byte by byte (correct CRCs), so the header can say anything."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def refused(data: bytes, message: str) -> None:
    with pytest.raises(SealImageError, match=message) as caught:
        validate_seal_image(data)
    assert "\n" not in str(caught.value)


def test_a_good_upload_is_normalised_and_its_metadata_dropped() -> None:
    info = PngInfo()
    info.add_text("Author", "someone@example.org")
    info.add_text("Comment", "C:\\Users\\clerk\\seal-final.png")
    upload = stamp(pnginfo=info, dpi=(300, 300))
    assert b"someone@example.org" in upload
    normalised = validate_seal_image(upload)
    assert b"someone@example.org" not in normalised and b"clerk" not in normalised
    image = decode(normalised)
    assert image.mode == "RGBA" and image.size == (600, 600)
    assert not {"Author", "Comment", "dpi"} & set(image.info)
    assert ImageChops.difference(image, decode(upload)).getbbox() is None  # same pixels


def test_palette_and_grey_uploads_with_a_transparent_colour_become_rgba() -> None:
    indexed = Image.new("P", (600, 600), 0)
    indexed.putpalette([255, 255, 255, 230, 0, 18])
    ImageDraw.Draw(indexed).ellipse((10, 10, 590, 590), fill=1)
    upload = io.BytesIO()
    indexed.save(upload, format="PNG", transparency=0)  # palette entry 0 (white) is clear
    palette = decode(validate_seal_image(upload.getvalue()))
    assert palette.mode == "RGBA"
    assert palette.getpixel((0, 0))[3] == 0
    assert is_red(palette.getpixel((300, 300)))
    grey_alpha = decode(validate_seal_image(stamp(mode="LA")))
    assert grey_alpha.mode == "RGBA" and grey_alpha.getpixel((0, 0))[3] == 0


def test_the_generated_seal_passes_the_upload_checks() -> None:
    assert decode(validate_seal_image(render_seal_image(DEPARTMENT))).size == (600, 600)


@pytest.mark.parametrize("size", [(200, 200), (2000, 2000), (600, 545)])
def test_sizes_at_the_limits_are_accepted(size: tuple[int, int]) -> None:
    assert decode(validate_seal_image(stamp(size))).size == size


def test_not_a_png_is_refused() -> None:
    refused(b"hello, I am a seal", "not a PNG")
    refused(b"", "not a PNG")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="5"/></svg>'
    refused(svg, "not a PNG")


def test_a_jpeg_renamed_to_png_is_refused() -> None:
    out = io.BytesIO()
    Image.open(io.BytesIO(stamp())).convert("RGB").save(out, format="JPEG")
    refused(out.getvalue(), "JPEG file, not a PNG")


def test_more_than_one_mib_is_refused() -> None:
    # Noise does not compress: 600x600 RGBA is 1.44 MB as PNG, an otherwise valid stamp.
    noise = Image.frombytes("RGBA", (600, 600), os.urandom(600 * 600 * 4))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    assert len(out.getvalue()) > 1024 * 1024
    refused(out.getvalue(), "at most 1048576")


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((199, 199), "each side must be 200-2000"),
        ((100, 100), "each side must be 200-2000"),
        ((2100, 1900), "each side must be 200-2000"),
        ((600, 400), "square within 10%"),
        ((600, 539), "square within 10%"),
    ],
)
def test_wrong_dimensions_are_refused(size: tuple[int, int], message: str) -> None:
    refused(stamp(size), message)


def test_no_alpha_channel_is_refused() -> None:
    refused(stamp(mode="RGB"), "no alpha channel")
    refused(stamp(mode="L"), "no alpha channel")


def test_an_opaque_image_is_refused() -> None:
    refused(stamp(background=(255, 255, 255, 255)), "opaque: 0.0%")
    # An alpha channel that is used only for a few pixels is no better.
    image = Image.open(io.BytesIO(stamp(background=(255, 255, 255, 255))))
    image.putpixel((0, 0), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    refused(out.getvalue(), "opaque")


def test_a_blank_image_is_refused() -> None:
    blank = io.BytesIO()
    Image.new("RGBA", (600, 600), (0, 0, 0, 0)).save(blank, format="PNG")
    refused(blank.getvalue(), "blank")


def test_a_header_declaring_too_many_pixels_is_refused_before_decoding() -> None:
    # 50000 x 50000 RGBA is 10 GB decoded; the file holds only a few bytes of pixel data.
    refused(handmade_png(50000, 50000, 8, 6, b"\x00" * 100), "decompression bomb")


def test_a_real_decompression_bomb_is_refused() -> None:
    # 20000 x 20000 pixels of 1-bit grey: 50 MB of zeros that zlib packs into ~50 KB, and
    # 1.6 GB once converted to RGBA. Every byte of it is valid PNG.
    raw = bytes(20000 * (1 + 20000 // 8))
    bomb = handmade_png(20000, 20000, 1, 0, raw)
    assert len(bomb) < 100_000
    started = time.monotonic()
    refused(bomb, "declares 20000x20000 pixels.*decompression bomb")
    assert time.monotonic() - started < 1.0  # refused from the header, nothing inflated


def test_a_corrupted_png_is_refused() -> None:
    good = stamp()
    broken = bytearray(good)
    broken[good.index(b"IDAT") + 20] ^= 0xFF
    refused(bytes(broken), "not a valid PNG")
    refused(good[: len(good) // 2], "not a valid PNG")
    # A valid header with pixel data too short for it.
    refused(handmade_png(600, 600, 8, 6, b"\x00" * 1000), "not a valid PNG")


def test_an_animated_png_is_refused() -> None:
    frames = [Image.open(io.BytesIO(stamp())), Image.new("RGBA", (600, 600), (0, 0, 0, 0))]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    refused(out.getvalue(), "animated")
