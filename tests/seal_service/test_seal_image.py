"""The seal PNG, decoded and inspected pixel by pixel."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from seal_service.seal_image import render_seal_image
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
