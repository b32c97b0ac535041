"""The offline root ceremony, and how its results enter the online server.

The national root's key lives only in a ROOT_DIR on an offline machine; the server
never reads it. A region CA's key is made in the server's key store, which hands out
a CSR; the root certifies the CSR offline; the server installs the certificate after
checking that it matches its key and chains to the root. `dev-init` takes the same path.

ROOT_DIR holds national-root.key.pem (encrypted PKCS#8), national-root.pem, national-root.sha256,
issued/<serial>.pem
for every certificate the root made, and crl.der with crl-number for its CRL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.authority import ROOT_CODE, add_authority, record_certificate
from ca.errors import CaError
from ca.federation import add_service, register_region
from ca.keys import FileKeyStore, KeyRef, KeyStore
from ca.lint import lint_certificate
from ca.models import Authority, IssuedCertificate
from ca.profiles import (
    NATIONAL_ROOT,
    REGION_CA,
    TRUST_LIST_SIGNER,
    Issuer,
    IssuerUrls,
    build_certificate,
    subject_name,
)
from ca.registry import load_csr
from verifier.certs import sha256_fingerprint
from verifier.timeutil import utc_now
from verifier.trust_list import ServiceType

ROOT_KEY_NAME = "national-root"
ROOT_CERT_FILE = "national-root.pem"
ROOT_NAME = "国家政务服务平台根CA"
ROOT_CRL_VALIDITY = timedelta(days=90)
TRUST_LIST_SIGNER_KEY = "hub/trust-list-signer"
# What the offline root certifies; everything else is a region CA's business.
ROOT_ISSUED_PROFILES = {p.name: p for p in (REGION_CA, TRUST_LIST_SIGNER)}


@dataclass(frozen=True)
class RootCa:
    """An opened ROOT_DIR: the national root's certificate and key, offline."""

    directory: Path
    certificate: x509.Certificate
    issuer: Issuer

    @classmethod
    def create(
        cls, directory: Path, passphrase: bytes, *, public_base_url: str, name: str = ROOT_NAME
    ) -> RootCa:
        if (directory / ROOT_CERT_FILE).exists():
            raise CaError(f"{directory} already holds a root CA")
        store = FileKeyStore(directory, passphrase)
        public_key = store.generate(ROOT_KEY_NAME)
        key = store.private_key(ROOT_KEY_NAME)
        certificate = build_certificate(
            NATIONAL_ROOT, subject_name(name, organization=name), public_key, self_signing_key=key
        )
        lint_certificate(certificate, NATIONAL_ROOT, certificate)
        (directory / "issued").mkdir(parents=True, exist_ok=True)
        (directory / ROOT_CERT_FILE).write_bytes(certificate.public_bytes(Encoding.PEM))
        (directory / "national-root.sha256").write_text(sha256_fingerprint(certificate) + "\n")
        root = cls.open(directory, passphrase, public_base_url=public_base_url)
        root.sign_crl([])
        return root

    @classmethod
    def open(cls, directory: Path, passphrase: bytes, *, public_base_url: str) -> RootCa:
        try:
            certificate = x509.load_pem_x509_certificate((directory / ROOT_CERT_FILE).read_bytes())
        except FileNotFoundError:
            raise CaError(f"{directory} holds no root CA ({ROOT_CERT_FILE} missing)") from None
        key = FileKeyStore(directory, passphrase).private_key(ROOT_KEY_NAME)
        if key.public_key() != certificate.public_key():
            raise CaError(f"{directory}: the root key does not match {ROOT_CERT_FILE}")
        urls = IssuerUrls.for_ca(public_base_url, ROOT_CODE, online=False)
        return cls(directory, certificate, Issuer(certificate, key, NATIONAL_ROOT, urls))

    def certify(self, csr_data: bytes, profile_name: str) -> x509.Certificate:
        """Certify a region CA or the trust-list signer from its CSR, and keep a copy."""
        profile = ROOT_ISSUED_PROFILES.get(profile_name)
        if profile is None:
            raise CaError(f"the root certifies only {sorted(ROOT_ISSUED_PROFILES)}")
        csr = load_csr(csr_data)
        certificate = build_certificate(profile, csr.subject, csr.public_key(), issuer=self.issuer)
        lint_certificate(certificate, profile, self.certificate)
        issued = self.directory / "issued" / f"{certificate.serial_number:x}.pem"
        issued.write_bytes(certificate.public_bytes(Encoding.PEM))
        return certificate

    def issued(self) -> list[x509.Certificate]:
        return [
            x509.load_pem_x509_certificate(p.read_bytes())
            for p in sorted((self.directory / "issued").glob("*.pem"))
        ]

    def sign_crl(self, revoked_serials: list[int]) -> x509.CertificateRevocationList:
        """The root's next CRL (offline, so it is long-lived); written to crl.der."""
        number_file = self.directory / "crl-number"
        number = int(number_file.read_text()) + 1 if number_file.exists() else 1
        now = utc_now()
        revoked = [
            x509.RevokedCertificateBuilder().serial_number(s).revocation_date(now).build()
            for s in revoked_serials
        ]
        ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        crl = (
            x509.CertificateRevocationListBuilder(revoked_certificates=revoked)
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + ROOT_CRL_VALIDITY)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value),
                critical=False,
            )
            .sign(self.issuer.private_key, hashes.SHA256())
        )
        (self.directory / "crl.der").write_bytes(crl.public_bytes(Encoding.DER))
        number_file.write_text(f"{number}\n")
        return crl


