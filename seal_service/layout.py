"""Drawing one licence page in the places its template gives: frames, heading, table,
issuer lines, QR code and footer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from seal_service.fonts import CjkFont
from seal_service.pdfpage import PT_PER_MM, Canvas, Rgb
from seal_service.qr import QrCode
from seal_service.templates import Template
from verifier.errors import InputError

# Line pitch 1.5 em, as mm per point of font size; Noto CJK's em box runs 0.88 em
# above the baseline and 0.12 em below it.
_LINE_MM_PER_PT = 1.5 / PT_PER_MM
_ASCENT_EM = 0.88
_CELL_PAD_MM_PER_PT = 0.18
_MIN_LABEL_EN_PT = 5.5
# Kept under 0.3 em so that text extraction (search, screen readers) still reads a
# letter-spaced title as one word.
_TITLE_SPACING_EM = (0.25, 0.08)
_TITLE_EN_SPACING_EM = 0.08
_NUMBER_SEPARATOR = "："
# Chinese typesetting starts no line with closing punctuation.
_NO_LINE_START = frozenset("，。、；：？！）》」』】〕〉”’,.;:?!)]}%")


@dataclass(frozen=True)
class TableRow:
    label: str
    label_en: str
    value: str


@dataclass(frozen=True)
class PageText:
    """What one page shows, every character already printable in the font."""

    number: str
    region: str
    rows: Sequence[TableRow]
    department: str
    date: str


@cache
def rgb(colour: str) -> Rgb:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def draw_page(canvas: Canvas, template: Template, text: PageText, qr: QrCode | None) -> None:
    _draw_frames(canvas, template)
    _draw_heading(canvas, template, text)
    _draw_table(canvas, template, text.rows)
    _draw_issuer(canvas, template, text)
    if qr is not None:
        _draw_qr(canvas, template, qr)
    footer = template.footer
    canvas.fill_colour(rgb(template.colours.muted))
    _centred(canvas, footer.text, footer.size_pt, footer.baseline_mm, template)


def qr_module_mm(template: Template, code: QrCode) -> float:
    spec = template.qr
    module = spec.size_mm / (code.size + 2 * spec.quiet_modules)
    if module < spec.min_module_mm:
        raise InputError(
            f"QR payload too long: {code.size} modules would print at {module:.2f} mm, "
            f"under the {spec.min_module_mm} mm minimum of the {template.licence_type} template"
        )
    return module


def wrap(font: CjkFont, text: str, size_pt: float, width_mm: float) -> list[str]:
    """Lines of at most `width_mm`: breaks between CJK characters or at spaces, and
    inside a Latin word only when the word alone is wider than the line."""
    limit = width_mm * PT_PER_MM * 1000 / size_pt
    advance = font.advance
    lines: list[str] = []
    for paragraph in text.split("\n"):
        start, width, space, i = 0, 0, -1, 0
        while i < len(paragraph):
            ch = paragraph[i]
            w = advance(ord(ch))
            if width + w > limit and i > start:
                if ch == " ":
                    lines.append(paragraph[start:i])
                    start, width, space, i = i + 1, 0, -1, i + 1
                    continue
                cut = i
                if _wordy(ch) and _wordy(paragraph[i - 1]) and space > start:
                    cut = space + 1
                elif ch in _NO_LINE_START and i - 1 > start:
                    cut = i - 1
                lines.append(paragraph[start:cut].rstrip(" "))
                start, space = cut, -1
                width = sum(advance(ord(c)) for c in paragraph[cut:i])
                continue
            if ch == " ":
                space = i
            width += w
            i += 1
        lines.append(paragraph[start:])
    return lines


def _wordy(ch: str) -> bool:
    return ch.isascii() and not ch.isspace()


def _fitting_size(canvas: Canvas, text: str, width_mm: float, size: float, least: float) -> float:
    natural = canvas.text_width(text, size)
    return size if natural <= width_mm else max(least, size * width_mm / natural)


def _centred(canvas: Canvas, text: str, size: float, baseline: float, t: Template) -> None:
    left, right = t.content.left_mm, t.content.right_mm
    size = _fitting_size(canvas, text, right - left, size, size * 0.6)
    canvas.text((left + right - canvas.text_width(text, size)) / 2, baseline, size, text)


def _spaced(
    canvas: Canvas, text: str, size: float, em: float, centre: float, baseline: float
) -> float:
    """Draws letter-spaced text centred on `centre`; returns its width in mm."""
    width = canvas.text_width(text, size) + (len(text) - 1) * em * size / PT_PER_MM
    canvas.text(centre - width / 2, baseline, size, text, spacing_pt=em * size)
    return width


def _draw_frames(canvas: Canvas, t: Template) -> None:
    canvas.stroke_colour(rgb(t.colours.accent))
    for frame in t.frames:
        canvas.line_width(frame.line_mm)
        inset = frame.inset_mm
        width, height = t.page.width_mm - 2 * inset, t.page.height_mm - 2 * inset
        canvas.rect(inset, inset, width, height, fill=False, stroke=True)


def _draw_heading(canvas: Canvas, t: Template, text: PageText) -> None:
    left, right = t.content.left_mm, t.content.right_mm
    centre, width = (left + right) / 2, right - left
    number_spec = t.number
    number = f"{number_spec.label}{_NUMBER_SEPARATOR}{text.number}"
    size = _fitting_size(
        canvas, number, number_spec.max_width_mm, number_spec.size_pt, number_spec.min_size_pt
    )
    canvas.fill_colour(rgb(t.colours.ink))
    canvas.text(right - canvas.text_width(number, size), number_spec.baseline_mm, size, number)

    heading = t.heading
    em = _TITLE_SPACING_EM[0] if len(t.title) <= 6 else _TITLE_SPACING_EM[1]
    size = heading.title_size_pt
    spaced = canvas.text_width(t.title, size) + (len(t.title) - 1) * em * size / PT_PER_MM
    if spaced > width - 10:
        size = max(12.0, size * (width - 10) / spaced)
    canvas.fill_colour(rgb(t.colours.accent))
    _spaced(canvas, t.title, size, em, centre, heading.title_baseline_mm)
    if t.title_en:
        size = _fitting_size(canvas, t.title_en, width * 0.8, heading.title_en_size_pt, 5)
        _spaced(
            canvas, t.title_en, size, _TITLE_EN_SPACING_EM, centre, heading.title_en_baseline_mm
        )
    if text.region:
        canvas.fill_colour(rgb(t.colours.muted))
        size = _fitting_size(canvas, text.region, width, heading.region_size_pt, 8)
        region_width = canvas.text_width(text.region, size)
        canvas.text(centre - region_width / 2, heading.region_baseline_mm, size, text.region)


@dataclass(frozen=True)
class _Cell:
    label: list[str]
    label_en: list[str]
    value: list[str]


def _draw_table(canvas: Canvas, t: Template, rows: Sequence[TableRow]) -> None:
    font, table = canvas.font, t.table
    left, label_w = t.content.left_mm, table.label_width_mm
    value_w = t.content.right_mm - left - label_w
    for size in table.font_sizes_pt:
        pad = size * _CELL_PAD_MM_PER_PT
        en_size = max(_MIN_LABEL_EN_PT, size * table.label_en_scale)
        line_h, en_line_h = size * _LINE_MM_PER_PT, en_size * _LINE_MM_PER_PT
        cells = [
            _Cell(
                wrap(font, row.label, size, label_w - 2 * pad),
                wrap(font, row.label_en, en_size, label_w - 2 * pad) if row.label_en else [],
                wrap(font, row.value, size, value_w - 2 * pad),
            )
            for row in rows
        ]
        heights = [
            2 * pad
            + max(len(c.label) * line_h + len(c.label_en) * en_line_h, len(c.value) * line_h)
            for c in cells
        ]
        if table.top_mm + sum(heights) <= table.bottom_limit_mm:
            break
    else:
        raise InputError("licence content is too long to fit on one page")

    ink, muted = rgb(t.colours.ink), rgb(t.colours.muted)
    canvas.stroke_colour(ink)
    canvas.fill_colour(rgb(t.colours.label_fill))
    canvas.line_width(0.25)
    y = table.top_mm
    for height in heights:
        canvas.rect(left, y, label_w, height, fill=True, stroke=True)
        canvas.rect(left + label_w, y, value_w, height, fill=False, stroke=True)
        y += height
    canvas.line_width(0.6)
    canvas.rect(left, table.top_mm, label_w + value_w, y - table.top_mm, fill=False, stroke=True)

    y = table.top_mm
    for cell, height in zip(cells, heights, strict=True):
        canvas.fill_colour(ink)
        line_y = _lines(canvas, cell.label, left + pad, y + pad, size, line_h)
        _lines(canvas, cell.value, left + label_w + pad, y + pad, size, line_h)
        if cell.label_en:
            canvas.fill_colour(muted)
            _lines(canvas, cell.label_en, left + pad, line_y, en_size, en_line_h)
        y += height


def _lines(
    canvas: Canvas, lines: list[str], left: float, top: float, size: float, line_h: float
) -> float:
    """Draws lines from `top` down; returns the top of the next line."""
    size_mm = size / PT_PER_MM
    offset = (line_h - size_mm) / 2 + _ASCENT_EM * size_mm
    for line in lines:
        canvas.text(left, top + offset, size, line)
        top += line_h
    return top


def _draw_issuer(canvas: Canvas, t: Template, text: PageText) -> None:
    issuer, right = t.issuer, t.content.right_mm
    centre = t.seal_slots[0].centre_mm[0]
    half = right - centre
    canvas.fill_colour(rgb(t.colours.ink))
    for line, baseline, size in (
        (text.department, issuer.department_baseline_mm, issuer.department_size_pt),
        (text.date, issuer.date_baseline_mm, issuer.date_size_pt),
    ):
        size = _fitting_size(canvas, line, issuer.max_width_mm, size, issuer.min_size_pt)
        width = canvas.text_width(line, size)
        # Centred under the seal when it fits, else flush with the content edge.
        x = centre - width / 2 if width <= 2 * half else right - width
        canvas.text(x, baseline, size, line)


def _draw_qr(canvas: Canvas, t: Template, code: QrCode) -> None:
    spec = t.qr
    module = qr_module_mm(t, code)
    quiet = spec.quiet_modules * module
    canvas.qr(code, spec.left_mm + quiet, spec.top_mm + quiet, module, rgb(t.colours.ink))
    if spec.caption:
        canvas.fill_colour(rgb(t.colours.muted))
        size = spec.caption_size_pt
        width = canvas.text_width(spec.caption, size)
        baseline = spec.top_mm + spec.size_mm + size / PT_PER_MM * 0.95
        canvas.text(spec.left_mm + (spec.size_mm - width) / 2, baseline, size, spec.caption)
