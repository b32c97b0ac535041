"""The QR credential: signed by a region's status issuer, found through the trust list by
`kid`, small enough for the page's QR code, and every forgery refused."""

from __future__ import annotations

import base64
import dataclasses
from datetime import date, timedelta

import pytest

from licence_registry.status_lists import StatusSigner, load_status_signer
from seal_service.qr import encode_qr
from tests.conftest import Federation
from verifier import jose
from verifier.credential import (
    TYP,
    CredentialError,
    LicenceClaims,
    content_digest,
    sign_credential,
    thumbprint,
    verify_credential,
)
from verifier.errors import InputError
from verifier.timeutil import utc_now
from verifier.trust_list import ServiceStatus, ServiceType, StatusChange, TrustList

IDENTIFIER = "1.2.156.3005.2.11100000000013573W001.113300003300010149.1234567.001.G"


@pytest.fixture(scope="module")
def signers(federation: Federation) -> dict[str, StatusSigner]:
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        return {r: load_status_signer(session, runtime.key_stores, r) for r in ("330000", "440000")}


def claims(**changes: object) -> LicenceClaims:
    base = LicenceClaims(
        identifier=IDENTIFIER,
        licence_type="business-licence",
        holder_name="杭州云栖数字科技有限公司",
        holder_id_masked="913301**********1A",
        department="浙江省市场监督管理局",
        department_uscc="113300003300010149",
        valid_from=date(2026, 11, 23),
        valid_until=None,
        region="330000",
        status_index=917_503,
        content_digest="",
    )
    base = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(base, content_digest=content_digest(base.content()))


def sign(signer: StatusSigner, value: LicenceClaims) -> str:
    return sign_credential(value, signer.private_key, signer.certificate, issued_at=utc_now())


def test_round_trip_fits_one_qr_code(
    federation: Federation, signers: dict[str, StatusSigner]
) -> None:
    token = sign(signers["330000"], claims())
    verified = verify_credential(token, federation.trust_list(), at=utc_now())
    assert verified.claims == claims()
    assert verified.signer == signers["330000"].certificate
    assert len(token) < 720
    assert encode_qr(token).size <= 101  # version 21: 0.4 mm modules in the 44 mm square


def test_a_changed_claim_breaks_the_signature(
    federation: Federation, signers: dict[str, StatusSigner]
) -> None:
    header, payload, signature = sign(signers["330000"], claims()).split(".")
    forged_claims = jose.decode_claims(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    forged_claims["st"]["idx"] = 1
    encoded = base64.urlsafe_b64encode(jose.encode_claims(forged_claims)).rstrip(b"=").decode()
    forged = ".".join((header, encoded, signature))
    with pytest.raises(CredentialError, match="signature"):
        verify_credential(forged, federation.trust_list(), at=utc_now())


def test_only_a_status_issuer_of_the_claimed_region_counts(
    federation: Federation, signers: dict[str, StatusSigner]
) -> None:
    trust_list = federation.trust_list()
    # Signed by 440000's status issuer but claiming a 330000 status-list entry.
    with pytest.raises(CredentialError, match="region 330000 but signed by 440000"):
        verify_credential(sign(signers["440000"], claims()), trust_list, at=utc_now())
    # A genuine region key of another service (the identity signer), with its own kid.
    issuer = federation.runtime.identity_issuer("330000")
    impostor = StatusSigner("330000", issuer.certificate, issuer.ca_certificate, issuer.private_key)
    with pytest.raises(CredentialError, match="not a status-issuer"):
        verify_credential(sign(impostor, claims()), trust_list, at=utc_now())


def test_a_digest_that_does_not_match_the_content_is_refused(
    federation: Federation, signers: dict[str, StatusSigner]
) -> None:
    signer = signers["330000"]
    bad = dataclasses.replace(claims(), holder_name="另一家公司")  # digest left as it was
    with pytest.raises(CredentialError, match="dig"):
        sign(signer, bad)
    payload = jose.encode_claims(
        {
            "lid": bad.identifier,
            "lt": bad.licence_type,
            "hn": bad.holder_name,
            "hid": bad.holder_id_masked,
            "dep": bad.department,
            "dus": bad.department_uscc,
            "vf": bad.valid_from.isoformat(),
            "vu": None,
            "st": {"idx": bad.status_index, "reg": bad.region},
            "dig": bad.content_digest,
            "iat": int(utc_now().timestamp()),
        }
    )
    token = jose.sign_compact(
        payload, signer.private_key, typ=TYP, kid=thumbprint(signer.certificate)
    )
    with pytest.raises(CredentialError, match="dig"):
        verify_credential(token, federation.trust_list(), at=utc_now())


def _withdraw_status_issuers(trust_list: TrustList, since: object) -> TrustList:
    def edit(service: object) -> object:
        if service.service_type is not ServiceType.STATUS_ISSUER:  # type: ignore[attr-defined]
            return service
        history = (*service.history, StatusChange(ServiceStatus.WITHDRAWN, since))  # type: ignore[attr-defined]
        return dataclasses.replace(service, history=history)  # type: ignore[type-var]

    regions = tuple(
        dataclasses.replace(r, services=tuple(edit(s) for s in r.services))  # type: ignore[misc]
        for r in trust_list.regions
    )
    return dataclasses.replace(trust_list, regions=regions)


def test_a_withdrawn_status_issuer_is_refused(
    federation: Federation, signers: dict[str, StatusSigner]
) -> None:
    token = sign(signers["330000"], claims())
    # Withdrawn after every earlier change (a grant may be under a second old), then asked
    # a second later.
    since = utc_now()
    withdrawn = federation.resign(_withdraw_status_issuers(federation.trust_list(), since))
    with pytest.raises(CredentialError, match="not granted"):
        verify_credential(token, withdrawn, at=since + timedelta(seconds=1))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "eyJhbGciOiJub25lIn0.eyJsaWQiOiJ4In0.",  # alg none
        "x" * 2000,
    ],
)
def test_garbage_is_input_error(federation: Federation, token: str) -> None:
    with pytest.raises(InputError):
        verify_credential(token, federation.trust_list(), at=utc_now())
