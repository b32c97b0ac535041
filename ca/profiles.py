"""Certificate profiles: one declarative definition per kind of certificate.

A profile says what a certificate of its kind may do (validity, CA or not,
path length, key usage, extended key usage). `build_certificate` is the only
code that turns a profile into a certificate, so a new kind of certificate is
a new `CertificateProfile` value, not new code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import NameOID

from ca.errors import CaError
from verifier.timeutil import utc_now
from verifier.trust_list import TSL_SIGNING_EKU

# RFC 9336 id-kp-documentSigning.
DOCUMENT_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# Back-dating absorbs clock skew between the CA and relying parties.
_BACKDATE = timedelta(minutes=5)

KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True)
class CertificateProfile:
    name: str
    validity: timedelta
    is_ca: bool
    key_usage: frozenset[str]
    path_length: int | None = None
    extended_key_usage: tuple[x509.ObjectIdentifier, ...] = ()
    extended_key_usage_critical: bool = False
    requires_organization_identifier: bool = False
    allowed_issuer_profiles: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = self.key_usage - set(KEY_USAGE_FLAGS)
        if unknown:
            raise ValueError(f"profile {self.name}: unknown key usage {sorted(unknown)}")


NATIONAL_ROOT = CertificateProfile(
    name="national-root",
    validity=timedelta(days=20 * 365),
    is_ca=True,
    path_length=1,
    key_usage=frozenset({"key_cert_sign", "crl_sign"}),
)
REGION_CA = CertificateProfile(
    name="region-ca",
    validity=timedelta(days=10 * 365),
    is_ca=True,
    path_length=0,
    key_usage=frozenset({"key_cert_sign", "crl_sign"}),
    allowed_issuer_profiles=frozenset({"national-root"}),
)
SEAL = CertificateProfile(
    name="seal",
    validity=timedelta(days=3 * 365),
    is_ca=False,
    key_usage=frozenset({"digital_signature", "content_commitment"}),
    extended_key_usage=(DOCUMENT_SIGNING_EKU,),
    requires_organization_identifier=True,
    allowed_issuer_profiles=frozenset({"region-ca"}),
)
TRUST_LIST_SIGNER = CertificateProfile(
    name="trust-list-signer",
    validity=timedelta(days=2 * 365),
    is_ca=False,
    key_usage=frozenset({"digital_signature"}),
    extended_key_usage=(TSL_SIGNING_EKU,),
    extended_key_usage_critical=True,
    allowed_issuer_profiles=frozenset({"national-root"}),
)

PROFILES: dict[str, CertificateProfile] = {
    p.name: p for p in (NATIONAL_ROOT, REGION_CA, SEAL, TRUST_LIST_SIGNER)
}


@dataclass(frozen=True)
class Issuer:
    """A CA able to sign: its certificate, its key and the profile it was issued under."""

    certificate: x509.Certificate
    private_key: CertificateIssuerPrivateKeyTypes
    profile: CertificateProfile


def subject_name(
    common_name: str,
    *,
    organization: str | None = None,
    organization_identifier: str | None = None,
    province: str | None = None,
) -> x509.Name:
    """A subject DN. organizationIdentifier follows ETSI EN 319 412-1 (`NTRCN-<USCC>`)."""
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if province:
        attributes.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, province))
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if organization_identifier:
        attributes.append(
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{organization_identifier}")
        )
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def build_certificate(
    profile: CertificateProfile,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    *,
    issuer: Issuer | None = None,
    self_signing_key: CertificateIssuerPrivateKeyTypes | None = None,
    not_before: datetime | None = None,
) -> x509.Certificate:
    """Issue one certificate of `profile`. Self-signed when `self_signing_key` is given."""
    if (issuer is None) == (self_signing_key is None):
        raise CaError("give exactly one of issuer or self_signing_key")
    if issuer is not None and issuer.profile.name not in profile.allowed_issuer_profiles:
        raise CaError(f"a {issuer.profile.name} may not issue a {profile.name} certificate")
    if issuer is None and profile.allowed_issuer_profiles:
        raise CaError(f"a {profile.name} certificate cannot be self-signed")
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise CaError("only ECDSA and RSA subject keys are accepted")
    if profile.requires_organization_identifier and not subject.get_attributes_for_oid(
        NameOID.ORGANIZATION_IDENTIFIER
    ):
        raise CaError(f"a {profile.name} certificate needs an organizationIdentifier")
    start = (not_before or utc_now()) - _BACKDATE
    end = start + profile.validity
    signing_key = self_signing_key if issuer is None else issuer.private_key
    issuer_name = subject if issuer is None else issuer.certificate.subject
    if issuer is not None:
        end = min(end, issuer.certificate.not_valid_after_utc)
        if start < issuer.certificate.not_valid_before_utc:
            raise CaError("certificate would start before its issuer's certificate")
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.BasicConstraints(ca=profile.is_ca, path_length=profile.path_length), critical=True
        )
        .add_extension(_key_usage(profile.key_usage), critical=True)
        .add_extension(ski, critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                issuer.certificate.extensions.get_extension_for_class(
                    x509.SubjectKeyIdentifier
                ).value
            ),
            critical=False,
        )
    if profile.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(profile.extended_key_usage)),
            critical=profile.extended_key_usage_critical,
        )
    assert signing_key is not None
    return builder.sign(signing_key, hashes.SHA256())


def _key_usage(flags: frozenset[str]) -> x509.KeyUsage:
    values = {flag: flag in flags for flag in KEY_USAGE_FLAGS}
    return x509.KeyUsage(**values, encipher_only=False, decipher_only=False)
