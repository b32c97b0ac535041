"""Status lists: the draft's own examples decode, a 131,072-entry list round-trips, and every
refusal holds (foreign or withdrawn signers, alg and typ confusion, stale lists, zip bombs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import tracemalloc
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from tests.verifier import offline_pki
from tests.verifier.offline_pki import NOW, Key, issue, listed_service, new_key
from verifier.certs import sha256_fingerprint
from verifier.errors import InputError
from verifier.status_list import (
    MAX_LIST_BYTES,
    MIN_ENTRIES,
    TYP,
    LicenceStatus,
    StatusListError,
    StatusListExpired,
    compress_list,
    decompress_list,
    encode_status_list,
    pack_statuses,
    sign_status_list,
    status_list_uri,
    status_value,
    verify_status_list,
)
from verifier.trust_list import (
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustedService,
    TrustList,
)

ZJ, GD = "330000", "440000"

# draft-ietf-oauth-status-list, section "Status List" and appendix "Test vectors for Status
# List encoding" (oauth-wg/draft-ietf-oauth-status-list: draft-ietf-oauth-status-list.md,
# examples/status_list_encoding_json.md, status_list_encoding2_json.md,
# status_list_encoding1_long_json.md, status_list_encoding2_long_json.md).
DRAFT_1BIT = ([1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1], "b9a3", "eNrbuRgAAhcBXQ")
DRAFT_2BIT = ([1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3], "c944f9", "eNo76fITAAPfAgc")
LONG_INDEXES = (0, 1993, 25460, 159495, 495669, 554353, 645645, 723232, 854545, 934534, 1000345)
LONG_1BIT_VALUES = (1,) * 11
LONG_2BIT_VALUES = (1, 2, 1, 3, 1, 1, 2, 1, 1, 2, 3)
LONG_1BIT_LST = (
    "eNrt3AENwCAMAEGogklACtKQPg9LugC9k_ACvreiogE"
    "AAKkeCQAAAAAAAAAAAAAAAAAAAIBylgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAXG9IAAAAAAAAAPwsJAAAAAAAAAAAAAAAvhsSAAAAAAAAAAA"
    "A7KpLAAAAAAAAAAAAAAAAAAAAAJsLCQAAAAAAAAAAADjelAAAAAAAAAAAKjDMAQAAA"
    "ACAZC8L2AEb"
)
LONG_2BIT_LST = (
    "eNrt2zENACEQAEEuoaBABP5VIO01fCjIHTMStt9ovGV"
    "IAAAAAABAbiEBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEB5WwIAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAID0ugQAAAAAAAAAAAAAAAAAQG12SgAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAOCSIQEAAAAAAAAAAAAAAAAAAAAAAAD8ExIAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAwJEuAQAAAAAAAAAAAAAAAAAAAAAAAMB9S"
    "wIAAAAAAAAAAAAAAAAAAACoYUoAAAAAAAAAAAAAAEBqH81gAQw"
)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


CA_KEY = new_key()
CA_NAME = offline_pki.name("Test region CA")
CA = issue((CA_KEY, CA_NAME), "Test region CA", CA_KEY, ca=True)
ISSUER_KEY, GD_ISSUER_KEY = new_key(), new_key()
ISSUER = issue((CA_KEY, CA_NAME), "330000 status issuer", ISSUER_KEY)
GD_ISSUER = issue((CA_KEY, CA_NAME), "440000 status issuer", GD_ISSUER_KEY)
CHAIN = [ISSUER, CA]


def service(
    region: str,
    certificate: x509.Certificate,
    service_type: ServiceType = ServiceType.STATUS_ISSUER,
    history: tuple[StatusChange, ...] | None = None,
) -> TrustedService:
    return listed_service(region, [certificate], service_type, history)


def trust_list(*services: TrustedService) -> TrustList:
    return offline_pki.trust_list(CA, *services)


LISTED = trust_list(service(ZJ, ISSUER), service(GD, GD_ISSUER))
EMPTY = pack_statuses([0] * MIN_ENTRIES)


def payload(
    packed: bytes = EMPTY,
    region: str = ZJ,
    issued_at: datetime = NOW - timedelta(minutes=10),
    lifetime: timedelta = timedelta(hours=24),
) -> bytes:
    return encode_status_list(
        packed,
        region=region,
        issued_at=issued_at,
        expires_at=issued_at + lifetime,
        ttl=timedelta(hours=1),
    )


def claims(**changes: Any) -> dict[str, Any]:
    """Genuine claims, edited; `None` removes a claim."""
    result: dict[str, Any] = json.loads(payload())
    for name, value in changes.items():
        if value is None:
            result.pop(name)
        else:
            result[name] = value
    return result


def forge(
    body: dict[str, Any] | bytes,
    key: Key | bytes | None = ISSUER_KEY,
    chain: Sequence[x509.Certificate] = CHAIN,
    **header: Any,
) -> str:
    """A token assembled by hand, so that any header, claim or algorithm can be forged."""
    base = {
        "alg": "ES256",
        "typ": TYP,
        "kid": sha256_fingerprint(chain[0]),
        "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain],
    }
    full = {k: v for k, v in {**base, **header}.items() if v is not None}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signing_input = f"{b64u(json.dumps(full).encode())}.{b64u(raw)}".encode()
    if isinstance(key, bytes):
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif key is None:
        signature = b""
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{b64u(signature)}"


def verify(token: str | bytes, listed: TrustList = LISTED, **kw: Any) -> Any:
    return verify_status_list(token, listed, at=kw.pop("at", NOW), **kw)


def rejected(token: str | bytes, fragment: str, listed: TrustList = LISTED, **kw: Any) -> None:
    with pytest.raises(StatusListError, match=fragment) as caught:
        verify(token, listed, **kw)
    assert type(caught.value) is StatusListError


@pytest.mark.parametrize(("statuses", "hex_bytes", "lst"), [DRAFT_1BIT, DRAFT_2BIT])
def test_the_drafts_examples(statuses: list[int], hex_bytes: str, lst: str) -> None:
    bits = 1 if len(statuses) == 16 else 2
    assert pack_statuses(statuses, bits).hex() == hex_bytes
    assert decompress_list(lst).hex() == hex_bytes
    # The draft's examples are DEFLATE at level 9; ours use a faster level, same decoding.
    assert compress_list(bytes.fromhex(hex_bytes), 9) == lst
    assert decompress_list(compress_list(bytes.fromhex(hex_bytes))).hex() == hex_bytes
    packed = bytes.fromhex(hex_bytes)
    assert [status_value(packed, bits, i) for i in range(len(statuses))] == statuses


@pytest.mark.parametrize(
    ("bits", "lst", "values"),
    [(1, LONG_1BIT_LST, LONG_1BIT_VALUES), (2, LONG_2BIT_LST, LONG_2BIT_VALUES)],
)
def test_the_drafts_test_vectors_of_2_to_the_20_entries(
    bits: int, lst: str, values: tuple[int, ...]
) -> None:
    packed = decompress_list(lst)
    assert len(packed) * 8 // bits == 2**20
    assert [status_value(packed, bits, i) for i in LONG_INDEXES] == list(values)
    expected = [0] * 2**20
    for index, value in zip(LONG_INDEXES, values, strict=True):
        expected[index] = value
    assert pack_statuses(expected, bits) == packed


def test_round_trip_of_131072_entries() -> None:
    rng = random.Random(20260301)
    values = [rng.choice((0, 0, 0, 0, 1, 2)) for _ in range(MIN_ENTRIES)]
    values[0], values[1], values[2], values[-1] = 1, 2, 3, 1
    token = sign_status_list(payload(pack_statuses(values)), ISSUER_KEY, CHAIN)
    status_list = verify(token, region=ZJ)
    assert status_list.subject == status_list_uri(ZJ) == "https://status.govtrust.gov.cn/330000"
    assert (status_list.region, status_list.bits, status_list.size) == (ZJ, 2, MIN_ENTRIES)
    assert status_list.issued_at == NOW - timedelta(minutes=10)
    assert status_list.expires_at == NOW + timedelta(hours=23, minutes=50)
    assert status_list.ttl == timedelta(hours=1)
    assert status_list.signer == ISSUER
    meaning = {0: "valid", 1: "revoked", 2: "suspended", 3: "superseded"}
    assert [str(status_list.status(i)) for i in range(MIN_ENTRIES)] == [meaning[v] for v in values]
    assert status_list.status(2) is LicenceStatus.SUPERSEDED
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "statuslist+jwt" and header["alg"] == "ES256"
    assert header["kid"] == sha256_fingerprint(ISSUER)
    assert verify(token.encode()).size == MIN_ENTRIES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, LicenceStatus.VALID),
        (1, LicenceStatus.REVOKED),
        (2, LicenceStatus.SUSPENDED),
        (3, LicenceStatus.SUPERSEDED),
    ],
)
def test_each_two_bit_value_has_its_meaning(value: int, expected: LicenceStatus) -> None:
    """3 is application-specific in the draft; govtrust's profile reads it as superseded."""
    index = 77_777
    packed = pack_statuses([value if i == index else 0 for i in range(MIN_ENTRIES)])
    status_list = verify(sign_status_list(payload(packed), ISSUER_KEY, CHAIN))
    assert status_list.value(index) == value
    assert status_list.status(index) is expected
    assert status_list.status(index - 1) is LicenceStatus.VALID


