"""An RFC 3161 time-stamping authority: one per region, signing with the region's TSA key.

`TimeStampAuthority.respond` turns a DER TimeStampReq into a DER TimeStampResp. The
certificate, key and every constant part of a token are prepared once; a request costs
one parse, one ECDSA signature and the DER of the reply. Serial numbers come from blocks
reserved in the shared `ca_counter` table, so the database is touched once per block.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy.orm import Session

from ca.authority import current_signer_certificate
from ca.errors import CaError
from ca.keys import KeyRef, KeyStore, KeyStores
from ca.models import Authority
from ca.profiles import TSA
from verifier.errors import InputError, NotFoundError
from verifier.timeutil import utc_now

# ETSI EN 319 421 "best practices time-stamp policy" (BTSP, itu-t(0) identified-organization(4)
# etsi(0) time-stamp-policy(2023) policy-identifiers(1) best-practices-ts-policy(1)). It is
# the one standard policy a relying party (and the EU trust-list tooling) recognises; its
# requirements match what this TSA does: accuracy of 1 s or better, ESSCertIDv2 in the
# token, SHA-256 or stronger. govtrust has no OID arc of its own (see ca/profiles.py).
TSA_POLICY = "0.4.0.2023.1.1"
ACCURACY_SECONDS = 1
MAX_NONCE_BITS = 512

# Accepted message-imprint algorithms and their digest lengths (SHA-1 and MD5 are refused).
IMPRINT_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}

# AlgorithmIdentifier for SHA-256 with absent parameters, as RFC 5754 2 recommends; built
# from DER because asn1crypto would add NULL parameters to one made from a dict.
_SHA256_DER = bytes.fromhex("300b0609608648016503040201")

Transaction = Callable[[], AbstractContextManager[Session]]


class TimeStampResp(tsp.TimeStampResp):
    """RFC 3161 TimeStampResp; parses and encodes rejections, which carry no token."""

    # asn1crypto makes the token mandatory; RFC 3161 2.4.2 leaves it out of a rejection.
    _fields = [  # noqa: RUF012
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class UnknownTsa(CaError, NotFoundError):
    """No time-stamping authority runs for the requested region."""


class _Rejection(Exception):
    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


class SerialAllocator:
    """Token serial numbers that need no database: the time in nanoseconds, shifted left 32
    bits, plus 32 random bits; strictly increasing within a process.

    A shared counter would put a database write into every timestamp, and with SQLite that
    write waits on any transaction that holds the database (such as the issuance that asks
    for the timestamp). Two processes collide only by drawing the same nanosecond and the
    same 32 random bits. 96 bits stay well within RFC 3161's 160-bit limit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        candidate = (time.time_ns() << 32) | secrets.randbits(32)
        with self._lock:
            self._last = max(candidate, self._last + 1)
            return self._last


@dataclass(frozen=True)
class _Request:
    imprint_der: bytes
    nonce: int | None
    cert_req: bool


# DER tags of the universal types and context tags the reply is assembled from.
_INTEGER, _OCTET_STRING, _GENERALIZED_TIME, _SEQUENCE, _SET = 0x02, 0x04, 0x18, 0x30, 0x31
_CONTEXT_0 = 0xA0  # [0], constructed (explicit, or implicit over a SET/SEQUENCE)


def _tlv(tag: int, *contents: bytes) -> bytes:
    body = b"".join(contents)
    if len(body) < 0x80:
        return bytes((tag, len(body))) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + body


def _integer(value: int) -> bytes:
    width = ((value if value >= 0 else ~value).bit_length() + 8) // 8
    return _tlv(_INTEGER, value.to_bytes(width, "big", signed=True))


_IMPRINT_ALGORITHMS = {
    (name, with_null): _tlv(
        _SEQUENCE, algos.DigestAlgorithmId(name).dump(), core.Null().dump() if with_null else b""
    )
    for name in IMPRINT_DIGEST_SIZES
    for with_null in (False, True)
}


