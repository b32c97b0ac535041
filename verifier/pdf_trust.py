"""What a PdfVerifier keeps across files: trust anchors per granted set, one asn1crypto
object per distinct certificate, and bounded memos. See PdfVerifier for why each is safe."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from asn1crypto.keys import PublicKeyInfo
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.registry import CertificateRegistry, PathBuilder, SimpleTrustManager
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_SIGNATURE_VALIDATOR,
    DEFAULT_VALIDATION_CONTEXT,
    SignatureValidationContext,
    SignatureValidator,
)
from pyhanko_certvalidator.util import CancelableAsyncIterator

from verifier.trust_list import TrustedService

# How far outside a certificate's validity pyHanko still accepts it (its default).
TIME_TOLERANCE = timedelta(seconds=1)


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.DER)


_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class Anchors:
    """The trust list's services of one type as pyHanko trust anchors, and one trust
    manager per set of services granted at a moment. A trust manager holds only its anchors
    and is never changed by a validation."""

    def __init__(self, services: tuple[TrustedService, ...], certificates: Certificates) -> None:
        self.services = services
        self._certificates = certificates
        self._anchors = tuple(
            tuple(certificates.anchor(der(c)) for c in s.certificates) for s in services
        )
        self._managers: dict[tuple[bool, ...], SimpleTrustManager] = {}
        self._holders: dict[bytes, tuple[TrustedService, ...]] = {}
        for service in services:
            for certificate in service.certificates:
                encoded = der(certificate)
                if service not in self._holders.get(encoded, ()):
                    self._holders[encoded] = (*self._holders.get(encoded, ()), service)

    def granted(self, moment: datetime) -> tuple[bool, ...]:
        return tuple(s.granted_at(moment) for s in self.services)

    def context(self, moment: datetime) -> ValidationContext:
        """A fresh pyHanko context at `moment` whose anchors are the certificates of the
        services granted at `moment` (a new certificate registry every time)."""
        granted = self.granted(moment)
        manager = self._managers.get(granted)
        if manager is None:
            manager = SimpleTrustManager.build(
                trust_roots=[
                    c
                    for is_granted, anchors in zip(granted, self._anchors, strict=True)
                    if is_granted
                    for c in anchors
                ]
            )
            self._managers[granted] = manager
        registry = Registry(self._certificates)
        context = ValidationContext(
            trust_manager=manager,
            certificate_registry=registry,
            allow_fetching=False,
            revocation_mode="soft-fail",
            moment=moment,
            time_tolerance=TIME_TOLERANCE,
            signature_validator=self._certificates.signatures,
        )
        context.path_builder = CachingPathBuilder(manager, registry, self._certificates)
        return context

    def service_holding(self, certificate_der: bytes, moment: datetime) -> TrustedService | None:
        """The first service (in trust-list order) granted at `moment` that lists exactly
        this certificate."""
        return next(
            (s for s in self._holders.get(certificate_der, ()) if s.granted_at(moment)), None
        )


class Certificates:
    """One asn1crypto object per distinct certificate (by its DER) for a verifier's run.
    pyHanko works out a certificate's normalised names, key hashes and the like on the
    object and keeps them there; handing it the same object wherever the same DER turns up
    (each file's CMS carries the same seal, CA and TSA certificates) makes that work once
    per certificate instead of once per file. Objects parsed from the same DER are the
    same certificate: no answer changes, only the work."""

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._anchors: dict[bytes, asn1_x509.Certificate] = {}
        self._seen: dict[bytes, asn1_x509.Certificate] = {}
        self.signatures = RememberedSignatures()

    def anchor(self, der: bytes) -> asn1_x509.Certificate:
        """The object of a trust-list certificate (kept for the verifier's life)."""
        known = self._anchors.get(der)
        if known is None:
            known = self._anchors[der] = asn1_x509.Certificate.load(der)
        return known

    def canonical(self, certificate: asn1_x509.Certificate) -> asn1_x509.Certificate:
        der = certificate.dump()
        known = self._anchors.get(der)
        if known is None:
            known = self._seen.get(der)
        if known is None:
            if len(self._seen) >= self._limit:
                self._seen.clear()
            known = self._seen[der] = asn1_x509.Certificate.load(der)
        return known


class RememberedSignatures(SignatureValidator):
    """pyHanko's signature check, remembering the signatures that verified (by signature,
    signed bytes, key and algorithm: a pure function of those), so that a certificate's
    signature under its issuer is checked once per run, not once per file."""

    def __init__(self) -> None:
        self._valid: Memo[tuple[object, ...], bool] = Memo(limit=512)

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        key = (
            bytes(signature),
            bytes(signed_data),
            public_key_info.dump(),
            signature_algorithm.dump(),
            context,
        )

        def check() -> bool:  # raises when the signature does not verify: nothing kept
            DEFAULT_SIGNATURE_VALIDATOR.validate_signature(
                signature, signed_data, public_key_info, signature_algorithm, context
            )
            return True

        self._valid.get(key, check)


class Registry(CertificateRegistry):
    """A file's certificate registry (fresh for every context), holding the run's one
    object for each certificate registered."""

    def __init__(self, certificates: Certificates) -> None:
        super().__init__(cert_fetcher=None)
        self._certificates = certificates

    def register(self, cert: asn1_x509.Certificate) -> bool:
        if isinstance(cert, asn1_x509.Certificate):
            cert = self._certificates.canonical(cert)
        return bool(super().register(cert))


class CachingPathBuilder(PathBuilder):
    """pyHanko's path builder, starting from the run's one object for the certificate."""

    def __init__(
        self, trust_manager: SimpleTrustManager, registry: Registry, certificates: Certificates
    ) -> None:
        super().__init__(trust_manager=trust_manager, registry=registry)
        self._certificates = certificates

    def async_build_paths_lazy(
        self, end_entity_cert: asn1_x509.Certificate
    ) -> CancelableAsyncIterator[ValidationPath]:
        if isinstance(end_entity_cert, asn1_x509.Certificate):
            end_entity_cert = self._certificates.canonical(end_entity_cert)
        return super().async_build_paths_lazy(end_entity_cert)


_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class Memo(Generic[_K, _V]):
    """Answers of a pure function of the key, emptied when full: a run that brings ever new
    keys (another validation time for every file) stays bounded in memory."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._values: dict[_K, _V] = {}

    def get(self, key: _K, compute: Callable[[], _V]) -> _V:
        try:
            return self._values[key]
        except KeyError:
            pass
        value = compute()
        if len(self._values) >= self._limit:
            self._values.clear()
        self._values[key] = value
        return value
