"""Licence documents rendered as a one-page A4 PDF, ready to be sealed."""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import pylopdf_fonts_zh_cn
from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos
from fpdf.fonts import TTFFont

from verifier.errors import InputError

_log = logging.getLogger(__name__)

PT_PER_MM = 72 / 25.4
PAGE_W_MM = 210.0
PAGE_H_MM = 297.0

FONT_FAMILY = "notoserifsc"
FOOTER_TEXT = (
    "本证照由 govtrust 电子印章签署，可离线验证 / Sealed electronically; verifiable offline"
)
# Single-line items: beyond these they no longer fit their place at the smallest size.
MAX_LICENCE_NUMBER_CHARS = 64
MAX_TITLE_CHARS = 30
MAX_DEPARTMENT_CHARS = 40
MAX_REGION_CHARS = 40
# The geta mark, printed in place of a character the font lacks, so that a gap in a
# name is visible on the page instead of silently closed up.
MISSING_GLYPH_MARK = "〓"

# Layout in millimetres from the top-left corner, as fpdf2 measures.
_CONTENT_LEFT = 25.0
_CONTENT_RIGHT = 185.0
_LABEL_W = 42.0
_TABLE_TOP = 66.0
_TABLE_BOTTOM_LIMIT = 200.0
_TABLE_FONT_SIZES = (12.0, 11.0, 10.0, 9.0, 8.0, 7.0)
_SEAL_SIDE = 42.0
_SEAL_CENTRE = (148.0, 232.0)
_DEPT_BASE_Y = 229.0
_DATE_BASE_Y = 239.0

_INK = (20, 20, 20)
_BORDER = (140, 28, 28)
_MUTED = (95, 95, 95)
_LABEL_FILL = (246, 241, 234)


def _mm_box_to_pt(
    left: float, top: float, right: float, bottom: float
) -> tuple[float, float, float, float]:
    return (
        round(left * PT_PER_MM, 2),
        round((PAGE_H_MM - bottom) * PT_PER_MM, 2),
        round(right * PT_PER_MM, 2),
        round((PAGE_H_MM - top) * PT_PER_MM, 2),
    )


SEAL_BOX = _mm_box_to_pt(
    _SEAL_CENTRE[0] - _SEAL_SIDE / 2,
    _SEAL_CENTRE[1] - _SEAL_SIDE / 2,
    _SEAL_CENTRE[0] + _SEAL_SIDE / 2,
    _SEAL_CENTRE[1] + _SEAL_SIDE / 2,
)


@dataclass(frozen=True)
class LicenceDocument:
    """What a licence page shows; the renderer prints values as given."""

    title: str
    licence_number: str
    holder_name: str
    holder_id_label: str
    holder_id_display: str
    issuing_department: str
    region_name: str
    issued_on: datetime.date
    valid_until: datetime.date | None
    fields: tuple[tuple[str, str], ...] = ()


class LicenceRenderer(Protocol):
    """Turns a licence into a document file with a known place for the visible seal."""

    seal_box: tuple[float, float, float, float]
    """Where the visible seal goes on page 1: PDF points, origin bottom-left (x1, y1, x2, y2)."""

    def render(self, document: LicenceDocument) -> bytes: ...