@pytest.mark.parametrize("index", [-1, MIN_ENTRIES, 2**64, True, 1.0])
def test_index_out_of_range(index: Any) -> None:
    status_list = verify(sign_status_list(payload(), ISSUER_KEY, CHAIN))
    with pytest.raises(StatusListError, match=r"outside|not an integer"):
        status_list.status(index)


def test_header_confusion_is_refused() -> None:
    body = claims()
    rejected(forge(body, typ="JWT"), "typ")
    rejected(forge(body, typ="gt-id+jwt"), "typ")
    rejected(forge(body, typ=None), "typ")
    rejected(forge(body, None, alg="none"), "not allowed")
    rejected(forge(body, b"secret", alg="HS256"), "not allowed")
    rejected(forge(body, alg="ES384"), "not allowed")
    rejected(forge(body, jku="https://evil.example/keys"), "forbidden")
    rejected(forge(body, kid="12"), "kid")
    rejected(forge(body, x5c=None), "x5c")
    rejected(forge(body, chain=[ISSUER, CA, CA, CA]), "x5c")
    rejected(forge(body, x5c=["not base64!"]), "x5c")
    rejected("not.a.jws", "status list")
    rejected("garbage", "status list")


def test_signature_and_signer_are_checked() -> None:
    good = forge(claims())
    head, _, signature = good.split(".")
    other = b64u(json.dumps(claims(ttl=7200)).encode())
    rejected(f"{head}.{other}.{signature}", "signature")
    rejected(forge(claims(), GD_ISSUER_KEY), "signature")
    stranger_key = new_key()
    stranger = issue((CA_KEY, CA_NAME), "330000 status issuer", stranger_key)
    rejected(forge(claims(), stranger_key, [stranger, CA]), "not listed as a status issuer")


