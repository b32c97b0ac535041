"""The licence PDF, checked through poppler the way a reader's tools see it."""

from __future__ import annotations

import dataclasses
import datetime
import re
import subprocess
from pathlib import Path

import pytest

from seal_service.render import (
    MISSING_GLYPH_MARK,
    LicenceDocument,
    LicenceRenderer,
    PdfLicenceRenderer,
)
from tests.tools import require_tool
from verifier.errors import InputError

A4_PT = (595.28, 841.89)
BUSINESS_SCOPE = (
    "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发；"
    "信息系统集成服务；数据处理和存储支持服务（除依法须经批准的项目外，凭营业执照依法"
    "自主开展经营活动）。"
)


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
        fields=(("法定代表人", "张三丰"), ("经营范围", BUSINESS_SCOPE)),
    )
    return dataclasses.replace(document, **changes)  # type: ignore[arg-type]


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


def test_font_is_embedded_subset(licence_pdf: Path) -> None:
    out = run_tool("pdffonts", str(licence_pdf))
    rows = out.splitlines()[2:]
    assert rows, out
    for row in rows:
        # name type... encoding emb sub uni object ID: read from the right, since
        # the type column ("CID Type 0C") contains spaces.
        emb, sub, uni = row.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row
    assert any("NotoSerifSC" in row for row in rows), out


def test_single_a4_portrait_page_with_metadata(licence_pdf: Path) -> None:
    info = pdf_info(licence_pdf)
    assert info["Pages"] == "1"
    size = re.match(r"([\d.]+) x ([\d.]+) pts", info["Page size"])
    assert size is not None, info["Page size"]
    assert (float(size[1]), float(size[2])) == A4_PT
    assert info["Creator"] == "govtrust"
    assert "营业执照" in info["Title"]


def test_seal_box_is_42mm_square_over_the_issuer_lines(licence_pdf: Path) -> None:
    x1, y1, x2, y2 = PdfLicenceRenderer.seal_box
    side = 42 * 72 / 25.4
    assert x2 - x1 == pytest.approx(side, abs=0.1)
    assert y2 - y1 == pytest.approx(side, abs=0.1)
    assert 0 < x1 < x2 < A4_PT[0] and 0 < y1 < y2 < A4_PT[1] / 2

    # pdftotext -bbox measures from the top-left; the seal box from the bottom-left.
    out = run_tool("pdftotext", "-bbox", "-enc", "UTF-8", str(licence_pdf), "-")
    words = re.findall(
        r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', out
    )
    seal_top, seal_bottom = A4_PT[1] - y2, A4_PT[1] - y1
    covered = {
        word
        for wx1, wy1, wx2, wy2, word in words
        if float(wx1) < x2
        and float(wx2) > x1
        and float(wy1) < seal_bottom
        and float(wy2) > seal_top
    }
    assert covered == {"杭州市市场监督管理局", "2026年11月23日"}


def test_renderer_satisfies_protocol() -> None:
    renderer: LicenceRenderer = PdfLicenceRenderer()
    assert renderer.seal_box == PdfLicenceRenderer.seal_box
    assert renderer.render(make_document()).startswith(b"%PDF-")


def test_long_values_wrap_and_stay_on_one_page(tmp_path: Path) -> None:
    scope = BUSINESS_SCOPE * 6
    document = make_document(
        holder_name="张三丰" * 20,
        fields=(("经营范围", scope), ("备注", "X" * 400)),
    )
    path = write_pdf(tmp_path, document)
    info = pdf_info(path)
    assert info["Pages"] == "1"
    text = "".join(pdf_text(path).split())
    assert "张三丰" * 20 in text
    assert "X" * 400 in text
    assert "凭营业执照依法自主开展经营活动" in text


def test_content_that_cannot_fit_one_page_is_refused() -> None:
    document = make_document(fields=(("经营范围", BUSINESS_SCOPE * 40),))
    with pytest.raises(InputError, match="too long"):
        PdfLicenceRenderer().render(document)


def test_characters_missing_from_font_are_marked_not_dropped(tmp_path: Path) -> None:
    # U+20000 (CJK Ext. B) and an emoji are not in Noto Serif SC.
    document = make_document(holder_name="王\U00020000喆😀")
    path = write_pdf(tmp_path, document)
    text = pdf_text(path)
    assert f"王{MISSING_GLYPH_MARK}喆{MISSING_GLYPH_MARK}" in text


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
        {"licence_number": "N" * 65},
        {"valid_until": datetime.date(2020, 1, 1)},
        {"issuing_department": "局" * 41},
        {"title": "营业\n执照"},
    ],
)
def test_invalid_documents_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InputError) as caught:
        PdfLicenceRenderer().render(make_document(**changes))
    assert "\n" not in str(caught.value)
