"""A one-page PDF writer: rectangles, text in one embedded subset CJK font, a QR code.

Just what a licence page needs, written directly: fpdf2 spent ~200-450 ms per page
parsing and subsetting the font. The output is a plain PDF 1.7 file with a
cross-reference table, which pyHanko extends with incremental updates when sealing.
"""

from __future__ import annotations

import datetime
import hashlib
import zlib
from collections.abc import Mapping

from seal_service.fonts import MISSING_GLYPH_MARK, CjkFont
from seal_service.qr import QrCode

PT_PER_MM = 72 / 25.4
FONT_RESOURCE = "F1"
# Measured per page: level 1 packs the content (mostly QR rectangles) to 8 KB in 0.4 ms,
# level 6 to 6 KB in 1.6 ms. A CFF subset is already dense (level 6 saves 15 % for
# ~1.9 ms), so it is stored as it is.
_CONTENT_ZLIB_LEVEL = 1
Rgb = tuple[int, int, int]
_MARK = ord(MISSING_GLYPH_MARK)


def _n(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _rgb(colour: Rgb) -> str:
    return " ".join(_n(c / 255) for c in colour)


class FontSubset:
    """The characters one document shows, numbered 1, 2, ... in order of first use."""

    def __init__(self, font: CjkFont) -> None:
        self.font = font
        self.codepoints: list[int] = []
        self._cid: dict[int, int] = {}

    def encode(self, text: str) -> str:
        """`text` as the hex string of its 2-byte CIDs (the font's Identity-H encoding)."""
        cids = self._cid
        has = self.font.has
        out = []
        for ch in text:
            cp = ord(ch) if has(ord(ch)) else _MARK
            cid = cids.get(cp)
            if cid is None:
                self.codepoints.append(cp)
                cid = cids[cp] = len(self.codepoints)
            out.append(f"{cid:04X}")
        return "".join(out)


class Canvas:
    """A page's content stream, placed in millimetres from the top-left corner."""

    def __init__(self, font: CjkFont, width_mm: float, height_mm: float) -> None:
        self.font = font
        self.subset = FontSubset(font)
        self.width_mm = width_mm
        self.height_mm = height_mm
        self._ops: list[str] = []
        self._spacing = 0.0

    def fill_colour(self, colour: Rgb) -> None:
        self._ops.append(f"{_rgb(colour)} rg")

    def stroke_colour(self, colour: Rgb) -> None:
        self._ops.append(f"{_rgb(colour)} RG")

    def line_width(self, mm: float) -> None:
        self._ops.append(f"{_n(mm * PT_PER_MM)} w")

    def rect(
        self, left: float, top: float, width: float, height: float, *, fill: bool, stroke: bool
    ) -> None:
        k = PT_PER_MM
        op = "B" if fill and stroke else "f" if fill else "S"
        x, y = _n(left * k), _n((self.height_mm - top - height) * k)
        self._ops.append(f"{x} {y} {_n(width * k)} {_n(height * k)} re {op}")

    def text_width(self, text: str, size_pt: float) -> float:
        """Width in millimetres."""
        return self.font.text_width(text, size_pt) / PT_PER_MM

    def text(
        self, left: float, baseline: float, size_pt: float, text: str, spacing_pt: float = 0
    ) -> None:
        if not text:
            return
        k = PT_PER_MM
        # Tc is graphics state and outlives ET: set it whenever it changes.
        spacing = ""
        if spacing_pt != self._spacing:
            spacing, self._spacing = f"{_n(spacing_pt)} Tc ", spacing_pt
        self._ops.append(
            f"BT /{FONT_RESOURCE} {_n(size_pt)} Tf {spacing}{_n(left * k)} "
            f"{_n((self.height_mm - baseline) * k)} Td <{self.subset.encode(text)}> Tj ET"
        )

    def qr(self, code: QrCode, left: float, top: float, module_mm: float, colour: Rgb) -> None:
        """All dark modules as one filled path, so that no seams show between them."""
        k = PT_PER_MM
        scale = module_mm * k
        ops = [
            f"q {_rgb(colour)} rg {_n(scale)} 0 0 {_n(-scale)} {_n(left * k)} "
            f"{_n((self.height_mm - top) * k)} cm"
        ]
        ops += [f"{column} {row} {length} 1 re" for row, column, length in code.runs]
        ops.append("f Q")
        self._ops.append("\n".join(ops))

    def content(self) -> bytes:
        return "\n".join(self._ops).encode("ascii")


def _text_string(text: str) -> str:
    return f"<FEFF{text.encode('utf-16-be').hex().upper()}>"


def _to_unicode(codepoints: list[int]) -> bytes:
    lines = [
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
        "1 begincodespacerange <0000> <FFFF> endcodespacerange",
    ]
    for start in range(0, len(codepoints), 100):
        block = codepoints[start : start + 100]
        lines.append(f"{len(block)} beginbfchar")
        lines += [
            f"<{cid:04X}> <{chr(cp).encode('utf-16-be').hex().upper()}>"
            for cid, cp in enumerate(block, start=start + 1)
        ]
        lines.append("endbfchar")
    lines.append("endcmap CMapName currentdict /CMap defineresource pop end end")
    return "\n".join(lines).encode("ascii")


def _widths(font: CjkFont, codepoints: list[int]) -> str:
    widths = " ".join(str(font.advance(cp)) for cp in codepoints)
    return f"[1 [{widths}]]" if codepoints else "[]"


def _stream(dictionary: str, data: bytes, level: int | None = _CONTENT_ZLIB_LEVEL) -> bytes:
    if level is not None:
        data = zlib.compress(data, level)
        dictionary += " /Filter /FlateDecode"
    head = f"<< {dictionary} /Length {len(data)} >>\nstream\n"
    return head.encode("ascii") + data + b"\nendstream"


def write_pdf(
    canvas: Canvas,
    metadata: Mapping[str, str],
    lang: str,
    attachments: Mapping[str, tuple[str, bytes]] | None = None,
) -> bytes:
    """The finished file: one page of `canvas`, its font subset embedded, the document
    information entries `metadata` (Title, Subject, Author), and `attachments` (file name
    -> (media type, bytes)) as embedded files associated with the document (PDF 2.0 /AF,
    relationship Data), so they sit inside whatever the certifying seal signs."""
    font, codepoints = canvas.font, canvas.subset.codepoints
    base_font = f"{font.subset_tag(codepoints)}+{font.name}"
    m = font.metrics
    k = PT_PER_MM
    media = f"[0 0 {canvas.width_mm * k:.2f} {canvas.height_mm * k:.2f}]"
    now = datetime.datetime.now(datetime.UTC).strftime("D:%Y%m%d%H%M%SZ")
    info = " ".join(f"/{key} {_text_string(value)}" for key, value in metadata.items())
    # Objects 1-9 are fixed; each attachment adds its stream and its file specification.
    attached = sorted((attachments or {}).items())
    specs = [11 + 2 * i for i in range(len(attached))]
    names = " ".join(
        f"{_text_string(name)} {n} 0 R" for (name, _), n in zip(attached, specs, strict=True)
    )
    refs = " ".join(f"{n} 0 R" for n in specs)
    extra = f" /Names << /EmbeddedFiles << /Names [{names}] >> >> /AF [{refs}]" if attached else ""
    objects: list[bytes] = [
        f"<< /Type /Catalog /Pages 2 0 R /Lang {_text_string(lang)}{extra} >>".encode(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox {media} /Contents 4 0 R "
            f"/Resources << /Font << /{FONT_RESOURCE} 5 0 R >> >> >>"
        ).encode(),
        _stream("", canvas.content()),
        (
            f"<< /Type /Font /Subtype /Type0 /BaseFont /{base_font} /Encoding /Identity-H "
            "/DescendantFonts [6 0 R] /ToUnicode 9 0 R >>"
        ).encode(),
        (
            f"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /{base_font} "
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/FontDescriptor 7 0 R /DW 1000 /W {_widths(font, codepoints)} >>"
        ).encode(),
        (
            f"<< /Type /FontDescriptor /FontName /{base_font} /Flags 6 "
            f"/FontBBox [{' '.join(map(str, m.bbox))}] /ItalicAngle 0 /Ascent {m.ascent} "
            f"/Descent {m.descent} /CapHeight {m.cap_height} /StemV {m.stem_v} "
            "/FontFile3 8 0 R >>"
        ).encode(),
        _stream("/Subtype /CIDFontType0C", font.subset_cff(codepoints), level=None),
        _stream("", _to_unicode(codepoints)),
    ]
    for (name, (media_type, data)), spec in zip(attached, specs, strict=True):
        subtype = media_type.replace("/", "#2F")
        objects.append(_stream(f"/Type /EmbeddedFile /Subtype /{subtype}", data))
        objects.append(
            (
                f"<< /Type /Filespec /F {_text_string(name)} /UF {_text_string(name)} "
                f"/EF << /F {spec - 1} 0 R >> /AFRelationship /Data >>"
            ).encode()
        )
    objects += [
        f"<< {info} /Creator (govtrust) /Producer (govtrust) /CreationDate ({now}) >>".encode(),
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    file_id = hashlib.md5(bytes(out), usedforsecurity=False).hexdigest().upper()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R "
        f"/ID [<{file_id}> <{file_id}>] >>\nstartxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(out)
