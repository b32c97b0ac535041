"""The federation trust list: accepted only when signed by the hub signer under the pinned root."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ca.authority import ROOT_CODE, get_authority, latest_certificate, load_issuer
from ca.ceremony import ROOT_KEY_NAME as ROOT_KEY
from ca.ceremony import TRUST_LIST_SIGNER_KEY
from ca.keys import FileKeyStore
from ca.profiles import (
    DOCUMENT_SIGNING_EKU,
    NATIONAL_ROOT,
    TRUST_LIST_SIGNER,
    Issuer,
    build_certificate,
)
from tests.conftest import Federation
from verifier.errors import InputError
from verifier.jose import MAX_COMPACT_JWS_BYTES
from verifier.timeutil import utc_now
from verifier.trust_list import (
    MAX_PAYLOAD_BYTES,
    TSL_SIGNING_EKU,
    TYP,
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustedService,
    TrustList,
    TrustListError,
    encode_payload,
    verify_trust_list,
)

Key = ec.EllipticCurvePrivateKey


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode("ascii")


def es256(key: Key, signing_input: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def jws(
    payload: bytes,
    key: Key | None,
    chain: list[x509.Certificate],
    **header: Any,
) -> str:
    """A compact JWS assembled by hand, so that any header and any algorithm can be forged."""
    header = {"alg": "ES256", "typ": TYP, "x5c": [b64(c) for c in chain], **header}
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(payload)}".encode()
    signature = es256(key, signing_input) if key is not None else b""
    return f"{signing_input.decode()}.{b64u(signature)}"


@dataclasses.dataclass
class Hub:
    token: str
    fingerprint: str
    trust_list: TrustList
    root: x509.Certificate
    root_key: Key
    signer: x509.Certificate
    signer_key: Key
    region: Issuer

    def sign(self, trust_list: TrustList, **header: Any) -> str:
        return jws(encode_payload(trust_list), self.signer_key, [self.signer, self.root], **header)


@pytest.fixture(scope="module")
def hub(federation: Federation) -> Hub:
    store = federation.runtime.key_store
    passphrase = federation.settings.key_passphrase_bytes() or b""
    root_key = FileKeyStore(federation.home / "keys-dev" / "root", passphrase).private_key(ROOT_KEY)
    with federation.runtime.database.transaction() as session:
        root = get_authority(session, ROOT_CODE).certificate
        signer = latest_certificate(session, TRUST_LIST_SIGNER).certificate
        region = load_issuer(session, store, "330000")
    signer_key = store.private_key(TRUST_LIST_SIGNER_KEY)
    assert isinstance(root_key, Key) and isinstance(signer_key, Key)
    token = federation.settings.trust_list_path.read_text()
    trust_list = verify_trust_list(token, federation.root_fingerprint)
    return Hub(
        token, federation.root_fingerprint, trust_list, root, root_key, signer, signer_key, region
    )


def rejected(hub: Hub, token: str | bytes, fragment: str, *, at: datetime | None = None) -> None:
    with pytest.raises(TrustListError, match=fragment):
        verify_trust_list(token, hub.fingerprint, at=at)


def test_accepts_the_dev_list(hub: Hub) -> None:
    trust_list = verify_trust_list(hub.token.encode(), hub.fingerprint.upper())
    assert trust_list == hub.trust_list
    assert trust_list.root_fingerprint == hub.fingerprint
    assert [r.code for r in trust_list.regions] == ["330000", "440000"]
    now = utc_now()
    services = list(trust_list.services(ServiceType.SEAL_CA))
    assert [s.region_code for s in services if s.granted_at(now)] == ["330000", "440000"]
    colons = ":".join(hub.fingerprint[i : i + 2] for i in range(0, 64, 2))
    assert verify_trust_list(hub.token, f"  {colons}\n") == trust_list
    # our hand-made JWS is accepted too, so the forgeries below fail for their forgery alone
    assert verify_trust_list(hub.sign(hub.trust_list), hub.fingerprint) == trust_list


def test_wrong_pinned_fingerprint(hub: Hub) -> None:
    with pytest.raises(TrustListError, match="pinned"):
        verify_trust_list(hub.token, hashlib.sha256(b"another root").hexdigest())
    with pytest.raises(InputError, match="64 hexadecimal"):
        verify_trust_list(hub.token, hub.fingerprint[:-1])


def test_tampered_payload(hub: Hub) -> None:
    header, payload, signature = hub.token.strip().split(".")
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    document["next_update"] = "2099-01-01T00:00:00Z"
    forged = b64u(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())
    rejected(hub, f"{header}.{forged}.{signature}", "signature")


def test_signed_by_a_region_ca_key(hub: Hub) -> None:
    token = jws(
        encode_payload(hub.trust_list),
        hub.region.private_key,  # type: ignore[arg-type]
        [hub.region.certificate, hub.root],
    )
    rejected(hub, token, "extended key usage")


def _root_issued_signer(hub: Hub, eku: tuple[x509.ObjectIdentifier, ...]) -> str:
    """A certificate the genuine root issued under the signer profile with other EKUs."""
    key = ec.generate_private_key(ec.SECP256R1())
    profile = dataclasses.replace(TRUST_LIST_SIGNER, extended_key_usage=eku)
    cert = build_certificate(
        profile,
        hub.signer.subject,
        key.public_key(),
        issuer=Issuer(hub.root, hub.root_key, NATIONAL_ROOT),
        # Valid when the module's list was issued, however long ago the fixture made it.
        not_before=hub.trust_list.issued_at - timedelta(minutes=1),
    )
    return jws(encode_payload(hub.trust_list), key, [cert, hub.root])


@pytest.mark.parametrize(
    ("eku", "fragment"),
    [
        ((), "no extended key usage"),
        ((DOCUMENT_SIGNING_EKU,), "not authorised to sign trust lists"),
        ((TSL_SIGNING_EKU, x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE), "not authorised"),
    ],
    ids=["no-eku", "document-signing-eku", "tsl-plus-any-eku"],
)
def test_root_issued_signer_without_the_tsl_signing_eku(
    hub: Hub, eku: tuple[x509.ObjectIdentifier, ...], fragment: str
) -> None:
    rejected(hub, _root_issued_signer(hub, eku), fragment)


def test_a_root_issued_signer_with_the_eku_is_accepted(hub: Hub) -> None:
    """The control for the EKU tests: the same construction with the right EKU passes."""
    token = _root_issued_signer(hub, (TSL_SIGNING_EKU,))
    assert verify_trust_list(token, hub.fingerprint) == hub.trust_list


def test_alg_none(hub: Hub) -> None:
    payload = encode_payload(hub.trust_list)
    rejected(hub, jws(payload, None, [hub.signer, hub.root], alg="none"), "'none' is not allowed")
    # an ES256 header with the signature stripped is no better
    rejected(hub, jws(payload, None, [hub.signer, hub.root]), "does not verify")


def test_hs256_keyed_with_the_signer_public_key(hub: Hub) -> None:
    """RFC 8725 2.1: an HMAC 'signature' whose secret is the (public) verification key."""
    public = hub.signer.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": TYP, "x5c": [b64(hub.signer), b64(hub.root)]}
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(encode_payload(hub.trust_list))}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    rejected(hub, f"{signing_input}.{b64u(mac)}", "'HS256' is not allowed")


def test_x5c_root_swapped_for_another_self_signed_root(hub: Hub) -> None:
    """An attacker's root with the same DN, its own signer: anchored, but not in the pin."""
    key = ec.generate_private_key(ec.SECP256R1())
    rogue_root = build_certificate(
        NATIONAL_ROOT, hub.root.subject, key.public_key(), self_signing_key=key
    )
    rogue = Issuer(rogue_root, key, NATIONAL_ROOT)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = build_certificate(
        TRUST_LIST_SIGNER, hub.signer.subject, signer_key.public_key(), issuer=rogue
    )
    rogue_list = dataclasses.replace(hub.trust_list, national_root=rogue_root)
    rejected(hub, jws(encode_payload(rogue_list), signer_key, [signer, rogue_root]), "pinned")
    # rogue signer presented with the genuine root: its signature does not chain
    rejected(
        hub,
        jws(encode_payload(hub.trust_list), signer_key, [signer, hub.root]),
        "not issued by the national root",
    )


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ({"typ": "JWT"}, "typ is 'JWT'"),
        ({"jku": "https://evil.example/jwks"}, r"forbidden parameter\(s\) \['jku'\]"),
        ({"crit": ["exp"]}, r"forbidden parameter\(s\) \['crit'\]"),
    ],
    ids=["wrong-typ", "jku", "crit"],
)
def test_header_the_verifier_must_refuse(hub: Hub, header: dict[str, Any], fragment: str) -> None:
    rejected(hub, hub.sign(hub.trust_list, **header), fragment)


