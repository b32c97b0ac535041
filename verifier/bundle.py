"""The offline bundle: the one file an agency carries, and its verification.

The bundle's JSON is only a container: each piece inside is verified by its own signer and
the bundle itself needs no trust. `open_bundle` verifies the trust list against the pinned
root, then every status list, checkpoint and CRL against that trust list. A piece that fails
is recorded in `problems` and left out, so one bad region never stops verdicts for the others.

Format `govtrust-bundle/1`, UTF-8 JSON written only by `encode_bundle` (sorted keys, compact):
    {"format": "govtrust-bundle/1", "exported_at": RFC 3339 UTC (informational, unsigned),
     "trust_list": compact JWS, "crls": [base64 DER CRL, ...],
     "regions": {"<6-digit code>": {"status_list": JWT | null, "checkpoint": note | null}}}

Public API:
    FORMAT, MAX_BUNDLE_BYTES, MAX_REGIONS, MAX_CRLS, BundleError, RegionMaterial
    encode_bundle(*, exported_at, trust_list, crls, regions) -> bytes
    open_bundle(data, root_fingerprint, *, at, min_sequence=None) -> OfflineBundle
    bundle_material(data) -> (trust list token, {region: RegionMaterial}), unverified
    OfflineBundle.certificate_status(certificate, issuer, at) -> CertificateStatus
    OfflineBundle.status_of(region, index, *, at=None) -> BundleStatus
    BundleStatusList, BundleCrl, RevocationStatus
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, NoReturn

from cryptography import x509

from verifier import strict_json
from verifier.certs import normalise_fingerprint
from verifier.checkpoint import Checkpoint, verify_checkpoint
from verifier.crl import CertificateStatus, IssuerKey, VerifiedCrl, certificate_status, verify_crls
from verifier.errors import InputError
from verifier.status_list import (
    LicenceStatus,
    StatusList,
    StatusListError,
    StatusListExpired,
    verify_status_list,
)
from verifier.timeutil import format_time, parse_time
from verifier.trust_list import (
    TrustList,
    TrustListError,
    verify_trust_list,
)

FORMAT = "govtrust-bundle/1"
# Sized for the worst case the format must carry: one region CA's CRL of a million entries
# (~40 MB of DER, ~53 MB as base64) beside every region's status list (a few hundred KB
# each) and the trust list. Checked before parsing, so memory stays bounded.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_REGIONS = 1000
# The national root, and each region CA twice (old and new key during a rollover).
MAX_CRLS = 2 * MAX_REGIONS + 1
_REGION_CODE = re.compile(r"[0-9]{6}")
_MEMBERS = frozenset({"format", "exported_at", "trust_list", "crls", "regions"})
_REGION_MEMBERS = frozenset({"status_list", "checkpoint"})


class BundleError(InputError):
    """A bundle that is malformed, or whose trust list cannot be trusted: nothing in it is
    usable. (A single bad piece inside a good bundle is a problem, not this error.)"""


@dataclass(frozen=True)
class RegionMaterial:
    """What the bundle carries for one region (each piece signed by its own signer)."""

    status_list: str | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class BundleStatusList:
    status_list: StatusList
    stale: bool  # past its `exp` when the bundle was opened: its answers are INDETERMINATE


@dataclass(frozen=True)
class BundleStatus:
    """A status list's answer for one licence index, or why there is none (`status` None)."""

    region: str
    index: int
    status: LicenceStatus | None
    issued_at: datetime | None  # the list's signed `iat`: the honest "as of" time
    expires_at: datetime | None
    stale: bool
    reason: str