def _chinese_date(day: datetime.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _validate(document: LicenceDocument) -> None:
    required = {
        "holder_name": document.holder_name,
        "licence_number": document.licence_number,
        "title": document.title,
        "issuing_department": document.issuing_department,
    }
    for name, value in required.items():
        if not value.strip():
            raise InputError(f"licence {name} is empty")
    limits = (
        ("licence_number", document.licence_number, MAX_LICENCE_NUMBER_CHARS),
        ("title", document.title, MAX_TITLE_CHARS),
        ("issuing_department", document.issuing_department, MAX_DEPARTMENT_CHARS),
        ("region_name", document.region_name, MAX_REGION_CHARS),
    )
    for name, value, limit in limits:
        if len(value.strip()) > limit:
            raise InputError(f"licence {name} is longer than {limit} characters")
        if "\n" in value:
            raise InputError(f"licence {name} must be a single line")
    if document.valid_until is not None and document.valid_until < document.issued_on:
        raise InputError("licence valid_until is before issued_on")


def _printable(text: str, codepoints: Collection[int]) -> str:
    return "".join(ch if ch == "\n" or ord(ch) in codepoints else MISSING_GLYPH_MARK for ch in text)


def _printable_document(document: LicenceDocument, codepoints: Collection[int]) -> LicenceDocument:
    missing = {
        ch
        for text in (
            document.title,
            document.licence_number,
            document.holder_name,
            document.holder_id_label,
            document.holder_id_display,
            document.issuing_department,
            document.region_name,
            *(part for row in document.fields for part in row),
        )
        for ch in text
        if ch != "\n" and ord(ch) not in codepoints
    }
    if not missing:
        return document
    # Code points only: the text itself may be a citizen's name.
    _log.warning(
        "licence %s: font lacks %s; printed as %s",
        document.licence_number,
        ", ".join(sorted(f"U+{ord(ch):04X}" for ch in missing)),
        MISSING_GLYPH_MARK,
    )
    return dataclasses.replace(
        document,
        title=_printable(document.title, codepoints),
        licence_number=_printable(document.licence_number, codepoints),
        holder_name=_printable(document.holder_name, codepoints),
        holder_id_label=_printable(document.holder_id_label, codepoints),
        holder_id_display=_printable(document.holder_id_display, codepoints),
        issuing_department=_printable(document.issuing_department, codepoints),
        region_name=_printable(document.region_name, codepoints),
        fields=tuple(
            (_printable(label, codepoints), _printable(value, codepoints))
            for label, value in document.fields
        ),
    )


def _rows(document: LicenceDocument) -> list[tuple[str, str]]:
    valid = _chinese_date(document.valid_until) if document.valid_until else "长期"
    return [
        ("持证人", document.holder_name),
        (document.holder_id_label, document.holder_id_display),
        *document.fields,
        ("发证机关", document.issuing_department),
        ("发证日期", _chinese_date(document.issued_on)),
        ("有效期至", valid),
    ]


def _new_pdf() -> tuple[FPDF, Collection[int]]:
    """A blank A4 document with the Chinese font added, and the code points it covers."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0
    pdf.add_font(FONT_FAMILY, "", pylopdf_fonts_zh_cn.serif_path())
    font = pdf.fonts[FONT_FAMILY]
    if not isinstance(font, TTFFont):
        raise TypeError(f"fpdf2 loaded {FONT_FAMILY} as {type(font).__name__}, not TTFFont")
    return pdf, font.cmap.keys()


class PdfLicenceRenderer:
    """One A4 portrait page with an embedded, subset Noto Serif SC."""

    seal_box: tuple[float, float, float, float] = SEAL_BOX

    def render(self, document: LicenceDocument) -> bytes:
        _validate(document)
        pdf, codepoints = _new_pdf()
        document = _printable_document(document, codepoints)
        pdf.set_title(f"{document.title} {document.licence_number}")
        pdf.set_subject(document.title)
        pdf.set_author(document.issuing_department)
        pdf.set_creator("govtrust")
        pdf.set_lang("zh-CN")
        pdf.add_page()
        self._draw_border(pdf)
        self._draw_heading(pdf, document)
        self._draw_table(pdf, _rows(document))
        self._draw_issuer(pdf, document)
        self._draw_footer(pdf)
        return bytes(pdf.output())

    @staticmethod
    def _draw_border(pdf: FPDF) -> None:
        pdf.set_draw_color(*_BORDER)
        pdf.set_line_width(1.2)
        pdf.rect(10, 10, PAGE_W_MM - 20, PAGE_H_MM - 20)
        pdf.set_line_width(0.35)
        pdf.rect(13, 13, PAGE_W_MM - 26, PAGE_H_MM - 26)

    @staticmethod
    def _draw_heading(pdf: FPDF, document: LicenceDocument) -> None:
        width = _CONTENT_RIGHT - _CONTENT_LEFT
        pdf.set_text_color(*_INK)
        pdf.set_font(FONT_FAMILY, size=10)
        number = f"编号：{document.licence_number}"
        size = _fitting_size(pdf, number, width * 0.6, 10.0, 6.0)
        pdf.set_font(FONT_FAMILY, size=size)
        pdf.set_xy(_CONTENT_LEFT, 20)
        pdf.cell(width, 6, number, align=Align.R)

        title = document.title.strip()
        # Letter-spaced like a printed certificate, but under 0.3 em so that text
        # extraction (search, screen readers) still reads the title as one word.
        spacing_em = 0.25 if len(title) <= 6 else 0.08
        size = 34.0
        pdf.set_font(FONT_FAMILY, size=size)
        natural = pdf.get_string_width(title)
        spaced = natural + (len(title) - 1) * spacing_em * size / pdf.k
        if spaced > width - 10:
            size = max(12.0, size * (width - 10) / spaced)
            pdf.set_font(FONT_FAMILY, size=size)
            natural = pdf.get_string_width(title)
            spaced = natural + (len(title) - 1) * spacing_em * size / pdf.k
        pdf.set_text_color(*_BORDER)
        # fpdf2 writes the spacing straight into the Tc operator, i.e. in points.
        pdf.set_char_spacing(spacing_em * size)
        pdf.text(_CONTENT_LEFT + (width - spaced) / 2, 45, title)
        pdf.set_char_spacing(0)

        if document.region_name.strip():
            pdf.set_text_color(*_MUTED)
            pdf.set_font(FONT_FAMILY, size=12)
            pdf.set_xy(_CONTENT_LEFT, 52)
            pdf.multi_cell(width, 6, document.region_name, align=Align.C, wrapmode=WrapMode.CHAR)
        pdf.set_text_color(*_INK)

    @staticmethod
    def _draw_table(pdf: FPDF, rows: Sequence[tuple[str, str]]) -> None:
        value_w = _CONTENT_RIGHT - _CONTENT_LEFT - _LABEL_W
        for size in _TABLE_FONT_SIZES:
            pdf.set_font(FONT_FAMILY, size=size)
            line_h = size * 0.53
            pad = size * 0.18
            heights = [
                2 * pad
                + line_h
                * max(
                    _line_count(pdf, label, _LABEL_W - 2 * pad),
                    _line_count(pdf, value, value_w - 2 * pad),
                )
                for label, value in rows
            ]
            if _TABLE_TOP + sum(heights) <= _TABLE_BOTTOM_LIMIT:
                break
        else:
            raise InputError("licence content is too long to fit on one page")

        pdf.set_draw_color(*_INK)
        pdf.set_line_width(0.25)
        pdf.set_fill_color(*_LABEL_FILL)
        y = _TABLE_TOP
        for (label, value), height in zip(rows, heights, strict=True):
            pdf.rect(_CONTENT_LEFT, y, _LABEL_W, height, style="DF")
            pdf.rect(_CONTENT_LEFT + _LABEL_W, y, value_w, height)
            for text, left, cell_w in (
                (label, _CONTENT_LEFT, _LABEL_W),
                (value, _CONTENT_LEFT + _LABEL_W, value_w),
            ):
                pdf.set_xy(left + pad, y + pad)
                pdf.multi_cell(
                    cell_w - 2 * pad, line_h, text, align=Align.L, wrapmode=WrapMode.CHAR
                )
            y += height
        pdf.set_line_width(0.6)
        pdf.rect(_CONTENT_LEFT, _TABLE_TOP, _CONTENT_RIGHT - _CONTENT_LEFT, y - _TABLE_TOP)

    @staticmethod
    def _draw_issuer(pdf: FPDF, document: LicenceDocument) -> None:
        centre_x = _SEAL_CENTRE[0]
        # Centred under the seal when it fits, else flush with the content edge.
        half = _CONTENT_RIGHT - centre_x
        for text, base_y, size in (
            (document.issuing_department, _DEPT_BASE_Y, 14.0),
            (_chinese_date(document.issued_on), _DATE_BASE_Y, 13.0),
        ):
            size = _fitting_size(pdf, text, _CONTENT_RIGHT - _CONTENT_LEFT - 60, size, 8.0)
            pdf.set_font(FONT_FAMILY, size=size)
            width = pdf.get_string_width(text)
            left = centre_x - width / 2 if width <= 2 * half else _CONTENT_RIGHT - width
            pdf.text(left, base_y, text)

    @staticmethod
    def _draw_footer(pdf: FPDF) -> None:
        pdf.set_font(FONT_FAMILY, size=8)
        pdf.set_text_color(*_MUTED)
        pdf.set_xy(_CONTENT_LEFT, PAGE_H_MM - 24)
        pdf.cell(_CONTENT_RIGHT - _CONTENT_LEFT, 5, FOOTER_TEXT, align=Align.C)
        pdf.set_text_color(*_INK)


def _fitting_size(pdf: FPDF, text: str, width: float, size: float, min_size: float) -> float:
    pdf.set_font(FONT_FAMILY, size=size)
    natural = pdf.get_string_width(text)
    if natural <= width:
        return size
    return max(min_size, size * width / natural)


def _line_count(pdf: FPDF, text: str, width: float) -> int:
    lines = pdf.multi_cell(
        width,
        text=text,
        wrapmode=WrapMode.CHAR,
        dry_run=True,
        output="LINES",
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    return max(1, len(lines))
