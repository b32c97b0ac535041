"""Licence documents rendered as a one-page PDF, ready to be sealed.

The page layout, its rows and its seal positions come from the licence type's template
(seal_service/templates/*.json). The font is read once per process and each document
embeds a subset of it; a warm renderer takes a few milliseconds per page.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

from seal_service.fonts import MISSING_GLYPH_MARK, CjkFont, licence_font
from seal_service.layout import PageText, TableRow, draw_page, qr_module_mm
from seal_service.pdfpage import PT_PER_MM, Canvas, write_pdf
from seal_service.qr import encode_qr
from seal_service.templates import Row, Template, load_template, template_names
from verifier.errors import InputError
from verifier.licence_pdf import CREDENTIAL_ATTACHMENT, CREDENTIAL_MEDIA_TYPE

__all__ = [
    "MISSING_GLYPH_MARK",
    "LicenceDocument",
    "LicenceRenderer",
    "PdfLicenceRenderer",
    "RenderedLicence",
    "SealSlot",
    "seal_slots_of",
]

_log = logging.getLogger(__name__)

# Single-line items: beyond these they no longer fit their place at the smallest size.
# 62 characters plus the serial: room for serials of up to 18 digits.
MAX_LICENCE_NUMBER_CHARS = 80
MAX_TITLE_CHARS = 30
MAX_DEPARTMENT_CHARS = 40
MAX_REGION_CHARS = 40
MAX_FIELD_CHARS = 2000
PERMANENT = "长期"

Box = tuple[float, float, float, float]


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
    fields: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Type-specific values, keyed by the template's `extra` names (e.g. business_scope)."""
    qr_payload: str | None = None
    """Printed as a QR code (ASCII, e.g. a compact JWS); None leaves its place blank."""
    licence_type: str | None = None
    """The catalogue name (business-licence, ...) that picks the template. None picks
    the template whose title is `title`."""


@dataclass(frozen=True)
class SealSlot:
    """A place for one visible seal on page 1."""

    name: str
    purpose: str
    box: Box
    """PDF points, origin bottom-left (x1, y1, x2, y2)."""


@dataclass(frozen=True)
class RenderedLicence:
    pdf: bytes
    seal_slots: tuple[SealSlot, ...]
    """The first for the issuing department, any others for co-sealing departments."""

    @property
    def seal_boxes(self) -> tuple[Box, ...]:
        return tuple(slot.box for slot in self.seal_slots)


class LicenceRenderer(Protocol):
    """Turns a licence into a document file with known places for the visible seals."""

    def render(self, document: LicenceDocument) -> bytes: ...

    def render_licence(self, document: LicenceDocument) -> RenderedLicence: ...


def template_seal_slots(template: Template) -> tuple[SealSlot, ...]:
    height, k = template.page.height_mm, PT_PER_MM
    slots = []
    for slot in template.seal_slots:
        left, top, right, bottom = slot.box_mm
        box = (
            round(left * k, 2),
            round((height - bottom) * k, 2),
            round(right * k, 2),
            round((height - top) * k, 2),
        )
        slots.append(SealSlot(slot.name, slot.purpose, box))
    return tuple(slots)


@cache
def seal_slots_of(licence_type: str) -> tuple[SealSlot, ...]:
    """The seal positions of a licence type's page, the issuing department's first."""
    return template_seal_slots(load_template(licence_type))


@cache
def _template_by_title() -> dict[str, str]:
    return {load_template(name).title: name for name in template_names()}


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
    for key, value in document.fields.items():
        if len(value) > MAX_FIELD_CHARS:
            raise InputError(f"licence field {key!r} is longer than {MAX_FIELD_CHARS} characters")
    if document.valid_until is not None and document.valid_until < document.issued_on:
        raise InputError("licence valid_until is before issued_on")


def _value(row: Row, document: LicenceDocument) -> str | None:
    if row.text is not None:
        return row.text
    if row.extra is not None:
        value = document.fields.get(row.extra, "").strip()
        if not value and row.required:
            raise InputError(f"licence field {row.extra!r} is required")
        return value or None
    value = getattr(document, row.field or "")
    if isinstance(value, datetime.date):
        return _chinese_date(value)
    if value is None or not str(value).strip():
        return row.if_empty
    return str(value)


