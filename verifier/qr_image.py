"""Reading a licence's QR code from a photo or scan (PNG or JPEG) into its credential text.

Images come from outside: the size is checked from the header before any pixel is
decoded, and exactly one QR code must be found.
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, UnidentifiedImageError

from verifier.errors import InputError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 48-megapixel phone photo downscaled once, or a 600 dpi A4 scan
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def looks_like_image(data: bytes) -> bool:
    return data.startswith(IMAGE_SIGNATURES)


def decode_qr_image(data: bytes) -> str:
    """The text of the one QR code in a PNG or JPEG image."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"image is larger than {MAX_IMAGE_BYTES} bytes")
    if not looks_like_image(data):
        raise InputError("image is neither PNG nor JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InputError(f"image has more than {MAX_PIXELS} pixels")
            grey = image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"image cannot be read ({type(exc).__name__})") from None
    except Image.DecompressionBombWarning:
        raise InputError(f"image has more than {MAX_PIXELS} pixels") from None
    codes = zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode)
    if not codes:
        raise InputError("no QR code found in the image")
    if len(codes) > 1:
        raise InputError(f"{len(codes)} QR codes found in the image; crop it to one")
    return codes[0].text
