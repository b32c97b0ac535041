"""The licence font, read once per process and subset per document without fontTools.

fontTools' subsetter costs 40-50 ms per document even from a small pre-subset font,
most of it rebuilding and re-measuring CFF tables. Here each glyph's outline is
desubroutinised once (on first use) and kept as bytes; a document's subset is then
those bytes put together into a small CID-keyed CFF, which costs well under 1 ms.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pylopdf_fonts_zh_cn
from fontTools.cffLib import privateDictOperators
from fontTools.cffLib.transforms import desubroutinizeCharString
from fontTools.ttLib import TTFont

_PRIVATE_OPS: dict[str, tuple[bytes, bool]] = {
    name: (bytes(op) if isinstance(op, tuple) else bytes([op]), arg_type == "delta")
    for op, name, arg_type, *_ in privateDictOperators
}
# CFF operators (Adobe TN #5176): the Top DICT and Font DICT entries this writer sets.
_OP_ROS = b"\x0c\x1e"
_OP_CID_COUNT = b"\x0c\x22"
_OP_FONT_BBOX = b"\x05"
_OP_CHARSET = b"\x0f"
_OP_CHARSTRINGS = b"\x11"
_OP_FD_ARRAY = b"\x0c\x24"
_OP_FD_SELECT = b"\x0c\x25"
_OP_PRIVATE = b"\x12"
_FIRST_CUSTOM_SID = 391
# The geta mark, printed in place of a character the font lacks, so that a gap in a
# name is visible on the page instead of silently closed up.
MISSING_GLYPH_MARK = "〓"


@dataclass(frozen=True)
class FontMetrics:
    """Descriptor values for the PDF, in 1/1000 em."""

    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    cap_height: int
    stem_v: int


@dataclass(frozen=True)
class _Glyph:
    charstring: bytes
    fd: int


class CjkFont:
    """A CID-keyed OpenType/CFF font: metrics up front, outlines prepared on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Kept open: CharStrings are read lazily from the file.
        self._ttfont = TTFont(str(path), lazy=True)
        cff = self._ttfont["CFF "].cff
        top = cff.topDictIndex[0]
        if not hasattr(top, "ROS") or not hasattr(top, "FDArray"):
            raise ValueError(f"{path}: not a CID-keyed CFF font")
        if self._ttfont["head"].unitsPerEm != 1000:
            raise ValueError(f"{path}: unitsPerEm is not 1000")
        self.name: str = cff.fontNames[0]
        self._charstrings = top.CharStrings
        self._glyph_of: dict[int, str] = self._ttfont.getBestCmap()
        metrics = self._ttfont["hmtx"].metrics
        self._advance: dict[int, int] = {cp: metrics[g][0] for cp, g in self._glyph_of.items()}
        self._notdef_advance: int = metrics[".notdef"][0]
        self._privates: list[bytes] = [
            _private_dict(top.FDArray[i].Private.rawDict) for i in range(len(top.FDArray))
        ]
        os2 = self._ttfont["OS/2"]
        bbox = tuple(int(v) for v in top.FontBBox)
        self.metrics = FontMetrics(
            bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
            ascent=os2.sTypoAscender,
            descent=os2.sTypoDescender,
            cap_height=os2.sCapHeight,
            # Only a hint for a viewer that substitutes a font; the font itself is embedded.
            stem_v=80,
        )
        self._glyphs: dict[str, _Glyph] = {}
        self._lock = threading.Lock()

    def has(self, codepoint: int) -> bool:
        return codepoint in self._glyph_of

    def advance(self, codepoint: int) -> int:
        """Advance width in 1/1000 em (.notdef's for a character the font lacks)."""
        return self._advance.get(codepoint, self._notdef_advance)

    def text_width(self, text: str, size_pt: float) -> float:
        """Width of `text` in points at `size_pt`, no kerning (as printed)."""
        advance = self._advance
        notdef = self._notdef_advance
        return sum(advance.get(ord(ch), notdef) for ch in text) * size_pt / 1000

    def prepare(self, text: str) -> None:
        """Desubroutinise the outlines `text` needs now, not during the next render."""
        for ch in text:
            glyph = self._glyph_of.get(ord(ch))
            if glyph is not None:
                self._glyph(glyph)

    def subset_cff(self, codepoints: Sequence[int]) -> bytes:
        """A bare CID-keyed CFF whose CID i (1-based) draws codepoints[i - 1]; CID 0 is .notdef.

        Every codepoint gets its own CID, even when two share an outline, so that the
        ToUnicode map can name each one exactly.
        """
        glyphs = [self._glyph(".notdef")]
        glyphs += [self._glyph(self._glyph_of.get(cp, ".notdef")) for cp in codepoints]
        used_fds = sorted({g.fd for g in glyphs})
        fd_number = {fd: i for i, fd in enumerate(used_fds)}

        name_index = _index([self.name.encode("ascii")])
        string_index = _index([b"Adobe", b"Identity"])
        global_subrs = _index([])
        charset = b"\x02" + struct.pack(">HH", 1, len(glyphs) - 2) if len(glyphs) > 1 else b"\x00"
        fd_select = b"\x00" + bytes(fd_number[g.fd] for g in glyphs)
        charstrings = _index([g.charstring for g in glyphs])
        privates = [self._privates[fd] for fd in used_fds]

        def top_dict(charset_at: int, fd_select_at: int, charstrings_at: int, fds_at: int) -> bytes:
            return b"".join(
                (
                    _int(_FIRST_CUSTOM_SID) + _int(_FIRST_CUSTOM_SID + 1) + _int(0) + _OP_ROS,
                    _int(len(glyphs)) + _OP_CID_COUNT,
                    b"".join(_int(v) for v in self.metrics.bbox) + _OP_FONT_BBOX,
                    _fixed(charset_at) + _OP_CHARSET,
                    _fixed(charstrings_at) + _OP_CHARSTRINGS,
                    _fixed(fds_at) + _OP_FD_ARRAY,
                    _fixed(fd_select_at) + _OP_FD_SELECT,
                )
            )

        # Offsets are written as fixed 5-byte integers, so the sizes are known beforehand.
        head_size = 4 + len(name_index) + len(_index([top_dict(0, 0, 0, 0)]))
        charset_at = head_size + len(string_index) + len(global_subrs)
        fd_select_at = charset_at + len(charset)
        charstrings_at = fd_select_at + len(fd_select)
        fds_at = charstrings_at + len(charstrings)
        fds_size = len(_index([_fixed(0) + _fixed(0) + _OP_PRIVATE for _ in privates]))
        private_at = fds_at + fds_size
        font_dicts = []
        for private in privates:
            font_dicts.append(_fixed(len(private)) + _fixed(private_at) + _OP_PRIVATE)
            private_at += len(private)
        top_index = _index([top_dict(charset_at, fd_select_at, charstrings_at, fds_at)])
        return b"".join(
            (
                b"\x01\x00\x04\x04",
                name_index,
                top_index,
                string_index,
                global_subrs,
                charset,
                fd_select,
                charstrings,
                _index(font_dicts),
                *privates,
            )
        )

    def subset_tag(self, codepoints: Sequence[int]) -> str:
        """The six capital letters PDF puts before a subset font's name."""
        digest = hashlib.sha256(",".join(map(str, codepoints)).encode()).digest()
        return "".join(chr(ord("A") + b % 26) for b in digest[:6])

    def _glyph(self, name: str) -> _Glyph:
        glyph = self._glyphs.get(name)
        if glyph is not None:
            return glyph
        # fontTools decompiles lazily and caches in shared objects: one thread at a time.
        with self._lock:
            glyph = self._glyphs.get(name)
            if glyph is None:
                charstring, fd = self._charstrings.getItemAndSelector(name)
                desubroutinizeCharString(charstring)
                charstring.compile()
                glyph = self._glyphs[name] = _Glyph(bytes(charstring.bytecode), fd)
        return glyph