class PdfLicenceRenderer:
    """A4 pages from the licence type's template, with an embedded subset Noto Serif SC."""

    def __init__(self, font: CjkFont | None = None) -> None:
        self._font = font or licence_font()

    def template_for(self, document: LicenceDocument) -> Template:
        name = document.licence_type or _template_by_title().get(document.title.strip())
        if name is None:
            raise InputError("no licence template has this licence title")
        template = load_template(name)
        if document.title.strip() != template.title:
            raise InputError(f"licence title does not match the {name} template's title")
        return template

    def seal_slots(self, licence_type: str) -> tuple[SealSlot, ...]:
        return seal_slots_of(licence_type)

    def prepare(self, licence_type: str) -> None:
        """Load the template and its fixed text's outlines ahead of the first render."""
        t = load_template(licence_type)
        rows = "".join(
            f"{r.label}{r.label_en}{r.text or ''}{r.if_empty or ''}" for r in t.table.rows
        )
        self._font.prepare(
            t.title + t.title_en + t.number.label + rows + t.qr.caption + t.footer.text
        )

    def render(self, document: LicenceDocument) -> bytes:
        return self.render_licence(document).pdf

    def render_licence(self, document: LicenceDocument) -> RenderedLicence:
        _validate(document)
        template = self.template_for(document)
        unknown = set(document.fields) - template.extra_keys()
        if unknown:
            raise InputError(
                f"the {template.licence_type} template has no field(s) {', '.join(sorted(unknown))}"
            )
        qr = None
        if document.qr_payload is not None:
            qr = encode_qr(document.qr_payload)
            qr_module_mm(template, qr)
        rows = []
        for row in template.table.rows:
            value = _value(row, document)
            if value is None:
                continue
            label, label_en = row.label, row.label_en
            if row.label_field is not None:
                own = getattr(document, row.label_field).strip()
                if own and own != label:
                    # The template's English names its own label, not the document's.
                    label, label_en = own, ""
            rows.append(TableRow(label, label_en, value))
        text = self._printable(
            document.licence_number,
            PageText(
                number=document.licence_number.strip(),
                region=document.region_name.strip(),
                rows=rows,
                department=document.issuing_department.strip(),
                date=_chinese_date(document.issued_on),
            ),
        )
        canvas = Canvas(self._font, template.page.width_mm, template.page.height_mm)
        draw_page(canvas, template, text, qr)
        info = {
            "Title": f"{template.title} {text.number}",
            "Subject": template.title,
            "Author": text.department,
        }
        attachments = (
            {CREDENTIAL_ATTACHMENT: (CREDENTIAL_MEDIA_TYPE, document.qr_payload.encode("ascii"))}
            if document.qr_payload is not None
            else None
        )
        pdf = write_pdf(canvas, info, lang="zh-CN", attachments=attachments)
        return RenderedLicence(pdf, seal_slots_of(template.licence_type))

    def _printable(self, number: str, text: PageText) -> PageText:
        """`text` with each character the font lacks replaced by MISSING_GLYPH_MARK."""
        has = self._font.has
        parts = [text.number, text.region, text.department]
        parts += [part for row in text.rows for part in (row.label, row.label_en, row.value)]
        missing = {ch for part in parts for ch in part if ch != "\n" and not has(ord(ch))}
        if not missing:
            return text
        # Code points only: the text itself may be a citizen's name.
        _log.warning(
            "licence %s: font lacks %s; printed as %s",
            number.encode("ascii", "replace").decode(),
            ", ".join(sorted(f"U+{ord(ch):04X}" for ch in missing)),
            MISSING_GLYPH_MARK,
        )

        def fix(part: str) -> str:
            return "".join(MISSING_GLYPH_MARK if ch in missing else ch for ch in part)

        return PageText(
            number=fix(text.number),
            region=fix(text.region),
            rows=[TableRow(fix(r.label), fix(r.label_en), fix(r.value)) for r in text.rows],
            department=fix(text.department),
            date=text.date,
        )
