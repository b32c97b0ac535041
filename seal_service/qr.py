"""QR codes for the licence page, as module runs ready to be drawn as vector rectangles.

zxing-cpp encodes (C++, ~2 ms for a 600-character payload); segno, pure Python, takes
~50 ms with its mask selection and ~14 ms without, which alone would exceed the
per-page budget. The same library decodes photographed codes in the verifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import zxingcpp

from verifier.errors import InputError

MAX_PAYLOAD_CHARS = 1200
ERROR_CORRECTION = "M"


@dataclass(frozen=True)
class QrCode:
    """A square of `size` modules (no quiet zone); `runs` are the dark ones, row by row."""

    size: int
    runs: tuple[tuple[int, int, int], ...]
    """(row, first column, length) of each horizontal run of dark modules."""

    def to_svg(self, quiet_zone: int = 4) -> str:
        """The code as an SVG image (one path, crisp at any size on a screen)."""
        side = self.size + 2 * quiet_zone
        path = "".join(
            f"M{column + quiet_zone} {row + quiet_zone}h{length}v1h-{length}z"
            for row, column, length in self.runs
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
            f'shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#fff"/>'
            f'<path d="{path}" fill="#000"/></svg>'
        )


def encode_qr(payload: str) -> QrCode:
    """The QR code of an ASCII payload at error correction level M."""
    if not payload or len(payload) > MAX_PAYLOAD_CHARS:
        raise InputError(f"QR payload must be 1 to {MAX_PAYLOAD_CHARS} characters")
    if not payload.isascii() or not payload.isprintable():
        raise InputError("QR payload must be printable ASCII")
    barcode = zxingcpp.create_barcode(
        payload, zxingcpp.BarcodeFormat.QRCode, ec_level=ERROR_CORRECTION
    )
    image = memoryview(barcode.to_image(scale=1, add_quiet_zones=False))
    size = image.shape[0] if image.shape else 0
    if image.ndim != 2 or image.shape != (size, size):
        raise RuntimeError(f"zxing-cpp returned a {image.shape} image, not a square")
    pixels = image.tobytes()
    if pixels.translate(None, b"\x00\xff"):
        raise RuntimeError("zxing-cpp returned grey pixels in a QR code image")
    runs = []
    for row in range(size):
        line = pixels[row * size : (row + 1) * size]
        start = line.find(0)
        while start >= 0:
            end = line.find(255, start)
            end = size if end < 0 else end
            runs.append((row, start, end - start))
            start = line.find(0, end)
    return QrCode(size=size, runs=tuple(runs))
