"""Unified identity tokens: what the issuer makes verifies, and the attacks of issue #4 fail."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ca.authority import current_signer_certificate
from ca.keys import KeyRef
from ca.profiles import SEAL
from identity.tokens import IdentityTokenIssuer
from tests.conftest import Federation, assert_one_line_error, run_cli
from verifier.errors import InputError
from verifier.identity_token import (
    MAX_TOKEN_BYTES,
    TYP,
    IdentityTokenError,
    key_id,
    verify_identity_token,
)
from verifier.timeutil import utc_now
from verifier.trust_list import (
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustList,
)

AUDIENCE = "https://services.440000.gov.cn"
Key = ec.EllipticCurvePrivateKey


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode("ascii")


def unb64u(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def forge(
    claims: dict[str, Any],
    key: Key | None,
    chain: list[x509.Certificate],
    **header: Any,
) -> str:
    """A token assembled by hand, so any header, claim or algorithm can be forged."""
    base = {"alg": "ES256", "typ": TYP, "kid": key_id(chain[0]), "x5c": [b64(c) for c in chain]}
    return _assemble({**base, **header}, json.dumps(claims).encode(), key)


def _assemble(header: dict[str, Any], payload: bytes, key: Key | None) -> str:
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(payload)}"
    signature = b""
    if key is not None:
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{b64u(signature)}"


@dataclasses.dataclass
class Idp:
    issuer: IdentityTokenIssuer
    trust_list: TrustList
    federation: Federation

    @property
    def key(self) -> Key:
        return self.issuer.private_key

    @property
    def chain(self) -> list[x509.Certificate]:
        return [self.issuer.certificate, self.issuer.ca_certificate]

    def token(self, **kwargs: Any) -> str:
        return self.issuer.issue("sub-abc123", AUDIENCE, ["citizen"], "loa3", **kwargs)

    def claims(self, **changes: Any) -> dict[str, Any]:
        """The claims of a genuine token, edited; `None` removes a claim."""
        payload = self.token().split(".")[1]
        claims = json.loads(unb64u(payload))
        for name, value in changes.items():
            if value is None:
                claims.pop(name)
            else:
                claims[name] = value
        return claims

    def forge(self, key: Key | None = None, **changes: Any) -> str:
        return forge(self.claims(**changes), key or self.key, self.chain)


@pytest.fixture(scope="module")
def idp(federation: Federation) -> Idp:
    return Idp(federation.runtime.identity_issuer("330000"), federation.trust_list(), federation)


def verify(idp: Idp, token: str | bytes, *, audience: str | None = AUDIENCE, **kw: Any) -> Any:
    return verify_identity_token(
        token, kw.get("trust_list", idp.trust_list), audience=audience, at=kw.get("at", utc_now())
    )


def rejected(idp: Idp, token: str | bytes, fragment: str, **kw: Any) -> None:
    with pytest.raises(IdentityTokenError, match=fragment):
        verify(idp, token, **kw)


def test_valid_token_with_and_without_audience(idp: Idp) -> None:
    token = idp.token()
    claims = verify(idp, token)
    assert claims.issuer == f"{idp.federation.settings.public_base_url}/api/v1/identity/330000"
    assert (claims.subject, claims.region, claims.roles, claims.acr) == (
        "sub-abc123",
        "330000",
        ("citizen",),
        "loa3",
    )
    assert claims.audience == (AUDIENCE,)
    assert claims.signer_region == "330000"
    assert claims.signer_certificate == idp.issuer.certificate
    assert claims.expires_at - claims.issued_at == timedelta(minutes=10)
    assert verify(idp, token.encode(), audience=None) == claims
    # the hand-forging helper makes acceptable tokens, so each attack fails for its forgery
    assert verify(idp, idp.forge()).subject == "sub-abc123"
    assert verify(idp, idp.forge(aud=["other", AUDIENCE])).audience == ("other", AUDIENCE)


def test_runtime_caches_the_issuer(federation: Federation, idp: Idp) -> None:
    assert federation.runtime.identity_issuer("330000") is idp.issuer
    assert federation.runtime.identity_issuer("440000").region == "440000"


def test_alg_none(idp: Idp) -> None:
    header = {"alg": "none", "typ": TYP, "kid": key_id(idp.chain[0]), "x5c": [b64(idp.chain[0])]}
    token = _assemble(header, json.dumps(idp.claims()).encode(), None)
    rejected(idp, token, "'none' is not allowed")


def test_hs256_keyed_with_the_idp_public_key(idp: Idp) -> None:
    """RFC 8725 2.1: an HMAC whose secret is the (public) verification key."""
    certificate = idp.issuer.certificate
    header = {"alg": "HS256", "typ": TYP, "kid": key_id(certificate), "x5c": [b64(certificate)]}
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(idp.claims()).encode())}"
    for secret in (
        certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        certificate.public_bytes(Encoding.DER),
    ):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        rejected(idp, f"{signing_input}.{b64u(mac)}", "'HS256' is not allowed")


def test_valid_signature_by_a_certificate_not_in_the_trust_list(idp: Idp) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = utc_now()
    rogue = (
        x509.CertificateBuilder()
        .subject_name(idp.issuer.certificate.subject)
        .issuer_name(idp.issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    rejected(idp, forge(idp.claims(), key, [rogue]), "not listed as an identity provider")
    # the genuine certificate in x5c does not help a foreign key
    rejected(idp, forge(idp.claims(), key, idp.chain), "signature")


def _idp_withdrawn(federation: Federation, trust_list: TrustList, since: datetime) -> TrustList:
    def edit(service: Any) -> Any:
        if service.service_type is not ServiceType.IDENTITY_PROVIDER:
            return service
        change = StatusChange(ServiceStatus.WITHDRAWN, since.replace(microsecond=0))
        return dataclasses.replace(service, history=(*service.history, change))

    regions = tuple(
        dataclasses.replace(r, services=tuple(edit(s) for s in r.services))
        if r.code == "330000"
        else r
        for r in trust_list.regions
    )
    return federation.resign(dataclasses.replace(trust_list, regions=regions))


def _granted_since(trust_list: TrustList) -> datetime:
    (service,) = (
        s for s in trust_list.services(ServiceType.IDENTITY_PROVIDER) if s.region_code == "330000"
    )
    return service.history[-1].since


def test_idp_withdrawn_before_iat(idp: Idp) -> None:
    granted = _granted_since(idp.trust_list)
    withdrawn = _idp_withdrawn(idp.federation, idp.trust_list, granted + timedelta(seconds=1))
    after = granted + timedelta(seconds=2)
    rejected(idp, idp.token(now=after), "not granted", trust_list=withdrawn, at=after)
    # withdrawn between iat and verification: iat is only the signer's claim, so refused too
    at = granted + timedelta(seconds=30)
    rejected(idp, idp.token(now=granted), "not granted", trust_list=withdrawn, at=at)
    # control: a withdrawal still to come leaves today's tokens valid
    later = _idp_withdrawn(idp.federation, idp.trust_list, granted + timedelta(hours=1))
    assert verify(idp, idp.token(now=after), trust_list=later, at=after).region == "330000"


def test_expired(idp: Idp) -> None:
    now = utc_now()
    token = idp.token(now=now, lifetime=timedelta(minutes=10))
    rejected(idp, token, "expired", at=now + timedelta(minutes=12))
    # within the 60 s skew an expiry just passed is still tolerated
    assert verify(idp, token, at=now + timedelta(seconds=630)).subject == "sub-abc123"
    rejected(idp, token, "expired", at=now + timedelta(seconds=660))


def test_not_yet_valid(idp: Idp) -> None:
    now = utc_now()
    rejected(idp, idp.token(now=now + timedelta(minutes=5)), "not yet valid", at=now)
    assert verify(idp, idp.token(now=now + timedelta(seconds=30)), at=now)
    nbf = int((now + timedelta(minutes=3)).timestamp())
    rejected(idp, idp.forge(nbf=nbf), r"not yet valid \(nbf\)", at=now)


def test_lifetime_over_fifteen_minutes(idp: Idp) -> None:
    claims = idp.claims()
    rejected(idp, idp.forge(exp=claims["iat"] + 15 * 60 + 1), "lifetime exceeds 15 minutes")
    rejected(idp, idp.forge(exp=claims["iat"]), "expires before it was issued")
    with pytest.raises(InputError, match="lifetime"):
        idp.token(lifetime=timedelta(minutes=16))


def test_wrong_audience(idp: Idp) -> None:
    rejected(
        idp, idp.token(), "not for audience 'https://evil.example'", audience="https://evil.example"
    )


def test_tampered_payload(idp: Idp) -> None:
    header, payload, signature = idp.token().split(".")
    claims = json.loads(unb64u(payload))
    claims["roles"] = ["operator"]
    forged = f"{header}.{b64u(json.dumps(claims).encode())}.{signature}"
    rejected(idp, forged, "signature does not verify")


def test_kid_not_matching_x5c(idp: Idp) -> None:
    claims = idp.claims()
    for kid in (key_id(idp.issuer.ca_certificate), key_id(idp.chain[0]).upper(), None):
        header = {"alg": "ES256", "typ": TYP, "x5c": [b64(c) for c in idp.chain]}
        if kid is not None:
            header["kid"] = kid
        token = _assemble(header, json.dumps(claims).encode(), idp.key)
        rejected(idp, token, "kid is not the SHA-256")


def test_seal_certificate_key_cannot_sign_tokens(idp: Idp) -> None:
    """A genuine 330000 certificate (a department seal) chains to the same region CA but is
    not listed as an identity provider."""
    runtime = idp.federation.runtime
    with runtime.database.transaction() as session:
        row = current_signer_certificate(session, "330000", SEAL, utc_now())
        assert row is not None and row.key_ref is not None
        certificate, key_ref = row.certificate, KeyRef.parse(row.key_ref)
    key = runtime.key_stores.private_key(key_ref)
    assert isinstance(key, Key)
    token = forge(idp.claims(), key, [certificate, idp.issuer.ca_certificate])
    rejected(idp, token, "not listed as an identity provider")
    # nor does the region CA itself count as an identity provider
    region_ca = runtime.issuer("330000")
    assert isinstance(region_ca.private_key, Key)
    token = forge(idp.claims(), region_ca.private_key, [region_ca.certificate])
    rejected(idp, token, "not listed as an identity provider")


def test_region_claim_of_another_region(idp: Idp) -> None:
    rejected(idp, idp.forge(region="440000"), "claims region '440000'")
    issuer_440000 = idp.claims()["iss"].replace("330000", "440000")
    rejected(idp, idp.forge(iss=issuer_440000), "not the issuer URL of region 330000")
    # 440000's genuine IdP cannot speak for 330000 either
    other = idp.federation.runtime.identity_issuer("440000")
    token = forge(idp.claims(), other.private_key, [other.certificate, other.ca_certificate])
    rejected(idp, token, "claims region '330000' but its signer is listed for 440000")


@pytest.mark.parametrize(
    "name", ["iss", "sub", "aud", "exp", "iat", "jti", "acr", "region", "roles"]
)
def test_missing_claim(idp: Idp, name: str) -> None:
    rejected(idp, idp.forge(**{name: None}), f"lacks claim\\(s\\) \\['{name}'\\]")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"iat": "now"}, "'iat' is not a whole NumericDate"),
        ({"exp": True}, "'exp' is not a whole NumericDate"),
        ({"sub": ""}, "'sub' is not a non-empty string"),
        ({"aud": [1]}, "'aud' is not a string or list"),
        ({"roles": "citizen"}, "'roles' is not a list of strings"),
    ],
    ids=["iat-string", "exp-bool", "sub-empty", "aud-int", "roles-string"],
)
def test_claim_of_the_wrong_type(idp: Idp, changes: dict[str, Any], fragment: str) -> None:
    rejected(idp, idp.forge(**changes), fragment)


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ({"typ": "JWT"}, "typ is 'JWT'"),
        ({"jku": "https://evil.example/jwks"}, "forbidden parameter"),
        ({"x5u": "https://evil.example/cert"}, "forbidden parameter"),
        ({"crit": ["exp"]}, "forbidden parameter"),
    ],
    ids=["typ-jwt", "jku", "x5u", "crit"],
)
def test_header_refused(idp: Idp, header: dict[str, Any], fragment: str) -> None:
    base = {"alg": "ES256", "typ": TYP, "kid": key_id(idp.chain[0])}
    base["x5c"] = [b64(c) for c in idp.chain]
    token = _assemble({**base, **header}, json.dumps(idp.claims()).encode(), idp.key)
    rejected(idp, token, fragment)


def test_duplicate_claim_names(idp: Idp) -> None:
    header = {"alg": "ES256", "typ": TYP, "kid": key_id(idp.chain[0])}
    header["x5c"] = [b64(c) for c in idp.chain]
    body = json.dumps(idp.claims())[:-1] + ', "region": "440000"}'
    rejected(idp, _assemble(header, body.encode(), idp.key), "repeat a member name")


@pytest.mark.parametrize(
    "token", ["", "not a token", "a.b.c", "e30.e30.", "x" * (MAX_TOKEN_BYTES + 1)]
)
def test_malformed_input_is_input_error(idp: Idp, token: str) -> None:
    with pytest.raises(InputError):
        verify(idp, token)


def test_cli_verifies_a_token(federation: Federation, idp: Idp, tmp_path: Path) -> None:
    token = idp.token()
    result = run_cli(federation, "verify", token)
    assert result.returncode == 0, result.stderr
    assert "sub-abc123" in result.stdout and "330000" in result.stdout
    assert "Audience checked: False" in result.stdout
    token_file = tmp_path / "token.jwt"
    token_file.write_text(token + "\n")
    result = run_cli(federation, "verify", str(token_file), "--audience", AUDIENCE, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "VALID" and report["audience_checked"] is True
    assert report["claims"]["roles"] == ["citizen"]


def test_cli_refuses_expired_and_wrong_audience(federation: Federation, idp: Idp) -> None:
    expired = idp.token(now=datetime.now(UTC) - timedelta(hours=1))
    result = run_cli(federation, "verify", expired)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.strip().splitlines() == ["INVALID: identity token has expired"]
    result = run_cli(federation, "verify", idp.token(), "--audience", "https://evil.example")
    assert result.returncode == 1 and "not for audience" in result.stderr


def test_cli_garbage_token_is_bad_input(federation: Federation) -> None:
    assert_one_line_error(run_cli(federation, "verify", "e30.e30.e30"), "JWS")