@cache
def licence_font() -> CjkFont:
    """Noto Serif SC, shared by every renderer in the process."""
    return CjkFont(Path(pylopdf_fonts_zh_cn.serif_path()))


def _int(value: int) -> bytes:
    if -107 <= value <= 107:
        return bytes([value + 139])
    if 108 <= value <= 1131:
        value -= 108
        return bytes([(value >> 8) + 247, value & 0xFF])
    if -1131 <= value <= -108:
        value = -value - 108
        return bytes([(value >> 8) + 251, value & 0xFF])
    if -32768 <= value <= 32767:
        return b"\x1c" + struct.pack(">h", value)
    return _fixed(value)


def _fixed(value: int) -> bytes:
    return b"\x1d" + struct.pack(">i", value)


def _real(value: float) -> bytes:
    nibbles = []
    text = f"{value:.8g}".upper().replace("E+", "E")
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("E-", i):
            nibbles.append(0xC)
            i += 1
        elif ch == "E":
            nibbles.append(0xB)
        elif ch == ".":
            nibbles.append(0xA)
        elif ch == "-":
            nibbles.append(0xE)
        else:
            nibbles.append(int(ch))
        i += 1
    nibbles.append(0xF)
    if len(nibbles) % 2:
        nibbles.append(0xF)
    return b"\x1e" + bytes(nibbles[j] << 4 | nibbles[j + 1] for j in range(0, len(nibbles), 2))


def _number(value: float) -> bytes:
    if isinstance(value, int) or float(value).is_integer():
        return _int(int(value))
    return _real(value)


def _private_dict(raw: dict[str, object]) -> bytes:
    """A Private DICT without local subroutines (every outline is desubroutinised)."""
    out = []
    for name, value in raw.items():
        if name == "Subrs":
            continue
        op, is_delta = _PRIVATE_OPS[name]
        if isinstance(value, list):
            previous = 0
            for item in value:
                out.append(_number(item - previous if is_delta else item))
                previous = item
        else:
            out.append(_number(value))  # type: ignore[arg-type]
        out.append(op)
    return b"".join(out)


def _index(items: Sequence[bytes]) -> bytes:
    if not items:
        return b"\x00\x00"
    end = 1 + sum(len(item) for item in items)
    size = 1 if end < 1 << 8 else 2 if end < 1 << 16 else 3 if end < 1 << 24 else 4
    offsets = [1]
    for item in items:
        offsets.append(offsets[-1] + len(item))
    return b"".join(
        (
            struct.pack(">HB", len(items), size),
            b"".join(offset.to_bytes(size, "big") for offset in offsets),
            *items,
        )
    )