class TimeStampAuthority:
    """One region's TSA: certificate, key, issuing chain, policy, accuracy and serials."""

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey,
        chain: tuple[x509.Certificate, ...],
        serials: SerialAllocator,
    ) -> None:
        _check_tsa_certificate(certificate, private_key)
        self.certificate = certificate
        self.chain = chain
        self.policy = TSA_POLICY
        self.accuracy = timedelta(seconds=ACCURACY_SECONDS)
        self._key = private_key
        self._serials = serials
        # Everything that does not change between tokens is encoded once, here, with
        # asn1crypto; `_token` only splices these with the per-request fields. Building each
        # reply with asn1crypto objects ran at ~1,500/s, 40 times slower than the signature.
        issuer_name = asn1_x509.Name.load(certificate.issuer.public_bytes())
        tsa_name = asn1_x509.GeneralName(
            name="directory_name", value=asn1_x509.Name.load(certificate.subject.public_bytes())
        )
        self._tst_head = _integer(1) + core.ObjectIdentifier(TSA_POLICY).dump()
        self._tst_accuracy = tsp.Accuracy({"seconds": ACCURACY_SECONDS}).dump()
        self._tst_tsa = _tlv(_CONTEXT_0, tsa_name.dump())
        self._content_type_attr = cms.CMSAttribute(
            {"type": "content_type", "values": ["tst_info"]}
        ).dump()
        self._message_digest_oid = cms.CMSAttributeType("message_digest").dump()
        # hashAlgorithm is left out of the ESSCertIDv2: SHA-256 is its DER default.
        cert_id = tsp.ESSCertIDv2(
            {
                "cert_hash": hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest(),
                "issuer_serial": {
                    "issuer": [asn1_x509.GeneralName(name="directory_name", value=issuer_name)],
                    "serial_number": certificate.serial_number,
                },
            }
        )
        self._signing_certificate_attr = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [{"certs": [cert_id]}]}
        ).dump()
        sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": issuer_name, "serial_number": certificate.serial_number},
        ).dump()
        self._signer_info_head = _integer(1) + sid + _SHA256_DER
        self._signature_algorithm = algos.SignedDigestAlgorithm(
            {"algorithm": "sha256_ecdsa"}
        ).dump()
        # v3: the encapsulated content is not id-data (RFC 5652 5.1).
        self._signed_data_head = _integer(3) + _tlv(_SET, _SHA256_DER)
        self._tst_info_type = cms.ContentType("tst_info").dump()
        # [0] IMPLICIT CertificateSet: a SET OF, so DER wants the encodings sorted.
        self._certificates = _tlv(
            _CONTEXT_0, *sorted(c.public_bytes(Encoding.DER) for c in (certificate, *chain))
        )
        self._signed_data_type = cms.ContentType("signed_data").dump()
        self._granted = tsp.PKIStatusInfo({"status": "granted"}).dump()

    def respond(self, request_der: bytes, *, now: datetime | None = None) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq: a token, or a rejection saying why.

        Raises InputError when the body is not one DER-encoded ASN.1 SEQUENCE at all.
        """
        try:
            request = _parse_request(request_der)
        except _Rejection as rejection:
            return _rejection(rejection.fail_info, rejection.text)
        if now is not None and now.tzinfo is None:
            raise ValueError("naive datetime")
        # Whole seconds: the 1 s accuracy covers the truncation, and GeneralizedTime needs
        # no fraction (RFC 3161 forbids trailing zeros in one).
        at = (now or utc_now()).astimezone(UTC).replace(microsecond=0)
        certificate = self.certificate
        if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
            return _rejection("system_failure", "the TSA certificate is not valid at this time")
        return _tlv(_SEQUENCE, self._granted, self._token(request, at, self._serials.next()))

    def _token(self, request: _Request, at: datetime, serial: int) -> bytes:
        tst_info = _tlv(
            _SEQUENCE,
            self._tst_head,
            request.imprint_der,
            _integer(serial),
            _tlv(_GENERALIZED_TIME, at.strftime("%Y%m%d%H%M%SZ").encode()),
            self._tst_accuracy,
            b"" if request.nonce is None else _integer(request.nonce),
            self._tst_tsa,
        )
        message_digest = _tlv(
            _SEQUENCE,
            self._message_digest_oid,
            _tlv(_SET, _tlv(_OCTET_STRING, hashlib.sha256(tst_info).digest())),
        )
        attributes = sorted(
            (self._content_type_attr, message_digest, self._signing_certificate_attr)
        )
        # RFC 5652 5.4: the signature covers the attributes encoded as a SET OF, not as [0].
        signature = self._key.sign(_tlv(_SET, *attributes), ec.ECDSA(hashes.SHA256()))
        signer_info = _tlv(
            _SEQUENCE,
            self._signer_info_head,
            _tlv(_CONTEXT_0, *attributes),
            self._signature_algorithm,
            _tlv(_OCTET_STRING, signature),
        )
        signed_data = _tlv(
            _SEQUENCE,
            self._signed_data_head,
            _tlv(
                _SEQUENCE,
                self._tst_info_type,
                _tlv(_CONTEXT_0, _tlv(_OCTET_STRING, tst_info)),
            ),
            self._certificates if request.cert_req else b"",
            _tlv(_SET, signer_info),
        )
        return _tlv(_SEQUENCE, self._signed_data_type, _tlv(_CONTEXT_0, signed_data))


def _parse_request(request_der: bytes) -> _Request:
    """The fields of an acceptable TimeStampReq, or a `_Rejection` naming the failure."""
    try:
        outer = core.load(request_der, strict=True)
    except (ValueError, TypeError) as exc:
        raise InputError(f"the time-stamp request is not DER: {exc}") from None
    if not isinstance(outer, core.Sequence):
        raise InputError("the time-stamp request is not an ASN.1 SEQUENCE")
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        version = request["version"].native
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]
        name = algorithm["algorithm"].native
        digest = imprint["hashed_message"].native
        policy = request["req_policy"]
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
        extensions = request["extensions"]
    except (ValueError, TypeError, OverflowError) as exc:
        raise _Rejection("bad_data_format", f"not a TimeStampReq: {exc}") from None
    if version != "v1":
        raise _Rejection("bad_request", "only version 1 requests are accepted")
    if name not in IMPRINT_DIGEST_SIZES:
        raise _Rejection("bad_alg", f"message imprint algorithm {name} is not accepted")
    with_null = _null_parameters(algorithm)
    if with_null is None:
        raise _Rejection("bad_alg", "message imprint algorithm has parameters")
    size = IMPRINT_DIGEST_SIZES[name]
    if len(digest) != size:
        raise _Rejection("bad_data_format", f"a {name} imprint must be {size} bytes")
    if not isinstance(policy, core.Void) and policy.dotted != TSA_POLICY:
        raise _Rejection("unaccepted_policy", f"this TSA issues under policy {TSA_POLICY} only")
    if not isinstance(extensions, core.Void):
        raise _Rejection("unaccepted_extensions", "request extensions are not supported")
    if nonce is not None and abs(nonce).bit_length() > MAX_NONCE_BITS:
        raise _Rejection("bad_request", f"the nonce is longer than {MAX_NONCE_BITS} bits")
    # Re-encoded, so that a lenient (BER) request cannot put non-DER bytes into the signed
    # token; echoed as sent otherwise, absent or NULL parameters alike.
    algorithm_der = _IMPRINT_ALGORITHMS[name, with_null]
    imprint_der = _tlv(_SEQUENCE, algorithm_der, _tlv(_OCTET_STRING, digest))
    return _Request(imprint_der, nonce, cert_req)


def _null_parameters(algorithm: algos.DigestAlgorithm) -> bool | None:
    """Whether SHA-2 parameters are NULL (True) or absent (False); None for anything else."""
    try:
        parameters = algorithm["parameters"]
    except ValueError:  # asn1crypto parses SHA-2 parameters as NULL, and fails on the rest
        return None
    return (
        isinstance(parameters, core.Null) if isinstance(parameters, core.Null | core.Void) else None
    )


def _rejection(fail_info: str, text: str) -> bytes:
    status = {"status": "rejection", "status_string": [text], "fail_info": {fail_info}}
    return TimeStampResp({"status": status}).dump()


def _check_tsa_certificate(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        # RFC 3161 2.3: the TSA certificate has exactly one, critical, EKU: id-kp-timeStamping.
        raise CaError("the TSA certificate must carry only a critical id-kp-timeStamping EKU")
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise CaError("the TSA certificate does not hold an ECDSA key")
    # Sign-and-verify rather than comparing public keys: an HSM-backed key may only sign.
    probe = b"govtrust TSA key check"
    try:
        public_key.verify(
            key.sign(probe, ec.ECDSA(hashes.SHA256())), probe, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise CaError("the TSA key does not match the TSA certificate") from None


def load_tsa(
    transaction: Transaction,
    key_stores: KeyStores | KeyStore,
    region: str,
) -> TimeStampAuthority:
    """The TSA of `region`: its newest unrevoked TSA certificate and that certificate's key."""
    with transaction() as session:
        authority = session.get(Authority, region)
        row = current_signer_certificate(session, region, TSA, utc_now())
        if authority is None or row is None or row.key_ref is None:
            raise UnknownTsa(f"no time-stamping authority for {region!r}")
        certificate, chain = row.certificate, (authority.certificate,)
        key_ref = KeyRef.parse(row.key_ref)
    key = KeyStores.of(key_stores).private_key(key_ref)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError(f"the TSA key of {region} is not an ECDSA key")
    return TimeStampAuthority(certificate, key, chain, SerialAllocator())
