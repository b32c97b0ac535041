"""A licence's status from an offline bundle: dates first, then the region's signed list; only a
fresh list can say VALID, and a final answer (revoked, superseded) survives the list's expiry."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.verifier.offline_pki import NOW, issue, new_key, offline_federation
from verifier.bundle import OfflineBundle, RegionMaterial, encode_bundle, open_bundle
from verifier.credential import (
    LicenceClaims,
    VerifiedCredential,
    content_digest,
    sign_credential,
    verify_credential,
)
from verifier.errors import InputError
from verifier.licence_status import (
    LicenceStatusReport,
    StatusIndication,
    check_licence_status,
)
from verifier.report import Verdict
from verifier.status_list import LicenceStatus

ZJ, GD = "330000", "440000"
FED = offline_federation(ZJ, GD)
ZJ_PKI, GD_PKI = FED.regions[ZJ], FED.regions[GD]
IDENTIFIER = "1.2.156.3005.2.11100000000013573W001.113300003300010149.1234567.001.G"
VALID, REVOKED, SUSPENDED, SUPERSEDED = 100, 101, 102, 103
ENTRIES = {REVOKED: 1, SUSPENDED: 2, SUPERSEDED: 3}
EXPORTED = NOW - timedelta(minutes=5)
LIST_ISSUED = NOW - timedelta(minutes=10)
SHORT_LIVED = timedelta(hours=1)  # so that a list can expire while the trust list is fresh


def credential(
    index: int = VALID,
    region: str = ZJ,
    *,
    valid_from: date = date(2026, 1, 1),
    valid_until: date | None = date(2026, 12, 31),
) -> VerifiedCredential:
    """A QR credential signed by the region's status issuer, verified as an agency would."""
    pki = FED.regions[region]
    claims = LicenceClaims(
        identifier=IDENTIFIER,
        licence_type="business-licence",
        holder_name="杭州云栖数字科技有限公司",
        holder_id_masked="913301**********1A",
        department="浙江省市场监督管理局",
        department_uscc="113300003300010149",
        valid_from=valid_from,
        valid_until=valid_until,
        region=region,
        status_index=index,
        content_digest="",
    )
    claims = dataclasses.replace(claims, content_digest=content_digest(claims.content()))
    token = sign_credential(claims, pki.issuer_key, pki.issuer, issued_at=NOW - timedelta(days=1))
    return verify_credential(token, FED.listed(), at=NOW)


def bundle(
    at: datetime = NOW, lifetime: timedelta = SHORT_LIVED, **regions: RegionMaterial
) -> OfflineBundle:
    materials = {
        code: RegionMaterial(pki.status_list(ENTRIES, lifetime=lifetime), pki.checkpoint())
        for code, pki in FED.regions.items()
    }
    data = encode_bundle(
        exported_at=EXPORTED, trust_list=FED.signed(), crls=[], regions={**materials, **regions}
    )
    return open_bundle(data, FED.fingerprint, at=at)


FRESH = bundle()


def check(
    index: int = VALID, opened: OfflineBundle = FRESH, at: datetime = NOW, **kw: object
) -> LicenceStatusReport:
    return check_licence_status(credential(index, **kw), opened, at=at)  # type: ignore[arg-type]


def test_a_valid_licence_on_a_fresh_list() -> None:
    report = check()
    assert (report.verdict, report.indication) == (Verdict.VALID, StatusIndication.OK)
    assert report.status is LicenceStatus.VALID
    assert report.status_list_issued_at == LIST_ISSUED
    assert report.bundle_exported_at == EXPORTED
    assert report.reason == (
        f"Licence {IDENTIFIER} is valid according to the status list of region 330000 issued "
        "2026-03-01T07:50:00Z."
    )


@pytest.mark.parametrize(
    ("index", "status", "indication"),
    [
        (REVOKED, LicenceStatus.REVOKED, StatusIndication.REVOKED),
        (SUSPENDED, LicenceStatus.SUSPENDED, StatusIndication.SUSPENDED),
        (SUPERSEDED, LicenceStatus.SUPERSEDED, StatusIndication.SUPERSEDED),
    ],
)
def test_revoked_suspended_and_superseded_licences_are_invalid(
    index: int, status: LicenceStatus, indication: StatusIndication
) -> None:
    report = check(index)
    assert (report.verdict, report.indication, report.status) == (
        Verdict.INVALID,
        indication,
        status,
    )
    assert f"is {status} according to the status list of region 330000" in report.reason