@pytest.mark.parametrize(
    "service_type", [t for t in ServiceType if t is not ServiceType.STATUS_ISSUER], ids=str
)
def test_a_certificate_listed_for_another_service_is_refused(service_type: ServiceType) -> None:
    listed = trust_list(service(ZJ, ISSUER, service_type))
    rejected(forge(claims()), "not listed as a status issuer", listed)


def test_withdrawn_or_not_yet_granted_issuers_are_refused() -> None:
    withdrawn = (
        StatusChange(ServiceStatus.GRANTED, NOW - timedelta(days=30)),
        StatusChange(ServiceStatus.WITHDRAWN, NOW - timedelta(minutes=5)),
    )
    listed = trust_list(service(ZJ, ISSUER, history=withdrawn))
    token = forge(claims())  # issued 10 minutes ago, while still granted
    rejected(token, "withdrawn", listed)
    assert verify(token, listed, at=NOW - timedelta(minutes=6)).region == ZJ
    late = (StatusChange(ServiceStatus.GRANTED, NOW - timedelta(minutes=1)),)
    rejected(token, "not granted", trust_list(service(ZJ, ISSUER, history=late)))
    expired_key = new_key()
    expired_cert = issue((CA_KEY, CA_NAME), "old", expired_key, not_after=NOW - timedelta(hours=1))
    listed = trust_list(service(ZJ, expired_cert))
    rejected(forge(claims(), expired_key, [expired_cert]), "not valid at iat", listed)


def test_region_and_subject_must_match_the_signer() -> None:
    rejected(forge(claims()), "not region 440000", region=GD)
    rejected(forge(claims(sub=status_list_uri(GD))), "not the list URI of region 330000")
    rejected(forge(claims(sub="https://status.govtrust.gov.cn/330000/")), "not the list URI")
    gd = sign_status_list(payload(region=GD), GD_ISSUER_KEY, [GD_ISSUER, CA])
    assert verify(gd, region=GD).region == GD


def test_stale_lists_raise_status_list_expired() -> None:
    token = forge(claims())
    expires_at = NOW + timedelta(hours=23, minutes=50)
    assert verify(token, at=expires_at - timedelta(seconds=1)).expires_at == expires_at
    for at in (expires_at, expires_at + timedelta(days=3)):
        with pytest.raises(StatusListExpired, match="expired") as caught:
            verify(token, at=at)
        assert caught.value.status_list.expires_at == expires_at
        assert caught.value.status_list.status(0) is LicenceStatus.VALID
    # Only an authentic list is merely stale: a forged, expired one is refused outright.
    rejected(forge(claims(), GD_ISSUER_KEY), "signature", at=expires_at)
    assert issubclass(StatusListExpired, StatusListError)
    assert issubclass(StatusListError, InputError)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"sub": None}, "lacks claim"),
        ({"iat": None}, "lacks claim"),
        ({"exp": None}, "lacks claim"),
        ({"ttl": None}, "lacks claim"),
        ({"status_list": None}, "lacks claim"),
        ({"iat": "yesterday"}, "NumericDate"),
        ({"exp": 1.5}, "NumericDate"),
        ({"exp": 10**20}, "out of range"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": -5}, "ttl"),
        ({"ttl": 3600.0}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"status_list": "eNo76fITAAPfAgc"}, "not an object"),
        ({"status_list": {"bits": 2}}, "lst is not a string"),
        ({"status_list": {"lst": compress_list(EMPTY)}}, "bits must be one of"),
    ],
)
def test_claims_are_checked(changes: dict[str, Any], fragment: str) -> None:
    rejected(forge(claims(**changes)), fragment)


