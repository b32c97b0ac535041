"""The licence catalogue is data: types, their issuing department, and where they are issued."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from licence_registry.catalogue import licence_type, load_catalogue, region_catalogue
from licence_registry.errors import RegistryError

ENTRY = {
    "title": "渔业捕捞许可证",
    "title_en": "Fishing licence",
    "defining_authority": "农业农村部 (dev code)",
    "defining_authority_uscc": "11100000000013573W",
    "type_number": "009",
    "department": "amr",
    "holder_id_types": ["111"],
    "validity_years": 5,
}


def write(tmp_path: Path, entries: dict[str, object]) -> Path:
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_type_issued_only_in_some_regions(tmp_path: Path) -> None:
    catalogue = load_catalogue(
        write(tmp_path, {"fishing": {**ENTRY, "regions": ["330000"]}, "any": ENTRY})
    )
    assert licence_type("fishing", "330000", catalogue=catalogue).name == "fishing"
    with pytest.raises(RegistryError, match="region 440000 does not issue 'fishing'"):
        licence_type("fishing", "440000", catalogue=catalogue)
    assert [t.name for t in region_catalogue("440000", catalogue=catalogue)] == ["any"]
    assert [t.name for t in region_catalogue("330000", catalogue=catalogue)] == ["any", "fishing"]


@pytest.mark.parametrize("regions", [[], ["33"], "330000", [330000]])
def test_a_malformed_region_list_is_refused(tmp_path: Path, regions: object) -> None:
    with pytest.raises(ValueError, match="regions"):
        load_catalogue(write(tmp_path, {"fishing": {**ENTRY, "regions": regions}}))


def test_the_shipped_catalogue_is_issued_everywhere() -> None:
    for region in ("330000", "440000"):
        names = {t.name for t in region_catalogue(region)}
        assert names == {"business-licence", "food-permit", "no-criminal-record"}