@dataclass(frozen=True)
class OfflineBundle:
    trust_list: TrustList
    exported_at: datetime
    verified_at: datetime
    status_lists: Mapping[str, BundleStatusList]
    checkpoints: Mapping[str, Checkpoint]
    crls: Mapping[IssuerKey, VerifiedCrl]
    problems: tuple[str, ...]
    status_list_problems: Mapping[str, str]  # region -> why its list was left out

    @property
    def trust_list_stale(self) -> bool:
        return self.trust_list.is_stale(self.verified_at)

    def certificate_status(
        self, certificate: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> CertificateStatus:
        """The certificate's revocation status from the bundle's CRL of `issuer` (see
        `crl.certificate_status`)."""
        return certificate_status(self.crls, certificate, issuer, at)

    def status_of(self, region: str, index: int, *, at: datetime | None = None) -> BundleStatus:
        """Entry `index` of region `region`'s status list. With `at` later than the time the
        bundle was opened, a list past its `exp` at `at` is stale too."""
        held = self.status_lists.get(region)
        if held is None:
            why = self.status_list_problems.get(region)
            reason = (
                f"the bundle's status list of region {region} failed verification: {why}"
                if why
                else f"the bundle carries no status list for region {region}"
            )
            return BundleStatus(region, index, None, None, None, False, reason)
        listed = held.status_list
        stale = held.stale or (at is not None and at >= listed.expires_at)
        try:
            status: LicenceStatus | None = listed.status(index)
            reason = f"status list of region {region} issued {format_time(listed.issued_at)}"
        except StatusListError as exc:
            status, reason = None, f"status list of region {region}: {exc}"
        if stale:
            reason += f" (expired {format_time(listed.expires_at)})"
        return BundleStatus(
            region, index, status, listed.issued_at, listed.expires_at, stale, reason
        )


def encode_bundle(
    *,
    exported_at: datetime,
    trust_list: str,
    crls: Sequence[bytes],
    regions: Mapping[str, RegionMaterial],
) -> bytes:
    """The bundle file: deterministic JSON, checked with the same parser `open_bundle` uses
    (the signatures inside are the verifier's business, not the packer's)."""
    if exported_at.tzinfo is None:
        raise BundleError("bundle exported_at must be timezone-aware")
    document = {
        "format": FORMAT,
        "exported_at": format_time(exported_at),
        "trust_list": trust_list,
        "crls": [base64.b64encode(bytes(der)).decode("ascii") for der in crls],
        "regions": {
            code: {"status_list": material.status_list, "checkpoint": material.checkpoint}
            for code, material in regions.items()
        },
    }
    data = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    encoded = data.encode("utf-8")
    _parse(encoded)
    return encoded


def open_bundle(
    data: bytes, root_fingerprint: str, *, at: datetime, min_sequence: int | None = None
) -> OfflineBundle:
    """Parse a bundle strictly, verify its trust list against the pinned root and every
    piece against that trust list at `at`.

    Raises BundleError when the bundle is malformed or its trust list is not trusted,
    including a trust list older than `min_sequence` (the newest one this verifier has
    seen: a replayed older bundle). A piece that fails (a status list, a checkpoint, a CRL)
    is left out and named in `problems`; an authentic status list past its `exp` is kept,
    marked stale."""
    if at.tzinfo is None:
        raise InputError("the validation time must be timezone-aware")
    pinned = normalise_fingerprint(root_fingerprint)
    exported_at, token, encoded_crls, regions = _parse(data)
    try:
        trust_list = verify_trust_list(token, pinned, at=at, min_sequence=min_sequence)
    except (InputError, TrustListError) as exc:
        raise BundleError(f"bundle trust list: {exc}") from None
    problems: list[str] = []
    list_problems: dict[str, str] = {}
    status_lists: dict[str, BundleStatusList] = {}
    checkpoints: dict[str, Checkpoint] = {}
    for code, material in sorted(regions.items()):
        if material.status_list is not None:
            try:
                verified = verify_status_list(material.status_list, trust_list, at=at, region=code)
                status_lists[code] = BundleStatusList(verified, stale=False)
            except StatusListExpired as exc:
                status_lists[code] = BundleStatusList(exc.status_list, stale=True)
            except ValueError as exc:
                list_problems[code] = str(exc)
                problems.append(f"region {code} status list: {exc}")
        if material.checkpoint is not None:
            try:
                checkpoints[code] = verify_checkpoint(
                    material.checkpoint, trust_list, region=code, at=at
                )
            except ValueError as exc:
                problems.append(f"region {code} checkpoint: {exc}")
    crls = verify_crls(encoded_crls, trust_list, at, problems)
    return OfflineBundle(
        trust_list=trust_list,
        exported_at=exported_at,
        verified_at=at,
        status_lists=MappingProxyType(status_lists),
        checkpoints=MappingProxyType(checkpoints),
        crls=MappingProxyType(crls),
        problems=tuple(problems),
        status_list_problems=MappingProxyType(list_problems),
    )


def bundle_material(data: bytes) -> tuple[str, Mapping[str, RegionMaterial]]:
    """The bundle's trust list token and each region's material, parsed as strictly as
    `open_bundle` parses them but not verified: an auditor verifies each piece itself and
    treats a bad one as a finding, not as a piece to leave out."""
    _, token, _, regions = _parse(data)
    return token, MappingProxyType(regions)


# --- parsing ----------------------------------------------------------------------------------


def _parse(data: bytes) -> tuple[datetime, str, list[str], dict[str, RegionMaterial]]:
    if not isinstance(data, bytes | bytearray):
        raise BundleError("the bundle must be given as bytes")
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError("the bundle is not UTF-8 text") from None
    try:
        document = strict_json.loads(text, parse_constant=_constant)
    except BundleError:
        raise
    except strict_json.DuplicateMember as exc:
        raise BundleError(f"the bundle has a {exc}") from None
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"the bundle is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise BundleError("the bundle's JSON is nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts
        raise BundleError("the bundle holds a number too long to read") from None
    if not isinstance(document, dict):
        raise BundleError("the bundle is not a JSON object")
    if document.get("format") != FORMAT:
        raise BundleError(f"the bundle's format is {_show(document.get('format'))}, not {FORMAT}")
    _members(document, _MEMBERS, "the bundle")
    try:
        exported_at = parse_time(document["exported_at"], "bundle exported_at")
    except InputError as exc:
        raise BundleError(str(exc)) from None
    token = document["trust_list"]
    if not isinstance(token, str) or not token:
        raise BundleError("bundle trust_list is not a non-empty string")
    crls = document["crls"]
    if not isinstance(crls, list) or not all(isinstance(c, str) for c in crls):
        raise BundleError("bundle crls is not a list of base64 strings")
    if len(crls) > MAX_CRLS:
        raise BundleError(f"the bundle holds {len(crls)} CRLs, more than {MAX_CRLS}")
    raw_regions = document["regions"]
    if not isinstance(raw_regions, dict):
        raise BundleError("bundle regions is not an object")
    if len(raw_regions) > MAX_REGIONS:
        raise BundleError(f"the bundle holds {len(raw_regions)} regions, more than {MAX_REGIONS}")
    regions: dict[str, RegionMaterial] = {}
    for code, raw in raw_regions.items():
        if not _REGION_CODE.fullmatch(code):
            raise BundleError(f"bundle region code {_show(code)} is not 6 digits")
        where = f"bundle region {code}"
        if not isinstance(raw, dict):
            raise BundleError(f"{where} is not an object")
        _members(raw, _REGION_MEMBERS, where)
        for name in sorted(_REGION_MEMBERS):
            if raw[name] is not None and not (isinstance(raw[name], str) and raw[name]):
                raise BundleError(f"{where} {name} is neither a non-empty string nor null")
        regions[code] = RegionMaterial(raw["status_list"], raw["checkpoint"])
    return exported_at, token, crls, regions


def _constant(name: str) -> NoReturn:
    raise BundleError(f"the bundle holds {name}, which JSON does not allow")


def _members(document: dict[str, Any], expected: frozenset[str], where: str) -> None:
    unknown, missing = sorted(set(document) - expected), sorted(expected - set(document))
    if unknown:
        raise BundleError(f"{where} has unknown member(s) {', '.join(map(_show, unknown))}")
    if missing:
        raise BundleError(f"{where} lacks member(s) {', '.join(missing)}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
