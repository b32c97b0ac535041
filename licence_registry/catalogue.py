"""Licence types, defined as data (catalogue.json), not code.

An entry may name the regions that issue it (`"regions": ["330000"]`); without that list
every region does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from licence_registry.errors import RegistryError
from verifier.identifiers import HolderIdType, validate_uscc

CATALOGUE_FILE = Path(__file__).with_name("catalogue.json")
PADES_LEVELS = ("B-T", "B-LT", "B-LTA")


@dataclass(frozen=True)
class LicenceType:
    name: str
    title: str
    title_en: str
    defining_authority: str
    type_code: str
    department: str
    holder_id_types: tuple[HolderIdType, ...]
    validity_years: int | None
    # The PAdES baseline level its PDF is sealed at, unless overridden per issuance.
    pades_level: str
    # The regions that issue it; None: every region.
    regions: frozenset[str] | None = None

    def issued_in(self, region: str) -> bool:
        return self.regions is None or region in self.regions


@cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> dict[str, LicenceType]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    catalogue = {}
    for name, entry in raw.items():
        authority_uscc = validate_uscc(entry["defining_authority_uscc"])
        number = entry["type_number"]
        if len(number) != 3 or not number.isdigit():
            raise ValueError(f"catalogue {name}: type_number must be 3 digits")
        catalogue[name] = LicenceType(
            name=name,
            title=entry["title"],
            title_en=entry["title_en"],
            defining_authority=entry["defining_authority"],
            type_code=authority_uscc + number,
            department=entry["department"],
            holder_id_types=tuple(HolderIdType(t) for t in entry["holder_id_types"]),
            validity_years=entry["validity_years"],
            pades_level=_pades_level(name, entry.get("pades_level", "B-T")),
            regions=_regions(name, entry.get("regions")),
        )
    return catalogue


def _regions(name: str, regions: object) -> frozenset[str] | None:
    if regions is None:
        return None
    if (
        not isinstance(regions, list)
        or not regions
        or not all(isinstance(r, str) and len(r) == 6 and r.isdigit() for r in regions)
    ):
        raise ValueError(f"catalogue {name}: regions must be a non-empty list of region codes")
    return frozenset(regions)


def _pades_level(name: str, level: str) -> str:
    if level not in PADES_LEVELS:
        raise ValueError(f"catalogue {name}: pades_level must be one of {', '.join(PADES_LEVELS)}")
    return level


def licence_type(
    name: str, region: str | None = None, *, catalogue: dict[str, LicenceType] | None = None
) -> LicenceType:
    """The type called `name`; with `region`, only if that region issues it."""
    types = catalogue if catalogue is not None else load_catalogue()
    kind = types.get(name)
    if kind is None:
        known = ", ".join(sorted(types))
        raise RegistryError(f"unknown licence type {name!r} (known: {known})")
    if region is not None and not kind.issued_in(region):
        raise RegistryError(f"region {region} does not issue {name!r}")
    return kind


def region_catalogue(
    region: str, *, catalogue: dict[str, LicenceType] | None = None
) -> list[LicenceType]:
    """The types `region` issues, by name."""
    types = catalogue if catalogue is not None else load_catalogue()
    return [types[name] for name in sorted(types) if types[name].issued_in(region)]
