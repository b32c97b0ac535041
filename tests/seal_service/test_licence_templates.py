"""Licence templates are data: checked on load, with errors that name the file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from seal_service.templates import (
    TEMPLATE_DIR,
    TemplateError,
    load_template,
    load_template_file,
    template_names,
)


def shipped(name: str = "business-licence") -> dict[str, Any]:
    return json.loads((TEMPLATE_DIR / f"{name}.json").read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict[str, Any], name: str = "business-licence") -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_every_shipped_template_loads() -> None:
    assert template_names() == ("business-licence", "food-permit", "no-criminal-record")
    for name in template_names():
        template = load_template(name)
        assert template.licence_type == name
        assert load_template_file(TEMPLATE_DIR / f"{name}.json") == template


def test_a_copy_of_a_shipped_template_loads(tmp_path: Path) -> None:
    assert load_template_file(write(tmp_path, shipped())) == load_template("business-licence")


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "business-licence.json"
    path.write_text('{"licence_type": "business-licence",', encoding="utf-8")
    with pytest.raises(TemplateError, match=r"business-licence\.json: not valid UTF-8 JSON"):
        load_template_file(path)


def test_missing_file_names_the_type() -> None:
    with pytest.raises(TemplateError, match="no template for licence type 'driving-licence'"):
        load_template("driving-licence")
    with pytest.raises(TemplateError, match="not a licence type name"):
        load_template("../catalogue")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t.pop("qr"), r"qr: Field required"),
        (lambda t: t["seal_slots"][0].update(side_mm=-1), r"seal_slots\.0\.side_mm: .*greater"),
        (lambda t: t.update(seal_slots=[]), r"seal_slots: .*at least 1"),
        (lambda t: t["colours"].update(ink="red"), r"colours\.ink: .*pattern"),
        (lambda t: t["table"]["rows"][0].update(field="favourite_colour"), r"rows\.0\.field"),
        (
            lambda t: t["table"]["rows"][0].update(extra="nickname"),
            r"rows\.0: Value error, a row needs exactly one of",
        ),
        (lambda t: t.update(watermark="draft"), r"watermark: Extra inputs are not permitted"),
        (
            lambda t: t["qr"].update(left_mm=110, top_mm=215),
            r"qr overlaps seal_slots\[0\] \(issuer\)",
        ),
        (lambda t: t["qr"].update(top_mm=150), r"qr overlaps the table area"),
        (
            lambda t: t["seal_slots"][1].update(centre_mm=[140, 232]),
            r"seal_slots\[0\] \(issuer\) overlaps seal_slots\[1\] \(joint-approval\)",
        ),
        (lambda t: t["seal_slots"][0].update(centre_mm=[200, 232]), r"issuer\) is not inside"),
        (lambda t: t["table"].update(font_sizes_pt=[9, 12]), r"largest to smallest"),
        (lambda t: t.update(licence_type="food-permit"), r"does not match the file name"),
    ],
)
def test_broken_template_is_refused_with_file_and_problem(
    tmp_path: Path, change: Any, problem: str
) -> None:
    data = copy.deepcopy(shipped())
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(TemplateError, match=problem) as caught:
        load_template_file(path)
    assert str(caught.value).startswith(f"{path}: ")
