"""The licence PDF, checked through poppler the way a reader's tools see it."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from licence_registry.catalogue import load_catalogue
from seal_service.render import (
    MISSING_GLYPH_MARK,
    LicenceDocument,
    LicenceRenderer,
    PdfLicenceRenderer,
    seal_slots_of,
)
from seal_service.templates import load_template, template_names
from tests.tools import require_tool
from verifier.errors import InputError
from verifier.identifiers import LicenceIdentifier

A4_PT = (595.28, 841.89)
PT_PER_MM = 72 / 25.4
ISSUER_BOX = seal_slots_of("business-licence")[0].box
BUSINESS_SCOPE = (
    "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发；"
    "信息系统集成服务；数据处理和存储支持服务（除依法须经批准的项目外，凭营业执照依法"
    "自主开展经营活动）。"
)
HOLDERS = {
    "business-licence": ("张三丰科技有限公司", "统一社会信用代码", "91330100MA2CFXXX8K"),
    "food-permit": ("杭州味道餐饮管理有限公司", "统一社会信用代码", "91330106MA2H3K4L5P"),
    # U+4DAE (Ext. A) and U+20087 (Ext. B, outside the BMP) are in Noto Serif SC.
    "no-criminal-record": ("刘䶮\U00020087", "公民身份号码", "3301**********123X"),
}
EXTRA_FIELDS = {
    "business-licence": {"legal_representative": "张三丰", "business_scope": BUSINESS_SCOPE},
    "food-permit": {"business_items": "热食类食品制售；冷食类食品制售；自制饮品制售"},
    "no-criminal-record": {"purpose": "出国（境）留学"},
}


def jws_like(length: int) -> str:
    """An opaque compact-JWS-shaped ASCII string of exactly `length` characters."""
    body = base64.urlsafe_b64encode(hashlib.shake_256(b"licence").digest(length)).decode()
    header = "eyJhbGciOiJFUzI1NiJ9."
    return (header + body[: length - len(header) - 87] + "." + body[-86:])[:length]


def make_document(**changes: object) -> LicenceDocument:
    document = LicenceDocument(
        title="营业执照",
        licence_number="330100202611230001",
        holder_name="张三丰科技有限公司",
        holder_id_label="统一社会信用代码",
        holder_id_display="91330100MA2CFXXX8K",
        issuing_department="杭州市市场监督管理局",
        region_name="浙江省杭州市",
        issued_on=datetime.date(2026, 11, 23),
        valid_until=None,
        fields={"legal_representative": "张三丰", "business_scope": BUSINESS_SCOPE},
        licence_type="business-licence",
    )
    return dataclasses.replace(document, **changes)  # type: ignore[arg-type]


def document_of_type(name: str, **changes: object) -> LicenceDocument:
    kind = load_catalogue()[name]
    holder, id_label, id_display = HOLDERS[name]
    defaults: dict[str, object] = {
        "licence_type": name,
        "title": kind.title,
        "licence_number": f"{kind.type_code}-0001",
        "holder_name": holder,
        "holder_id_label": id_label,
        "holder_id_display": id_display,
        "fields": EXTRA_FIELDS[name],
    }
    return make_document(**(defaults | changes))


def write_pdf(tmp_path: Path, document: LicenceDocument, name: str = "licence.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(PdfLicenceRenderer().render(document))
    return path


def run_tool(tool: str, *args: str) -> str:
    completed = subprocess.run(
        [require_tool(tool), *args], capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout


def pdf_text(path: Path) -> str:
    return run_tool("pdftotext", "-enc", "UTF-8", str(path), "-")


def pdf_info(path: Path) -> dict[str, str]:
    out = run_tool("pdfinfo", "-enc", "UTF-8", str(path))
    return {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in out.splitlines())
    }


def pdf_words(path: Path) -> list[tuple[float, float, float, float, str]]:
    """Words with their boxes in PDF points, origin bottom-left like the seal slots."""
    out = run_tool("pdftotext", "-bbox", "-enc", "UTF-8", str(path), "-")
    words = re.findall(
        r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', out
    )
    return [
        (float(x1), A4_PT[1] - float(y2), float(x2), A4_PT[1] - float(y1), word)
        for x1, y1, x2, y2, word in words
    ]


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def assert_embedded_subset(path: Path) -> None:
    out = run_tool("pdffonts", str(path))
    rows = out.splitlines()[2:]
    assert rows, out
    for row in rows:
        # name type... encoding emb sub uni object ID: read from the right, since
        # the type column ("CID Type 0C") contains spaces.
        emb, sub, uni = row.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row
    assert any("NotoSerifSC" in row for row in rows), out


@pytest.fixture(scope="module")
def licence_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pdf(tmp_path_factory.mktemp("render"), make_document())


def test_text_layer_holds_holder_title_and_department(licence_pdf: Path) -> None:
    text = pdf_text(licence_pdf)
    assert "张三丰科技有限公司" in text
    assert "营业执照" in text
    assert "杭州市市场监督管理局" in text
    assert "91330100MA2CFXXX8K" in text
    assert "2026年11月23日" in text
    assert "长期" in text
    assert "可离线验证" in text
    assert "法定代表人" in text and "Legal representative" in text


def test_font_is_embedded_subset(licence_pdf: Path) -> None:
    assert_embedded_subset(licence_pdf)


def test_single_a4_portrait_page_with_metadata(licence_pdf: Path) -> None:
    info = pdf_info(licence_pdf)
    assert info["Pages"] == "1"
    size = re.match(r"([\d.]+) x ([\d.]+) pts", info["Page size"])
    assert size is not None, info["Page size"]
    assert (float(size[1]), float(size[2])) == A4_PT
    assert info["Creator"] == "govtrust"
    assert "营业执照" in info["Title"]


def test_seal_box_is_42mm_square_over_the_issuer_lines(licence_pdf: Path) -> None:
    x1, y1, x2, y2 = ISSUER_BOX
    side = 42 * 72 / 25.4
    assert x2 - x1 == pytest.approx(side, abs=0.1)
    assert y2 - y1 == pytest.approx(side, abs=0.1)
    assert 0 < x1 < x2 < A4_PT[0] and 0 < y1 < y2 < A4_PT[1] / 2

    covered = {word for *box, word in pdf_words(licence_pdf) if overlaps(box, ISSUER_BOX)}
    assert covered == {"杭州市市场监督管理局", "2026年11月23日"}


def test_renderer_satisfies_protocol() -> None:
    renderer: LicenceRenderer = PdfLicenceRenderer()
    assert renderer.render(make_document()).startswith(b"%PDF-")
    assert renderer.render_licence(make_document()).pdf.startswith(b"%PDF-")


@pytest.mark.parametrize("name", sorted(load_catalogue()))
def test_every_catalogue_type_renders(tmp_path: Path, name: str) -> None:
    document = document_of_type(name, qr_payload=jws_like(400))
    rendered = PdfLicenceRenderer().render_licence(document)
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(rendered.pdf)
    text = pdf_text(path)
    assert document.holder_name in text
    assert document.title in text
    assert document.licence_number in text
    assert document.holder_id_display in text
    for value in document.fields.values():
        assert value in "".join(text.split())
    assert_embedded_subset(path)
    assert pdf_info(path)["Pages"] == "1"
    assert len(rendered.pdf) < 120_000
    assert rendered.seal_slots == PdfLicenceRenderer().seal_slots(name)


def test_catalogue_and_templates_agree() -> None:
    catalogue = load_catalogue()
    assert set(template_names()) == set(catalogue)
    for name, kind in catalogue.items():
        template = load_template(name)
        assert template.title == kind.title
        assert template.seal_slots[0].name == "issuer"


def test_seal_slots_come_from_the_templates() -> None:
    renderer = PdfLicenceRenderer()
    slots = {name: renderer.seal_slots(name) for name in template_names()}
    assert [s.name for s in slots["business-licence"]] == ["issuer", "joint-approval"]
    assert [s.name for s in slots["food-permit"]] == ["issuer", "joint-approval"]
    assert [s.name for s in slots["no-criminal-record"]] == ["issuer"]
    # Every type puts the issuing department's seal in the same place.
    assert all(type_slots[0].box == ISSUER_BOX for type_slots in slots.values())
    issuer, co_seal = slots["business-licence"]
    assert not overlaps(issuer.box, co_seal.box)
    centre_x, centre_y = load_template("business-licence").seal_slots[1].centre_mm
    assert (co_seal.box[0] + co_seal.box[2]) / 2 == pytest.approx(centre_x * PT_PER_MM, abs=0.01)
    assert (co_seal.box[1] + co_seal.box[3]) / 2 == pytest.approx(
        A4_PT[1] - centre_y * PT_PER_MM, abs=0.01
    )
    rendered = renderer.render_licence(make_document())
    assert rendered.seal_boxes == (issuer.box, co_seal.box)


def test_type_without_licence_type_is_found_by_title() -> None:
    document = document_of_type("food-permit", licence_type=None)
    rendered = PdfLicenceRenderer().render_licence(document)
    assert len(rendered.seal_slots) == 2
    with pytest.raises(InputError, match="no licence template"):
        PdfLicenceRenderer().render(make_document(licence_type=None, title="驾驶证"))
    with pytest.raises(InputError, match="does not match"):
        PdfLicenceRenderer().render(make_document(licence_type="food-permit"))


def test_long_values_wrap_and_stay_on_one_page(tmp_path: Path) -> None:
    scope = BUSINESS_SCOPE * 6
    document = make_document(
        holder_name="张三丰" * 20,
        fields={"business_scope": scope, "remarks": "X" * 400},
    )
    path = write_pdf(tmp_path, document)
    info = pdf_info(path)
    assert info["Pages"] == "1"
    text = "".join(pdf_text(path).split())
    assert "张三丰" * 20 in text
    assert "X" * 400 in text
    assert "凭营业执照依法自主开展经营活动" in text
    table_left, table_right = 25 * PT_PER_MM, 185 * PT_PER_MM
    for x1, _, x2, _, word in pdf_words(path):
        assert table_left - 0.5 <= x1 and x2 <= table_right + 0.5, word


def test_content_that_cannot_fit_one_page_is_refused() -> None:
    document = make_document(fields={"business_scope": BUSINESS_SCOPE * 18})
    with pytest.raises(InputError, match="too long"):
        PdfLicenceRenderer().render(document)


def test_characters_missing_from_font_are_marked_not_dropped(tmp_path: Path) -> None:
    # U+20000 (CJK Ext. B) and an emoji are not in Noto Serif SC.
    document = make_document(holder_name="王\U00020000喆😀")
    path = write_pdf(tmp_path, document)
    text = pdf_text(path)
    assert f"王{MISSING_GLYPH_MARK}喆{MISSING_GLYPH_MARK}" in text


def test_rare_characters_in_the_font_print_as_themselves(tmp_path: Path) -> None:
    name = "刘䶮\U00020087堃燊"
    path = write_pdf(tmp_path, document_of_type("no-criminal-record", holder_name=name))
    assert name in pdf_text(path)


def test_expiry_date_is_printed(tmp_path: Path) -> None:
    path = write_pdf(tmp_path, make_document(valid_until=datetime.date(2031, 1, 5)))
    text = pdf_text(path)
    assert "2031年1月5日" in text
    assert "长期" not in text


@pytest.mark.parametrize(
    "changes",
    [
        {"holder_name": ""},
        {"holder_name": "  "},
        {"licence_number": ""},
        {"licence_number": "\t"},
        {"licence_number": "N" * 81},
        {"valid_until": datetime.date(2020, 1, 1)},
        {"issuing_department": "局" * 41},
        {"title": "营业\n执照"},
        {"fields": {"favourite_colour": "red"}},
        {"qr_payload": ""},
        {"qr_payload": "签名"},
        {"qr_payload": "A" * 1300},
    ],
)
def test_invalid_documents_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InputError) as caught:
        PdfLicenceRenderer().render(make_document(**changes))
    assert "\n" not in str(caught.value)


def decode_qr(path: Path, tmp_path: Path) -> list[zxingcpp.Barcode]:
    prefix = tmp_path / "page"
    run_tool("pdftoppm", "-r", "300", "-png", "-singlefile", str(path), str(prefix))
    with Image.open(f"{prefix}.png") as image:
        return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)


@pytest.mark.parametrize("length", [40, 600, 700])
def test_qr_code_decodes_from_the_printed_page(tmp_path: Path, length: int) -> None:
    payload = jws_like(length)
    path = write_pdf(tmp_path, make_document(qr_payload=payload))
    codes = decode_qr(path, tmp_path)
    assert [code.text for code in codes] == [payload]
    assert codes[0].ec_level == "M"

    # Inside the template's square, clear of every word but its own caption and of
    # the seal slots.
    spec = load_template("business-licence").qr
    left, top = spec.left_mm * PT_PER_MM, A4_PT[1] - spec.top_mm * PT_PER_MM
    square = (left, top - spec.size_mm * PT_PER_MM, left + spec.size_mm * PT_PER_MM, top)
    found = [(p.x / 300 * 72, A4_PT[1] - p.y / 300 * 72) for p in _corners(codes[0])]
    for x, y in found:
        assert square[0] < x < square[2] and square[1] < y < square[3]
    assert not [word for *box, word in pdf_words(path) if overlaps(box, square)]
    for slot in PdfLicenceRenderer().seal_slots("business-licence"):
        assert not overlaps(square, slot.box)


def _corners(code: zxingcpp.Barcode) -> list[zxingcpp.Point]:
    position = code.position
    return [position.top_left, position.top_right, position.bottom_left, position.bottom_right]


def test_qr_modules_print_at_least_0_4_mm(tmp_path: Path) -> None:
    path = write_pdf(tmp_path, make_document(qr_payload=jws_like(700)))
    (code,) = decode_qr(path, tmp_path)
    modules = 17 + 4 * int(code.extra["Version"])
    xs = [point.x for point in _corners(code)]
    module_mm = (max(xs) - min(xs)) / 300 * 25.4 / modules
    assert module_mm >= 0.4 * 0.98, (module_mm, code.extra)


def test_without_payload_the_qr_area_stays_blank(tmp_path: Path) -> None:
    path = write_pdf(tmp_path, make_document(qr_payload=None))
    assert decode_qr(path, tmp_path) == []
    assert "Scan to verify" not in pdf_text(path)


def test_payload_too_long_for_the_qr_area_is_refused() -> None:
    with pytest.raises(InputError, match=r"QR payload too long.*0\.4 mm"):
        PdfLicenceRenderer().render(make_document(qr_payload=jws_like(1100)))


def test_a_licence_number_with_a_long_serial_fits(tmp_path: Path) -> None:
    """Identifiers are 62 characters plus the serial: department serial 9,999,999,999 too."""
    number = str(
        LicenceIdentifier.build("11100000000013573W001", "113300003300010149", 9_999_999_999, 1)
    )
    assert len(number) == 72
    path = tmp_path / "long.pdf"
    path.write_bytes(PdfLicenceRenderer().render(make_document(licence_number=number)))
    assert number in pdf_text(path).replace("\n", "")
