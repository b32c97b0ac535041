"""Licence page layouts as data: one JSON file per licence type in seal_service/templates/.

Lengths are millimetres from the page's top-left corner, font sizes points. Loading
checks the file's shape and its geometry (everything on the page, the QR code and the
seal positions clear of the text and of each other) and names the file in any error.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TEMPLATE_DIR = Path(__file__).with_name("templates")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")

Mm = Annotated[float, Field(ge=0, le=2000)]
Pt = Annotated[float, Field(gt=0, le=200)]
Colour = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
DocumentField = Literal[
    "holder_name",
    "holder_id_display",
    "issuing_department",
    "region_name",
    "licence_number",
    "issued_on",
    "valid_until",
]
Box = tuple[float, float, float, float]
"""(left, top, right, bottom) in millimetres from the top-left corner."""


class TemplateError(ValueError):
    """A template file is missing, malformed or describes an impossible page."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Page(_Model):
    width_mm: Annotated[float, Field(gt=50, le=2000)]
    height_mm: Annotated[float, Field(gt=50, le=2000)]


class Colours(_Model):
    ink: Colour
    accent: Colour
    muted: Colour
    label_fill: Colour


class Frame(_Model):
    inset_mm: Mm
    line_mm: Annotated[float, Field(gt=0, le=10)]


class Content(_Model):
    left_mm: Mm
    right_mm: Mm


class Number(_Model):
    label: Text
    baseline_mm: Mm
    size_pt: Pt
    min_size_pt: Pt
    max_width_mm: Mm


class Heading(_Model):
    title_baseline_mm: Mm
    title_size_pt: Pt
    title_en_baseline_mm: Mm
    title_en_size_pt: Pt
    region_baseline_mm: Mm
    region_size_pt: Pt


class Row(_Model):
    """One table row; its value is a document field, an extra field or fixed text."""

    label: Text
    label_en: str = ""
    field: DocumentField | None = None
    extra: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] | None = None
    text: Text | None = None
    required: bool = False
    if_empty: Text | None = None
    # The document's own label (e.g. the holder ID's kind) replaces `label` when it differs.
    label_field: Literal["holder_id_label"] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Row:
        sources = [s for s in (self.field, self.extra, self.text) if s is not None]
        if len(sources) != 1:
            raise ValueError("a row needs exactly one of 'field', 'extra' and 'text'")
        if self.required and self.extra is None:
            raise ValueError("'required' applies to 'extra' rows only")
        return self


class Table(_Model):
    top_mm: Mm
    bottom_limit_mm: Mm
    label_width_mm: Annotated[float, Field(gt=10)]
    font_sizes_pt: Annotated[tuple[Pt, ...], Field(min_length=1)]
    label_en_scale: Annotated[float, Field(gt=0.3, le=1)]
    rows: Annotated[tuple[Row, ...], Field(min_length=1, max_length=30)]


class Issuer(_Model):
    """The issuing department and date, centred under the first seal slot."""

    department_baseline_mm: Mm
    department_size_pt: Pt
    date_baseline_mm: Mm
    date_size_pt: Pt
    min_size_pt: Pt
    max_width_mm: Mm


