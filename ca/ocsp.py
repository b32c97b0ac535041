"""OCSP responder (RFC 6960), one per region CA, answering from pre-signed responses.

A request without a nonce is answered RFC 5019 style from `ca_ocsp_response`: one indexed
SELECT returns the stored response together with the certificate's *current* revocation
state, and the stored DER is served only if its status agrees with that state and it is in
the first half of its validity. So the hot path has no private-key operation, and nothing is
cached in the process: a revocation committed by any process is seen by the next request.
A miss (first request for a certificate, a response past half its life, a status that no
longer agrees) is signed and stored; a request with a nonce is always signed afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from ca.authority import current_signer_certificate, get_authority
from ca.counters import dialect_insert
from ca.errors import CaError
from ca.keys import KeyRef, KeyStore, KeyStores, PrivateKey
from ca.lint import lint_ocsp_response
from ca.models import IssuedCertificate, OcspResponse
from ca.profiles import OCSP_RESPONDER
from verifier.errors import NotFoundError
from verifier.timeutil import utc_now

Transaction = Callable[[], AbstractContextManager[Session]]

# Every CertID hash cryptography can answer for. The client picks it; SHA-1 here only names
# the issuer (no collision gives anything away) and openssl asks with it by default.
CERT_ID_HASHES: dict[str, hashes.HashAlgorithm] = {
    h.name: h
    for h in (
        hashes.SHA1(),  # noqa: S303
        hashes.SHA224(),
        hashes.SHA256(),
        hashes.SHA384(),
        hashes.SHA512(),
    )
}
# Re-signed in the revoking transaction; responses for other hashes are re-signed on the
# next request because their stored status no longer agrees with the certificate's.
PRESIGN_ON_REVOCATION = ("sha1", "sha256")
RESPONSE_VALIDITY = timedelta(hours=24)
# RFC 8954 2.1: a nonce is at most 32 octets; a longer one may be ignored.
MAX_NONCE = 32
UNAUTHORIZED = ocsp.OCSPResponseBuilder.build_unsuccessful(
    ocsp.OCSPResponseStatus.UNAUTHORIZED
).public_bytes(Encoding.DER)
GOOD, REVOKED = "good", "revoked"


class OcspRequestError(CaError):
    """Not a DER OCSPRequest this responder can read (an API answers 400)."""


class NoResponder(CaError, NotFoundError):
    """The CA runs no OCSP responder (the offline root), or has no usable certificate for one."""


@dataclass(frozen=True)
class _State:
    """What the register says about one serial, and the stored response for one CertID hash."""

    known: bool
    revoked_at: datetime | None = None
    reason: str | None = None
    stored_status: str | None = None
    stored_next_update: datetime | None = None
    stored_der: bytes | None = None


class OcspResponder:
    """A region CA's delegated responder: its certificate and key, held for the process."""

    def __init__(
        self,
        issuer_code: str,
        issuer_certificate: x509.Certificate,
        certificate: x509.Certificate,
        private_key: PrivateKey,
        *,
        validity: timedelta = RESPONSE_VALIDITY,
    ) -> None:
        self.issuer_code = issuer_code
        self.issuer_certificate = issuer_certificate
        self.certificate = certificate
        self._key = private_key
        self._validity = validity
        # The CertID issuer hashes of this CA, computed by cryptography itself from a
        # certificate the CA issued (the responder's own).
        self._issuer_hashes: dict[str, tuple[bytes, bytes]] = {}
        for name, algorithm in CERT_ID_HASHES.items():
            probe = ocsp.OCSPRequestBuilder().add_certificate(
                certificate, issuer_certificate, algorithm
            )
            request = probe.build()
            self._issuer_hashes[name] = (request.issuer_name_hash, request.issuer_key_hash)
        self._lookup_query = (
            select(
                IssuedCertificate.revoked_at,
                IssuedCertificate.revocation_reason,
                OcspResponse.status,
                OcspResponse.next_update,
                OcspResponse.der,
            )
            .select_from(IssuedCertificate)
            .outerjoin(
                OcspResponse,
                and_(
                    OcspResponse.issuer_code == IssuedCertificate.issuer_code,
                    OcspResponse.serial == IssuedCertificate.serial,
                    OcspResponse.hash_algorithm == bindparam("algorithm"),
                ),
            )
            .where(
                IssuedCertificate.issuer_code == issuer_code,
                IssuedCertificate.serial == bindparam("serial"),
            )
        )

    def expired(self, now: datetime) -> bool:
        return self.certificate.not_valid_after_utc <= now

    def respond(
        self, session: Session, request_der: bytes, *, now: datetime | None = None
    ) -> bytes:
        """The DER OCSPResponse for a DER OCSPRequest; raises OcspRequestError if unreadable."""
        request = parse_request(request_der)
        try:
            algorithm = request.hash_algorithm.name
        except UnsupportedAlgorithm:
            return UNAUTHORIZED  # a CertID hash we cannot compute names no CA of ours
        if self._issuer_hashes.get(algorithm) != (
            request.issuer_name_hash,
            request.issuer_key_hash,
        ):
            return UNAUTHORIZED
        nonce = _nonce(request)
        now = (now or utc_now()).replace(microsecond=0)
        serial = request.serial_number
        state = self._lookup(session, serial, algorithm)
        if nonce is None and self._usable(state, now):
            assert state.stored_der is not None
            return state.stored_der
        der = self._sign(algorithm, serial, state, now, nonce)
        if nonce is None and state.known:
            self._store(session, serial, algorithm, state, now, der)
        return der

    def refresh(self, session: Session, serial: int, *, now: datetime | None = None) -> None:
        """Re-sign and store the pre-signed responses for one certificate (after revoking)."""
        now = (now or utc_now()).replace(microsecond=0)
        for algorithm in PRESIGN_ON_REVOCATION:
            state = self._lookup(session, serial, algorithm)
            if state.known:
                der = self._sign(algorithm, serial, state, now, None)
                self._store(session, serial, algorithm, state, now, der)

    def _lookup(self, session: Session, serial: int, algorithm: str) -> _State:
        # Core execution on the session's connection: the ORM layer would double the cost.
        row = (
            session.connection()
            .execute(self._lookup_query, {"serial": format(serial, "x"), "algorithm": algorithm})
            .first()
        )
        if row is None:
            return _State(known=False)
        return _State(True, *row)

    def _usable(self, state: _State, now: datetime) -> bool:
        if state.stored_der is None or state.stored_next_update is None:
            return False
        status = REVOKED if state.revoked_at is not None else GOOD
        # Re-sign in the second half of the validity, so a response is never served stale.
        return state.stored_status == status and now + self._validity / 2 < state.stored_next_update

    def _sign(
        self, algorithm: str, serial: int, state: _State, now: datetime, nonce: bytes | None
    ) -> bytes:
        name_hash, key_hash = self._issuer_hashes[algorithm]
        reason = None
        if not state.known:
            status = ocsp.OCSPCertStatus.UNKNOWN
        elif state.revoked_at is not None:
            status = ocsp.OCSPCertStatus.REVOKED
            if state.reason and state.reason != x509.ReasonFlags.unspecified.value:
                reason = x509.ReasonFlags(state.reason)
        else:
            status = ocsp.OCSPCertStatus.GOOD
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                name_hash,
                key_hash,
                serial,
                CERT_ID_HASHES[algorithm],
                status,
                now,
                now + self._validity,
                state.revoked_at,
                reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self.certificate)
            .certificates([self.certificate])
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(self._key, hashes.SHA256())
        lint_ocsp_response(response, self.certificate)
        return response.public_bytes(Encoding.DER)

    def _store(
        self,
        session: Session,
        serial: int,
        algorithm: str,
        state: _State,
        now: datetime,
        der: bytes,
    ) -> None:
        insert = dialect_insert(session)
        statement = insert(OcspResponse).values(
            issuer_code=self.issuer_code,
            serial=format(serial, "x"),
            hash_algorithm=algorithm,
            status=REVOKED if state.revoked_at is not None else GOOD,
            produced_at=now,
            next_update=now + self._validity,
            der=der,
        )
        excluded = statement.excluded
        # A response signed from a read made before a revocation committed must not replace
        # the revoked one (revocation is final); the read path would not serve it anyway.
        statement = statement.on_conflict_do_update(
            index_elements=[
                OcspResponse.issuer_code,
                OcspResponse.serial,
                OcspResponse.hash_algorithm,
            ],
            set_={
                "status": excluded.status,
                "produced_at": excluded.produced_at,
                "next_update": excluded.next_update,
                "der": excluded.der,
            },
            where=or_(OcspResponse.status != REVOKED, excluded.status == REVOKED),
        )
        session.execute(statement)