def test_chain_of_wrong_length(hub: Hub) -> None:
    payload = encode_payload(hub.trust_list)
    for chain in ([hub.signer], [hub.signer, hub.root, hub.root]):
        rejected(hub, jws(payload, hub.signer_key, chain), "exactly")


def test_payload_naming_another_national_root(hub: Hub) -> None:
    other = dataclasses.replace(hub.trust_list, national_root=hub.region.certificate)
    rejected(hub, hub.sign(other), "national root other than the pinned one")


@pytest.mark.parametrize(
    "token",
    [b"", b"not a jws", b"\xff\xfe.\x00.\x01", "a.b.c", "e30.e30.", "x" * 100 + ".."],
    ids=["empty", "text", "binary", "abc", "empty-json", "junk-dots"],
)
def test_non_jws_garbage_is_input_error(hub: Hub, token: str | bytes) -> None:
    with pytest.raises(InputError):
        verify_trust_list(token, hub.fingerprint)


def test_oversized_input_is_input_error(hub: Hub) -> None:
    with pytest.raises(InputError, match="larger than"):
        verify_trust_list(b"e" * (MAX_COMPACT_JWS_BYTES + 1), hub.fingerprint)
    big = dataclasses.replace(hub.trust_list, operator="x" * MAX_PAYLOAD_BYTES)
    header, payload, _ = hub.sign(big).split(".")
    with pytest.raises(InputError, match="too large"):
        verify_trust_list(f"{header}.{payload}.{b64u(bytes(64))}", hub.fingerprint)