def test_times_are_checked() -> None:
    issued = int((NOW + timedelta(minutes=6)).timestamp())
    rejected(forge(claims(iat=issued, exp=issued + 3600)), "issued in the future")
    base = claims()
    rejected(forge(claims(exp=base["iat"])), "expires before it was issued")


@pytest.mark.parametrize("bits", [1, 4, 8, 3, 0, True])
def test_only_two_bit_lists_are_ours(bits: Any) -> None:
    packed = b"\x00" * (MIN_ENTRIES // 4)
    body = claims(status_list={"bits": bits, "lst": compress_list(packed)})
    rejected(forge(body), "bits")


def test_lists_shorter_than_the_minimum_are_refused() -> None:
    short = pack_statuses([0] * (MIN_ENTRIES - 4))
    rejected(forge(claims(status_list={"bits": 2, "lst": compress_list(short)})), "fewer than")
    with pytest.raises(StatusListError, match="fewer than"):
        payload(short)


@pytest.mark.parametrize(
    ("lst", "fragment"),
    [
        (compress_list(EMPTY) + "=", "base64url"),
        (compress_list(EMPTY).replace("e", "+", 1), "base64url"),
        ("eNo76fITAAPfAgc"[:-1] + "d", "canonical"),
        ("A", "base64url"),
        (b64u(zlib.compress(EMPTY)[2:]), "not a ZLIB"),
        (b64u(zlib.compress(EMPTY)[:-3]), "truncated"),
        (b64u(zlib.compress(EMPTY) + b"\x00"), "after the end"),
        (b64u(zlib.compress(EMPTY) + zlib.compress(EMPTY)), "after the end"),
        (b64u(b"\x1f\x8b" + zlib.compress(EMPTY)[2:]), "not a ZLIB"),
    ],
)
def test_malformed_lst_is_refused(lst: str, fragment: str) -> None:
    with pytest.raises(StatusListError, match=fragment):
        decompress_list(lst)
    rejected(forge(claims(status_list={"bits": 2, "lst": lst})), fragment)


def zeros_compressed(total: int) -> bytes:
    """`total` zero bytes DEFLATEd without ever holding them: a bomb of about total/1000."""
    compressor = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(total // len(chunk))]
    return b"".join([*parts, compressor.flush()])


def test_a_zip_bomb_is_refused_quickly_and_without_its_memory() -> None:
    bomb = zeros_compressed(100 * 1024 * 1024)
    assert len(bomb) < 200_000
    token = forge(claims(status_list={"bits": 2, "lst": b64u(bomb)}))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        rejected(token, f"more than {MAX_LIST_BYTES} bytes")
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_LIST_BYTES + 8 * 1024 * 1024, peak
    assert elapsed < 5, elapsed


def test_a_list_of_exactly_the_cap_is_accepted() -> None:
    assert len(decompress_list(compress_list(bytes(1000)), max_bytes=1000)) == 1000
    with pytest.raises(StatusListError, match="more than 999 bytes"):
        decompress_list(compress_list(bytes(1000)), max_bytes=999)


def test_producer_helpers_refuse_what_verifiers_refuse() -> None:
    with pytest.raises(StatusListError, match="does not fit in 2 bits"):
        pack_statuses([0, 4])
    with pytest.raises(StatusListError, match="does not fit"):
        pack_statuses([0, -1])
    with pytest.raises(StatusListError, match="bits must be one of"):
        pack_statuses([0], 3)
    with pytest.raises(StatusListError, match="2 bits per entry"):
        encode_status_list(
            EMPTY, region=ZJ, issued_at=NOW, expires_at=NOW + timedelta(hours=1),
            ttl=timedelta(hours=1), bits=1,
        )  # fmt: skip
    with pytest.raises(StatusListError, match="ttl"):
        encode_status_list(
            EMPTY, region=ZJ, issued_at=NOW, expires_at=NOW + timedelta(hours=1),
            ttl=timedelta(seconds=0.5),
        )  # fmt: skip
    with pytest.raises(StatusListError, match="expires before"):
        payload(lifetime=timedelta(0))
    with pytest.raises(StatusListError, match="x5c"):
        sign_status_list(payload(), ISSUER_KEY, [])