def request_certificate(key_store: KeyStore, key_name: str, subject: x509.Name) -> bytes:
    """Make a key in the server's key store and return a PEM CSR for it."""
    key_store.generate(key_name)
    key = key_store.private_key(key_name)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError("the key store made a non-ECDSA key")
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(Encoding.PEM)


def region_subject(region_name: str) -> x509.Name:
    return subject_name(f"{region_name}政务服务CA", organization=region_name, province=region_name)


def trust_list_signer_subject() -> x509.Name:
    return subject_name("联邦信任列表签名", organization="全国一体化政务服务平台")


def install_root(session: Session, root_certificate: x509.Certificate) -> Authority:
    """Register the national root (certificate only: its key stays offline)."""
    if root_certificate.issuer != root_certificate.subject:
        raise CaError("the national root certificate must be self-signed")
    existing = session.get(Authority, ROOT_CODE)
    if existing is not None:
        if existing.certificate != root_certificate:
            raise CaError("a different national root is already installed")
        return existing
    name = _common_name(root_certificate)
    return add_authority(session, ROOT_CODE, name, NATIONAL_ROOT, root_certificate, None)


def install_root_issued(
    session: Session,
    key_store: KeyStore,
    key_name: str,
    certificate: x509.Certificate,
    *,
    region: tuple[str, str] | None = None,
) -> IssuedCertificate:
    """Install what the root certified for this server: a region CA (`region` = (code, name))
    or the trust-list signer. The certificate must match the key made for it here."""
    root = session.get(Authority, ROOT_CODE)
    if root is None:
        raise CaError("install the national root first")
    if region is not None and session.get(Authority, region[0]) is not None:
        raise CaError(f"region CA {region[0]} is already installed")
    serial = format(certificate.serial_number, "x")
    if session.scalars(
        select(IssuedCertificate).where(
            IssuedCertificate.issuer_code == ROOT_CODE, IssuedCertificate.serial == serial
        )
    ).first():
        raise CaError(f"certificate {serial} is already installed")
    try:
        certificate.verify_directly_issued_by(root.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise CaError("certificate was not issued by the installed national root") from None
    key = key_store.private_key(key_name)
    if _spki(key.public_key()) != _spki(certificate.public_key()):
        raise CaError(f"certificate does not match key {key_name!r} in the key store")
    profile = REGION_CA if region is not None else TRUST_LIST_SIGNER
    lint_certificate(certificate, profile, root.certificate)
    key_ref = KeyRef(key_store.backend, key_name)
    row = record_certificate(session, ROOT_CODE, profile, certificate, key_ref)
    if region is not None:
        code, name = region
        add_authority(session, code, name, REGION_CA, certificate, key_ref)
        register_region(session, code, name)
        add_service(session, code, ServiceType.SEAL_CA, f"{name}电子印章CA", certificate)
    return row


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


def _common_name(certificate: x509.Certificate) -> str:
    values = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return str(values[0].value) if values else certificate.subject.rfc4514_string()