def parse_request(der: bytes) -> ocsp.OCSPRequest:
    """A DER OCSPRequest with exactly one CertID (RFC 5019 2.1.1)."""
    try:
        request = ocsp.load_der_ocsp_request(der)
    except (ValueError, NotImplementedError):
        raise OcspRequestError("not a DER OCSP request for one certificate") from None
    if request.serial_number < 0:
        raise OcspRequestError("the OCSP request names a negative serial number")
    return request


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension):
        raise OcspRequestError("the OCSP request's extensions cannot be read") from None
    return nonce if 0 < len(nonce) <= MAX_NONCE else None


def load_responder(
    transaction: Transaction,
    key_stores: KeyStores | KeyStore,
    issuer_code: str,
    *,
    now: datetime | None = None,
) -> OcspResponder:
    """The responder of `issuer_code`: its newest unrevoked, unexpired OCSP certificate whose
    key is in one of `key_stores`. Raises UnknownAuthority or NoResponder (both not-found)."""
    now = now or utc_now()
    with transaction() as session:
        issuer_certificate = get_authority(session, issuer_code).certificate
        row = current_signer_certificate(session, issuer_code, OCSP_RESPONDER, now)
        if row is None or row.key_ref is None:
            raise NoResponder(f"CA {issuer_code} runs no OCSP responder")
        certificate, key_ref = row.certificate, KeyRef.parse(row.key_ref)
    key = KeyStores.of(key_stores).private_key(key_ref)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CaError(f"the OCSP key of {issuer_code} is neither ECDSA nor RSA")
    spki = PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(Encoding.DER, spki) != certificate.public_key().public_bytes(
        Encoding.DER, spki
    ):
        raise CaError(f"the OCSP key of {issuer_code} does not match its certificate")
    return OcspResponder(issuer_code, issuer_certificate, certificate, key)