def test_list_issued_in_the_future(hub: Hub) -> None:
    now = utc_now().replace(microsecond=0)
    for ahead, accepted in ((timedelta(minutes=2), True), (timedelta(days=1), False)):
        future = dataclasses.replace(
            hub.trust_list, issued_at=now + ahead, next_update=now + ahead + timedelta(days=30)
        )
        if accepted:  # within the allowed clock skew
            assert verify_trust_list(hub.sign(future), hub.fingerprint, at=now).issued_at > now
        else:
            rejected(hub, hub.sign(future), "issued in the future", at=now)


def test_list_issued_before_its_signer_certificate(hub: Hub) -> None:
    early = hub.signer.not_valid_before_utc - timedelta(days=1)
    backdated = dataclasses.replace(hub.trust_list, issued_at=early)
    rejected(hub, hub.sign(backdated), "not valid when the list was issued")


def test_staleness(hub: Hub) -> None:
    trust_list = hub.trust_list
    assert not trust_list.is_stale(trust_list.issued_at)
    assert not trust_list.is_stale(trust_list.next_update)
    assert trust_list.is_stale(trust_list.next_update + timedelta(seconds=1))
    # a stale list is still authentic: callers turn staleness into INDETERMINATE
    late = trust_list.next_update + timedelta(days=1)
    assert verify_trust_list(hub.token, hub.fingerprint, at=late).is_stale(late)


def test_status_at_follows_a_granted_then_withdrawn_history(hub: Hub) -> None:
    t = [datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=n) for n in range(4)]
    service = TrustedService(
        region_code="330000",
        service_type=ServiceType.SEAL_CA,
        name="test",
        certificates=(hub.region.certificate,),
        history=(  # deliberately out of order
            StatusChange(ServiceStatus.GRANTED, t[2]),
            StatusChange(ServiceStatus.WITHDRAWN, t[1]),
            StatusChange(ServiceStatus.GRANTED, t[0]),
        ),
    )
    second = timedelta(seconds=1)
    assert service.status_at(t[0] - second) is None
    assert not service.granted_at(t[0] - second)
    assert service.status_at(t[0]) is ServiceStatus.GRANTED
    assert service.status_at(t[1] - second) is ServiceStatus.GRANTED
    assert service.status_at(t[1]) is ServiceStatus.WITHDRAWN
    assert not service.granted_at(t[1] + timedelta(hours=12))
    assert service.status_at(t[2]) is ServiceStatus.GRANTED
    assert service.granted_at(t[3])