class SealSlotSpec(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
    purpose: Text
    centre_mm: tuple[Mm, Mm]
    side_mm: Annotated[float, Field(gt=10, le=100)]

    @property
    def box_mm(self) -> Box:
        x, y = self.centre_mm
        half = self.side_mm / 2
        return (x - half, y - half, x + half, y + half)


class Qr(_Model):
    """The square the QR code, quiet zone included, must fit in."""

    left_mm: Mm
    top_mm: Mm
    size_mm: Annotated[float, Field(gt=10, le=200)]
    min_module_mm: Annotated[float, Field(ge=0.25, le=5)]
    quiet_modules: Annotated[int, Field(ge=2, le=10)]
    caption: str = ""
    caption_size_pt: Pt = 8

    @property
    def box_mm(self) -> Box:
        return (self.left_mm, self.top_mm, self.left_mm + self.size_mm, self.top_mm + self.size_mm)


class Footer(_Model):
    text: Text
    baseline_mm: Mm
    size_pt: Pt


class Template(_Model):
    comment: str = Field("", alias="$comment")
    licence_type: Annotated[str, Field(pattern=_NAME.pattern)]
    title: Annotated[str, Field(min_length=1, max_length=30)]
    title_en: str
    page: Page
    colours: Colours
    frames: tuple[Frame, ...] = ()
    content: Content
    number: Number
    heading: Heading
    table: Table
    issuer: Issuer
    seal_slots: Annotated[tuple[SealSlotSpec, ...], Field(min_length=1, max_length=8)]
    qr: Qr
    footer: Footer

    def extra_keys(self) -> frozenset[str]:
        return frozenset(row.extra for row in self.table.rows if row.extra is not None)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _geometry_problems(t: Template) -> list[str]:
    width, height = t.page.width_mm, t.page.height_mm
    left, right = t.content.left_mm, t.content.right_mm
    problems = []
    if not 0 <= left < right <= width:
        problems.append("content: need 0 <= left_mm < right_mm <= page width")
    if not t.table.top_mm < t.table.bottom_limit_mm <= height:
        problems.append("table: need top_mm < bottom_limit_mm <= page height")
    if t.table.label_width_mm > (right - left) / 2:
        problems.append("table: label_width_mm is more than half the content width")
    if list(t.table.font_sizes_pt) != sorted(t.table.font_sizes_pt, reverse=True):
        problems.append("table: font_sizes_pt must run from largest to smallest")
    extras = [row.extra for row in t.table.rows if row.extra is not None]
    if len(extras) != len(set(extras)):
        problems.append("table: an 'extra' field appears in two rows")
    page: Box = (0, 0, width, height)
    table: Box = (left, t.table.top_mm, right, t.table.bottom_limit_mm)
    issuer_top = t.issuer.department_baseline_mm - t.issuer.department_size_pt * 0.353
    issuer: Box = (right - t.issuer.max_width_mm, issuer_top, right, t.issuer.date_baseline_mm + 2)
    footer_top = t.footer.baseline_mm - t.footer.size_pt * 0.353
    footer: Box = (left, footer_top, right, t.footer.baseline_mm + 1.5)
    qr = t.qr.box_mm
    # The caption sits under the code, inside the quiet zone's bottom edge and below it.
    qr_area: Box = (
        qr[0],
        qr[1],
        qr[2],
        qr[3] + (t.qr.caption_size_pt * 0.6 if t.qr.caption else 0),
    )
    boxes: list[tuple[str, Box]] = [("qr", qr_area)]
    boxes += [(f"seal_slots[{i}] ({s.name})", s.box_mm) for i, s in enumerate(t.seal_slots)]
    names = [s.name for s in t.seal_slots]
    if len(names) != len(set(names)):
        problems.append("seal_slots: two slots have the same name")
    for name, box in boxes:
        if not all(page[0] <= box[i] <= page[2] for i in (0, 2)) or not all(
            page[1] <= box[i] <= page[3] for i in (1, 3)
        ):
            problems.append(f"{name} is not inside the page")
        if _overlap(box, table):
            problems.append(f"{name} overlaps the table area")
        if _overlap(box, footer):
            problems.append(f"{name} overlaps the footer")
    if _overlap(qr_area, issuer):
        problems.append("qr overlaps the issuer lines")
    for i, (name, box) in enumerate(boxes):
        problems += [f"{name} overlaps {other}" for other, b in boxes[i + 1 :] if _overlap(box, b)]
    return problems


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def load_template_file(path: Path) -> Template:
    """Read and check one template file; every problem is a TemplateError naming the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"{path}: not valid UTF-8 JSON: {exc}") from exc
    try:
        template = Template.model_validate(raw)
    except ValidationError as exc:
        raise TemplateError(f"{path}: {_describe(exc)}") from exc
    problems = _geometry_problems(template)
    if template.licence_type != path.stem:
        problems.insert(0, f"licence_type {template.licence_type!r} does not match the file name")
    if problems:
        raise TemplateError(f"{path}: {'; '.join(problems)}")
    return template


@cache
def load_template(licence_type: str) -> Template:
    """The checked template of a catalogue licence type, read once per process."""
    if not _NAME.match(licence_type):
        raise TemplateError(f"{licence_type!r} is not a licence type name")
    path = TEMPLATE_DIR / f"{licence_type}.json"
    if not path.is_file():
        raise TemplateError(f"{path}: no template for licence type {licence_type!r}")
    return load_template_file(path)


def template_names() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in TEMPLATE_DIR.glob("*.json")))