def test_an_expired_list_cannot_say_valid_but_a_revocation_stays() -> None:
    later = NOW + SHORT_LIVED + timedelta(minutes=1)
    stale = bundle(at=later)
    assert stale.status_lists[ZJ].stale and stale.problems == ()
    valid = check(VALID, stale, later)
    assert (valid.verdict, valid.indication) == (Verdict.INDETERMINATE, StatusIndication.TRY_LATER)
    assert valid.status is LicenceStatus.VALID and "has expired" in valid.reason
    for index, indication in ((REVOKED, "REVOKED"), (SUPERSEDED, "SUPERSEDED")):
        report = check(index, stale, later)
        assert (report.verdict, report.indication) == (Verdict.INVALID, indication)
        assert "(expired 2026-03-01T08:50:00Z)" in report.reason
    # A suspension can be lifted: an old "suspended" is no longer an answer.
    suspended = check(SUSPENDED, stale, later)
    assert (suspended.verdict, suspended.indication) == (Verdict.INDETERMINATE, "TRY_LATER")
    # Opened while fresh but asked later: the list's expiry still counts.
    asked_later = check(VALID, FRESH, later)
    assert asked_later.verdict is Verdict.INDETERMINATE


def test_a_forged_list_costs_only_its_region() -> None:
    stranger_key = new_key()
    stranger = issue((ZJ_PKI.ca_key, ZJ_PKI.ca.subject), "330000 status issuer", stranger_key)
    forged = ZJ_PKI.status_list({}, key=stranger_key, chain=[stranger, ZJ_PKI.ca])
    opened = bundle(**{ZJ: RegionMaterial(forged)})
    # The forged list says "all valid", including the revoked licence: it must not be believed.
    report = check(REVOKED, opened)
    assert (report.verdict, report.indication) == (Verdict.INDETERMINATE, "TRY_LATER")
    assert report.status is None and report.status_list_issued_at is None
    assert "failed verification: status list signer is not listed" in report.reason
    other = check(REVOKED, opened, region=GD)
    assert (other.verdict, other.indication) == (Verdict.INVALID, StatusIndication.REVOKED)
    assert check(VALID, opened, region=GD).verdict is Verdict.VALID


def test_no_list_or_an_index_outside_it_is_indeterminate() -> None:
    missing = check(VALID, bundle(**{ZJ: RegionMaterial(None, ZJ_PKI.checkpoint())}))
    assert (missing.verdict, missing.indication) == (Verdict.INDETERMINATE, "TRY_LATER")
    assert missing.reason == (
        f"The status of licence {IDENTIFIER} cannot be checked: the bundle carries no status "
        "list for region 330000."
    )
    outside = check(10**6)
    assert outside.verdict is Verdict.INDETERMINATE and "outside the status list" in outside.reason


def test_validity_dates_come_first_in_whole_utc_days() -> None:
    last_day = date(2026, 3, 1)
    expired = check(VALID, valid_until=date(2026, 2, 28))
    assert (expired.verdict, expired.indication) == (Verdict.INVALID, StatusIndication.EXPIRED)
    assert expired.reason == f"Licence {IDENTIFIER} expired at the end of 2026-02-28 (UTC)."
    # Expiry wins over everything the list might say.
    assert check(REVOKED, valid_until=date(2026, 2, 28)).indication == "EXPIRED"
    end, lasting = datetime(2026, 3, 2, tzinfo=UTC), bundle(lifetime=timedelta(days=1))
    last_second = check(VALID, lasting, end - timedelta(seconds=1), valid_until=last_day)
    assert last_second.verdict is Verdict.VALID
    assert check(VALID, lasting, end, valid_until=last_day).indication == "EXPIRED"
    early = check(VALID, valid_from=date(2026, 3, 2))
    assert (early.verdict, early.indication) == (Verdict.INVALID, "NOT_YET_VALID")
    assert early.status is None and early.status_list_issued_at is None
    assert check(VALID, at=datetime(2026, 3, 1, tzinfo=UTC), valid_from=last_day).verdict == "VALID"
    assert check(VALID, valid_until=None).verdict is Verdict.VALID


def test_a_stale_trust_list_cannot_give_valid() -> None:
    listed = FED.listed(next_update=NOW - timedelta(minutes=1))
    data = encode_bundle(
        exported_at=EXPORTED,
        trust_list=FED.signed(listed),
        crls=[],
        regions={ZJ: RegionMaterial(ZJ_PKI.status_list(ENTRIES))},
    )
    opened = open_bundle(data, FED.fingerprint, at=NOW)
    assert opened.trust_list_stale
    valid = check(VALID, opened)
    assert (valid.verdict, valid.indication) == (Verdict.INDETERMINATE, "TRY_LATER")
    assert "trust list is past its next update (2026-03-01T07:59:00Z)" in valid.reason
    assert check(REVOKED, opened).verdict is Verdict.INVALID


def test_the_validation_time_must_be_aware() -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        check_licence_status(credential(), FRESH, at=datetime(2026, 3, 1, 8))
