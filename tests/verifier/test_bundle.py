"""The offline bundle: one format, parsed strictly; the trust list must chain to the pinned
root, and every piece inside is believed only on its own signer's word. A bad piece costs its
own region, never the whole bundle."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.verifier.offline_pki import (
    NOW,
    crl,
    issue,
    listed_service,
    name,
    new_key,
    offline_federation,
    sign_trust_list,
    trust_list,
    trust_list_signer,
)
from verifier.bundle import (
    FORMAT,
    MAX_BUNDLE_BYTES,
    MAX_REGIONS,
    BundleError,
    RegionMaterial,
    encode_bundle,
    open_bundle,
)
from verifier.crl import RevocationStatus
from verifier.errors import InputError
from verifier.status_list import LicenceStatus, status_list_uri
from verifier.trust_list import ServiceStatus, ServiceType, StatusChange

ZJ, GD = "330000", "440000"
FED = offline_federation(ZJ, GD)
ZJ_PKI, GD_PKI = FED.regions[ZJ], FED.regions[GD]
EXPORTED = datetime(2026, 3, 1, 7, 55, tzinfo=UTC)
SEAL_KEY = new_key()
SEAL = issue((ZJ_PKI.ca_key, ZJ_PKI.ca.subject), "330000 department seal", SEAL_KEY)
OTHER_SEAL = issue((ZJ_PKI.ca_key, ZJ_PKI.ca.subject), "330000 other seal", new_key())
REVOKED_AT = NOW - timedelta(hours=3)


def materials(**changes: RegionMaterial) -> dict[str, RegionMaterial]:
    regions = {
        code: RegionMaterial(pki.status_list({7: 1, 8: 2, 9: 3}), pki.checkpoint())
        for code, pki in FED.regions.items()
    }
    return {**regions, **changes}


def good_crls() -> list[bytes]:
    return [
        crl(FED.root_key, FED.root),
        crl(ZJ_PKI.ca_key, ZJ_PKI.ca, [(SEAL.serial_number, REVOKED_AT, None)], number=4),
        crl(GD_PKI.ca_key, GD_PKI.ca),
    ]


def bundle(
    *,
    trust_list: str | None = None,
    crls: Sequence[bytes] | None = None,
    regions: Mapping[str, RegionMaterial] | None = None,
) -> bytes:
    return encode_bundle(
        exported_at=EXPORTED,
        trust_list=FED.signed() if trust_list is None else trust_list,
        crls=good_crls() if crls is None else crls,
        regions=materials() if regions is None else regions,
    )


GOOD = bundle()


def document(data: bytes = GOOD) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def raw(value: object) -> bytes:
    return json.dumps(value).encode()


def refused(data: bytes, fragment: str, **kw: Any) -> None:
    with pytest.raises(BundleError, match=fragment):
        open_bundle(data, kw.pop("fingerprint", FED.fingerprint), at=kw.pop("at", NOW))


def test_a_good_bundle_round_trips() -> None:
    opened = open_bundle(GOOD, FED.fingerprint, at=NOW)
    assert opened.problems == ()
    assert opened.exported_at == EXPORTED and opened.verified_at == NOW
    assert opened.trust_list.root_fingerprint == FED.fingerprint
    assert not opened.trust_list_stale
    assert sorted(opened.status_lists) == sorted(opened.checkpoints) == [ZJ, GD]
    assert all(not held.stale for held in opened.status_lists.values())
    assert opened.checkpoints[GD].tree_size == 5 and opened.checkpoints[GD].region == GD
    answers = {i: opened.status_of(ZJ, i).status for i in (6, 7, 8, 9)}
    assert answers == {
        6: LicenceStatus.VALID,
        7: LicenceStatus.REVOKED,
        8: LicenceStatus.SUSPENDED,
        9: LicenceStatus.SUPERSEDED,
    }
    answer = opened.status_of(GD, 6)
    assert answer.issued_at == NOW - timedelta(minutes=10) and not answer.stale
    assert "issued 2026-03-01T07:50:00Z" in answer.reason
    assert len(opened.crls) == 3


def test_encoding_is_deterministic_and_compact() -> None:
    assert bundle() != GOOD  # fresh ECDSA signatures inside; the layout is what is fixed
    regions = materials()
    crls, token = good_crls(), FED.signed()
    again = [
        encode_bundle(exported_at=EXPORTED, trust_list=token, crls=crls, regions=r)
        for r in (regions, dict(reversed(list(regions.items()))))
    ]
    assert again[0] == again[1]
    text = again[0].decode()
    assert ", " not in text and '": ' not in text
    assert text.startswith('{"crls":[') and document(again[0])["format"] == FORMAT
    assert document(again[0])["exported_at"] == "2026-03-01T07:55:00Z"
    assert document(again[0])["regions"][ZJ]["checkpoint"].endswith("\n")


def test_the_trust_list_must_chain_to_the_pinned_root() -> None:
    other = offline_federation(ZJ)
    refused(GOOD, "not anchored in the pinned", fingerprint=other.fingerprint)
    # A whole federation of its own, pinned nowhere, carrying the real regions' services.
    forged = sign_trust_list(FED.listed(), other.signer_key, other.signer, other.root)
    refused(bundle(trust_list=forged), "not anchored in the pinned")
    # The pinned root, but signed by a key the root never certified as a trust-list signer.
    stranger_key, stranger = trust_list_signer(new_key(), FED.root)
    unlicensed = sign_trust_list(FED.listed(), stranger_key, stranger, FED.root)
    refused(bundle(trust_list=unlicensed), "not issued by the national root")
    head, body, signature = FED.signed().split(".")
    listed = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    listed["sequence"] += 1
    changed = base64.urlsafe_b64encode(json.dumps(listed).encode()).rstrip(b"=").decode()
    refused(bundle(trust_list=f"{head}.{changed}.{signature}"), "signature")
    refused(bundle(trust_list="not a jws"), "bundle trust list: not a compact JWS")
    with pytest.raises(InputError, match="64 hexadecimal"):
        open_bundle(GOOD, "abc", at=NOW)


def test_a_replayed_older_bundle_is_refused() -> None:
    sequence = open_bundle(GOOD, FED.fingerprint, at=NOW).trust_list.sequence
    assert open_bundle(GOOD, FED.fingerprint, at=NOW, min_sequence=sequence).problems == ()
    with pytest.raises(BundleError, match="rollback refused"):
        open_bundle(GOOD, FED.fingerprint, at=NOW, min_sequence=sequence + 1)
    with pytest.raises(InputError, match="timezone-aware"):
        open_bundle(GOOD, FED.fingerprint, at=datetime(2026, 3, 1, 8))


def test_a_status_list_by_an_unlisted_key_costs_only_its_region() -> None:
    stranger_key = new_key()
    stranger = issue((ZJ_PKI.ca_key, ZJ_PKI.ca.subject), "330000 status issuer", stranger_key)
    forged = ZJ_PKI.status_list(key=stranger_key, chain=[stranger, ZJ_PKI.ca])
    opened = open_bundle(
        bundle(regions=materials(**{ZJ: RegionMaterial(forged)})), FED.fingerprint, at=NOW
    )
    assert opened.problems == (
        "region 330000 status list: status list signer is not listed as a status issuer",
    )
    assert ZJ not in opened.status_lists
    answer = opened.status_of(ZJ, 7)
    assert answer.status is None and "failed verification" in answer.reason
    assert opened.status_of(GD, 7).status is LicenceStatus.REVOKED
    assert GD in opened.checkpoints


def test_a_region_cannot_carry_another_regions_list() -> None:
    # Guangdong's genuine list filed under Zhejiang (and one lying about its subject).
    swapped = materials(**{ZJ: RegionMaterial(GD_PKI.status_list({7: 0}))})
    opened = open_bundle(bundle(regions=swapped), FED.fingerprint, at=NOW)
    assert opened.status_list_problems[ZJ] == "status list is region 440000's, not region 330000's"
    assert opened.status_of(ZJ, 7).status is None
    lying = materials(**{ZJ: RegionMaterial(ZJ_PKI.status_list(region=GD))})
    opened = open_bundle(bundle(regions=lying), FED.fingerprint, at=NOW)
    assert f"sub {status_list_uri(GD)!r} is not the list URI" in opened.problems[0]


def test_a_changed_status_list_inside_the_bundle_is_a_problem() -> None:
    edited = document()
    head, body, signature = edited["regions"][ZJ]["status_list"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["exp"] += 86_400 * 365
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    edited["regions"][ZJ]["status_list"] = f"{head}.{body}.{signature}"
    opened = open_bundle(raw(edited), FED.fingerprint, at=NOW)
    assert opened.problems == (
        "region 330000 status list: status list signature: JWS signature does not verify "
        "(bad_signature)",
    )
    assert ZJ not in opened.status_lists and GD in opened.status_lists
    text = GOOD.decode()
    token = document()["regions"][GD]["status_list"]
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    opened = open_bundle(text.replace(token, flipped).encode(), FED.fingerprint, at=NOW)
    assert [p.split(":")[0] for p in opened.problems] == ["region 440000 status list"]


def test_an_expired_status_list_is_kept_but_stale() -> None:
    short = materials(
        **{ZJ: RegionMaterial(ZJ_PKI.status_list({7: 1}, lifetime=timedelta(hours=1)))}
    )
    later = NOW + timedelta(hours=2)
    opened = open_bundle(bundle(regions=short), FED.fingerprint, at=later)
    assert opened.problems == () and opened.status_lists[ZJ].stale
    answer = opened.status_of(ZJ, 7)
    assert answer.status is LicenceStatus.REVOKED and answer.stale
    assert "expired 2026-03-01T08:50:00Z" in answer.reason
    fresh = open_bundle(bundle(regions=short), FED.fingerprint, at=NOW)
    assert not fresh.status_of(ZJ, 7).stale
    assert fresh.status_of(ZJ, 7, at=later).stale  # a later question sees the list expire


def test_missing_lists_and_indexes_outside_say_why() -> None:
    opened = open_bundle(bundle(regions={GD: RegionMaterial()}), FED.fingerprint, at=NOW)
    assert opened.status_of(ZJ, 1).reason == "the bundle carries no status list for region 330000"
    assert opened.status_lists == {} and opened.checkpoints == {} and opened.problems == ()
    outside = open_bundle(GOOD, FED.fingerprint, at=NOW).status_of(ZJ, 10**7)
    assert outside.status is None and "outside the status list" in outside.reason
    assert outside.issued_at == NOW - timedelta(minutes=10)


def test_a_checkpoint_by_a_wrong_key_costs_only_its_checkpoint() -> None:
    forged = materials(
        **{ZJ: RegionMaterial(ZJ_PKI.status_list(), ZJ_PKI.checkpoint(key=new_key()))}
    )
    opened = open_bundle(bundle(regions=forged), FED.fingerprint, at=NOW)
    assert opened.problems == (
        "region 330000 checkpoint: checkpoint of region 330000: the note is not signed by any "
        "known key",
    )
    assert ZJ not in opened.checkpoints and GD in opened.checkpoints and ZJ in opened.status_lists
    swapped = materials(**{ZJ: RegionMaterial(None, GD_PKI.checkpoint())})
    opened = open_bundle(bundle(regions=swapped), FED.fingerprint, at=NOW)
    assert "not of region 330000" in opened.problems[0]


def test_a_certificate_revoked_on_a_crl() -> None:
    opened = open_bundle(GOOD, FED.fingerprint, at=NOW)
    answer = opened.certificate_status(SEAL, ZJ_PKI.ca, NOW)
    assert answer.status is RevocationStatus.REVOKED and answer.revoked_at == REVOKED_AT
    assert answer.source == (
        "bundle CRL #4 of CN=330000 region CA, this_update 2026-03-01T07:00:00Z"
    )
    good = opened.certificate_status(OTHER_SEAL, ZJ_PKI.ca, NOW)
    assert good.status is RevocationStatus.GOOD and good.revoked_at is None
    # The root's CRL speaks for the region CAs themselves.
    assert opened.certificate_status(ZJ_PKI.ca, FED.root, NOW).status is RevocationStatus.GOOD
    # A certificate of another CA is not answered by this CA's CRL.
    stranger = opened.certificate_status(GD_PKI.issuer, ZJ_PKI.ca, NOW)
    assert stranger.status is RevocationStatus.UNKNOWN and "not issued by" in stranger.source


def test_the_reason_and_the_newest_crl_count() -> None:
    reason = x509.ReasonFlags.key_compromise
    old = crl(ZJ_PKI.ca_key, ZJ_PKI.ca, number=8)
    new = crl(ZJ_PKI.ca_key, ZJ_PKI.ca, [(SEAL.serial_number, REVOKED_AT, reason)], number=9)
    for order in ([old, new], [new, old]):
        opened = open_bundle(bundle(crls=order), FED.fingerprint, at=NOW)
        answer = opened.certificate_status(SEAL, ZJ_PKI.ca, NOW)
        assert answer.status is RevocationStatus.REVOKED and answer.reason is reason
        assert answer.source.startswith("bundle CRL #9 of")


def test_stale_or_missing_crls_give_unknown_but_revocations_stay() -> None:
    opened = open_bundle(GOOD, FED.fingerprint, at=NOW)
    later = NOW + timedelta(days=1)
    stale = opened.certificate_status(OTHER_SEAL, ZJ_PKI.ca, later)
    assert stale.status is RevocationStatus.UNKNOWN and "stale since" in stale.source
    assert opened.certificate_status(SEAL, ZJ_PKI.ca, later).status is RevocationStatus.REVOKED
    on_hold = [(SEAL.serial_number, REVOKED_AT, x509.ReasonFlags.certificate_hold)]
    hold = crl(ZJ_PKI.ca_key, ZJ_PKI.ca, on_hold)
    held = open_bundle(bundle(crls=[hold]), FED.fingerprint, at=NOW)
    assert held.certificate_status(SEAL, ZJ_PKI.ca, NOW).status is RevocationStatus.REVOKED
    assert held.certificate_status(SEAL, ZJ_PKI.ca, later).status is RevocationStatus.UNKNOWN
    none = open_bundle(bundle(crls=[]), FED.fingerprint, at=NOW)
    missing = none.certificate_status(OTHER_SEAL, ZJ_PKI.ca, NOW)
    assert missing.status is RevocationStatus.UNKNOWN
    assert missing.source == "the bundle holds no verified CRL of CN=330000 region CA"


def test_an_expired_certificate_is_not_good_by_silence() -> None:
    ca = (ZJ_PKI.ca_key, ZJ_PKI.ca.subject)
    old = issue(ca, "old seal", new_key(), not_after=NOW - timedelta(days=2))
    answer = open_bundle(GOOD, FED.fingerprint, at=NOW).certificate_status(old, ZJ_PKI.ca, NOW)
    assert answer.status is RevocationStatus.UNKNOWN and "need not list it" in answer.source


def crl_problems(crls: Sequence[bytes]) -> tuple[str, ...]:
    """The problems of a bundle carrying only `crls`, none of which may answer for SEAL."""
    opened = open_bundle(bundle(crls=crls), FED.fingerprint, at=NOW)
    assert opened.certificate_status(SEAL, ZJ_PKI.ca, NOW).status is RevocationStatus.UNKNOWN
    return opened.problems


def test_a_crl_signed_by_the_wrong_key_is_ignored() -> None:
    # Zhejiang's CA name, an attacker's key: it would un-revoke the seal.
    forged = crl(new_key(), ZJ_PKI.ca, number=99)
    assert crl_problems([forged]) == (
        "crls[0]: CRL signature does not verify with any listed key of CN=330000 region CA",
    )
    genuine = crl(ZJ_PKI.ca_key, ZJ_PKI.ca, [(SEAL.serial_number, REVOKED_AT, None)], number=3)
    opened = open_bundle(bundle(crls=[genuine, forged]), FED.fingerprint, at=NOW)
    assert len(opened.problems) == 1
    assert opened.certificate_status(SEAL, ZJ_PKI.ca, NOW).status is RevocationStatus.REVOKED
    unknown_key = new_key()
    unknown_ca = issue((unknown_key, name("Rogue CA")), "Rogue CA", unknown_key, ca=True)
    assert crl_problems([crl(unknown_key, unknown_ca)]) == (
        "crls[0]: CRL issuer CN=Rogue CA is neither the national root nor a listed region CA",
    )
    # A status issuer is listed, but not as a CA: its CRLs count for nothing.
    assert "neither the national root" in crl_problems([crl(ZJ_PKI.issuer_key, ZJ_PKI.issuer)])[0]
    assert crl_problems([b"not der"]) == ("crls[0]: not a base64 DER CRL",)


def test_a_withdrawn_region_ca_and_unusual_crls_are_ignored() -> None:
    withdrawn = (
        StatusChange(ServiceStatus.GRANTED, NOW - timedelta(days=30)),
        StatusChange(ServiceStatus.WITHDRAWN, NOW - timedelta(days=1)),
    )
    gone = offline_federation(ZJ)
    pki = gone.regions[ZJ]
    listed = trust_list(gone.root, listed_service(ZJ, [pki.ca], ServiceType.SEAL_CA, withdrawn))
    data = bundle(trust_list=gone.signed(listed), crls=[crl(pki.ca_key, pki.ca)], regions={})
    assert open_bundle(data, gone.fingerprint, at=NOW).problems == (
        "crls[0]: CRL issuer CN=330000 region CA is not granted in the trust list",
    )
    delta = crl(ZJ_PKI.ca_key, ZJ_PKI.ca, extensions=[(x509.DeltaCRLIndicator(3), True)])
    assert "delta CRL" in crl_problems([delta])[0]
    partial = x509.IssuingDistributionPoint(None, None, True, False, None, False, False)
    partial_crl = crl(ZJ_PKI.ca_key, ZJ_PKI.ca, extensions=[(partial, True)])
    assert "only part" in crl_problems([partial_crl])[0]
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    critical = crl(ZJ_PKI.ca_key, ZJ_PKI.ca, extensions=[(unknown, True)])
    assert "unknown critical extension 1.3.6.1.4.1.99999.1" in crl_problems([critical])[0]


def test_a_ca_whose_key_usage_excludes_crl_signing_signs_no_crl() -> None:
    no_crl_sign = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca_key = new_key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("330000 certificate-only CA"))
        .issuer_name(FED.root.subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(no_crl_sign, critical=True)
        .sign(FED.root_key, hashes.SHA256())
    )
    listed = trust_list(FED.root, listed_service(ZJ, [ca], ServiceType.SEAL_CA))
    data = bundle(trust_list=FED.signed(listed), crls=[crl(ca_key, ca)], regions={})
    assert open_bundle(data, FED.fingerprint, at=NOW).problems == (
        "crls[0]: CRL issuer CN=330000 certificate-only CA may not sign CRLs (key usage)",
    )


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d.update(format="govtrust-bundle/2"), "format is 'govtrust-bundle/2', not"),
        (lambda d: d.pop("format"), "format is None"),
        (lambda d: d.update(extra=1), "unknown member"),
        (lambda d: d.pop("crls"), "lacks member"),
        (lambda d: d.update(crls="AAAA"), "crls is not a list"),
        (lambda d: d.update(crls=[1]), "crls is not a list"),
        (lambda d: d.update(trust_list=7), "trust_list is not a non-empty string"),
        (lambda d: d.update(exported_at="2026-03-01 07:55"), "exported_at is not an RFC 3339"),
        (lambda d: d.update(regions=[]), "regions is not an object"),
        (lambda d: d["regions"].update({"33000": None}), "'33000' is not 6 digits"),
        (lambda d: d["regions"].update({"３３００００": None}), "is not 6 digits"),
        (lambda d: d["regions"].update({"33000a": None}), "is not 6 digits"),
        (lambda d: d["regions"].update({"110000": None}), "region 110000 is not an object"),
        (lambda d: d["regions"].update({"110000": {}}), "lacks member"),
        (lambda d: d["regions"][ZJ].update(status_list=5), "neither a non-empty string nor null"),
        (lambda d: d["regions"][ZJ].update(checkpoint=""), "neither a non-empty string nor"),
        (lambda d: d["regions"][ZJ].update(proof="x"), "unknown member"),
    ],
)
def test_the_format_is_parsed_strictly(edit: Any, fragment: str) -> None:
    edited = document()
    edit(edited)
    refused(raw(edited), fragment)


def test_bad_json_is_refused() -> None:
    refused(b"[]", "not a JSON object")
    refused(b"\xff{}", "not UTF-8")
    refused(b"{", "not JSON")
    refused(GOOD[:-1], "not JSON")
    refused(b'{"format": NaN}', "NaN")
    refused(b'{"format": ' + b"1" * 5000 + b"}", "number too long")
    refused(b"[" * 100_000 + b"]" * 100_000, "nested too deeply")
    refused(b"\xef\xbb\xbf" + GOOD, "not JSON")


def test_duplicate_member_names_are_refused() -> None:
    # The second trust list would win in Python; another parser might take the first.
    text = GOOD.decode()
    head = '{"crls":'
    assert text.startswith(head)
    refused(f'{{"trust_list":"x",{text[1:]}'.encode(), "repeats the member name 'trust_list'")
    region = f'"{ZJ}":{{'
    nested = text.replace(region, f'{region}"status_list":null,', 1)
    refused(nested.encode(), "repeats the member name 'status_list'")
    both = text.replace(f'"{GD}":', f'"{ZJ}":', 1)
    refused(both.encode(), "repeats the member name '330000'")


def test_size_and_count_caps() -> None:
    refused(b" " * (MAX_BUNDLE_BYTES + 1), f"larger than {MAX_BUNDLE_BYTES} bytes")
    padded = GOOD + b" " * (MAX_BUNDLE_BYTES - len(GOOD))
    assert open_bundle(padded, FED.fingerprint, at=NOW).problems == ()
    many = document()
    empty = {"status_list": None, "checkpoint": None}
    many["regions"] = {f"{100000 + i}": empty for i in range(MAX_REGIONS + 1)}
    refused(raw(many), f"1001 regions, more than {MAX_REGIONS}")
    with pytest.raises(BundleError, match="more than"):
        bundle(regions={f"{100000 + i}": RegionMaterial() for i in range(MAX_REGIONS + 1)})
    with pytest.raises(BundleError, match="given as bytes"):
        open_bundle("{}", FED.fingerprint, at=NOW)  # type: ignore[arg-type]


def test_the_producer_refuses_what_the_verifier_refuses() -> None:
    with pytest.raises(BundleError, match="not 6 digits"):
        bundle(regions={"33": RegionMaterial()})
    with pytest.raises(BundleError, match="timezone-aware"):
        encode_bundle(exported_at=datetime(2026, 3, 1), trust_list="a.b.c", crls=[], regions={})
    with pytest.raises(BundleError, match="non-empty string"):
        encode_bundle(exported_at=EXPORTED, trust_list="", crls=[], regions={})
    assert issubclass(BundleError, InputError)
