"""Certificate profiles: one declarative definition per kind of certificate.

A profile says what a certificate of its kind may do (validity, CA or not,
path length, key usage, extended key usage, policies, revocation pointers,
name constraints). `build_certificate` is the only code that turns a profile
into a certificate, so a new kind of certificate is a new `CertificateProfile`
value, not new code.
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
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ca.errors import CaError
from verifier.timeutil import utc_now
from verifier.trust_list import TSL_SIGNING_EKU

# Only standard OIDs: govtrust has no OID arc of its own yet (a UUID arc, 2.25.x, has
# arcs over 32 bits that common decoders such as pkilint's refuse). Status-list, identity
# and log signers therefore carry no EKU; the trust list binds each to its service type.
# ETSI EN 319 411-1 normalized certificate policy (NCP), for legal-person e-seals.
ETSI_NCP = x509.ObjectIdentifier("0.4.0.2042.1.1")
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
    policies: tuple[x509.ObjectIdentifier, ...] = ()
    requires_organization_identifier: bool = False
    # A region CA may only certify subjects of its own province (directoryName constraint).
    constrain_to_province: bool = False
    # Where relying parties find revocation data: CRL distribution point and OCSP (AIA).
    crl_distribution_point: bool = True
    ocsp_pointer: bool = True
    ocsp_no_check: bool = False
    allowed_issuer_profiles: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = self.key_usage - set(KEY_USAGE_FLAGS)
        if unknown:
            raise ValueError(f"profile {self.name}: unknown key usage {sorted(unknown)}")


def _end_entity(
    name: str,
    eku: x509.ObjectIdentifier | None,
    *,
    validity_days: int = 2 * 365,
    issuer: str = "region-ca",
    **options: object,
) -> CertificateProfile:
    defaults: dict[str, object] = {
        "key_usage": frozenset({"digital_signature"}),
        "extended_key_usage_critical": True,
    }
    return CertificateProfile(
        name=name,
        validity=timedelta(days=validity_days),
        is_ca=False,
        extended_key_usage=(eku,) if eku else (),
        allowed_issuer_profiles=frozenset({issuer}),
        **(defaults | options),  # type: ignore[arg-type]
    )


NATIONAL_ROOT = CertificateProfile(
    name="national-root",
    validity=timedelta(days=20 * 365),
    is_ca=True,
    path_length=1,
    key_usage=frozenset({"key_cert_sign", "crl_sign"}),
    crl_distribution_point=False,
    ocsp_pointer=False,
)
REGION_CA = CertificateProfile(
    name="region-ca",
    validity=timedelta(days=10 * 365),
    is_ca=True,
    path_length=0,
    key_usage=frozenset({"key_cert_sign", "crl_sign"}),
    constrain_to_province=True,
    # The national root is offline: it publishes a CRL, it runs no OCSP responder.
    ocsp_pointer=False,
    allowed_issuer_profiles=frozenset({"national-root"}),
)
SEAL = CertificateProfile(
    name="seal",
    validity=timedelta(days=3 * 365),
    is_ca=False,
    key_usage=frozenset({"digital_signature", "content_commitment"}),
    extended_key_usage=(DOCUMENT_SIGNING_EKU,),
    policies=(ETSI_NCP,),
    requires_organization_identifier=True,
    allowed_issuer_profiles=frozenset({"region-ca"}),
)
TRUST_LIST_SIGNER = _end_entity(
    "trust-list-signer", TSL_SIGNING_EKU, issuer="national-root", ocsp_pointer=False
)
# RFC 6960 4.2.2.2.1: a delegated responder needs no revocation check of its own;
# short-lived so that no-check stays safe.
OCSP_RESPONDER = _end_entity(
    "ocsp-responder",
    ExtendedKeyUsageOID.OCSP_SIGNING,
    validity_days=90,
    extended_key_usage_critical=False,
    ocsp_no_check=True,
    crl_distribution_point=False,
    ocsp_pointer=False,
)
TSA = _end_entity("tsa", ExtendedKeyUsageOID.TIME_STAMPING, validity_days=5 * 365)
STATUS_ISSUER = _end_entity("status-issuer", None)
IDENTITY_SIGNER = _end_entity("identity-signer", None)
LOG_SIGNER = _end_entity("log-signer", None)

PROFILES: dict[str, CertificateProfile] = {
    p.name: p
    for p in (
        NATIONAL_ROOT,
        REGION_CA,
        SEAL,
        TRUST_LIST_SIGNER,
        OCSP_RESPONDER,
        TSA,
        STATUS_ISSUER,
        IDENTITY_SIGNER,
        LOG_SIGNER,
    )
}


@dataclass(frozen=True)
class IssuerUrls:
    """Public addresses of one CA's certificate, CRL and OCSP responder."""

    ca_certificate: str
    crl: str
    ocsp: str | None

    @classmethod
    def for_ca(cls, public_base_url: str, code: str, *, online: bool = True) -> IssuerUrls:
        base = f"{public_base_url.rstrip('/')}/api/v1/ca/{code}"
        return cls(f"{base}/certificate", f"{base}/crl", f"{base}/ocsp" if online else None)


@dataclass(frozen=True)
class Issuer:
    """A CA able to sign: its certificate, its key, its profile and its public URLs."""

    certificate: x509.Certificate
    private_key: CertificateIssuerPrivateKeyTypes
    profile: CertificateProfile
    urls: IssuerUrls | None = None


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
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 3072:
        raise CaError("RSA subject keys must be at least 3072 bits")
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
        start = max(start, issuer.certificate.not_valid_before_utc)
        if end <= start:
            raise CaError("issuer certificate has expired")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    for extension, critical in _extensions(profile, subject, public_key, issuer):
        builder = builder.add_extension(extension, critical=critical)
    assert signing_key is not None
    return builder.sign(signing_key, hashes.SHA256())


def _extensions(
    profile: CertificateProfile,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: Issuer | None,
) -> list[tuple[x509.ExtensionType, bool]]:
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=profile.is_ca, path_length=profile.path_length), True),
        (_key_usage(profile.key_usage), True),
        (x509.SubjectKeyIdentifier.from_public_key(public_key), False),
    ]
    if issuer is not None:
        issuer_ski = issuer.certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        extensions.append(
            (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), False)
        )
    if profile.extended_key_usage:
        extensions.append(
            (
                x509.ExtendedKeyUsage(list(profile.extended_key_usage)),
                profile.extended_key_usage_critical,
            )
        )
    if profile.policies:
        extensions.append(
            (
                x509.CertificatePolicies(
                    [x509.PolicyInformation(p, None) for p in profile.policies]
                ),
                False,
            )
        )
    if profile.constrain_to_province:
        extensions.append((_province_constraint(subject), True))
    if profile.ocsp_no_check:
        extensions.append((x509.OCSPNoCheck(), False))
    urls = issuer.urls if issuer is not None else None
    if urls is not None:
        if profile.crl_distribution_point:
            point = x509.DistributionPoint(
                [x509.UniformResourceIdentifier(urls.crl)], None, None, None
            )
            extensions.append((x509.CRLDistributionPoints([point]), False))
        access = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(urls.ca_certificate),
            )
        ]
        if profile.ocsp_pointer and urls.ocsp:
            access.insert(
                0,
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
                ),
            )
        extensions.append((x509.AuthorityInformationAccess(access), False))
    return extensions


def _province_constraint(subject: x509.Name) -> x509.NameConstraints:
    province = subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)
    if not province:
        raise CaError("a region CA subject needs a province (ST) to constrain it to")
    permitted = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), province[0]])
    return x509.NameConstraints(
        permitted_subtrees=[x509.DirectoryName(permitted)], excluded_subtrees=None
    )


def _key_usage(flags: frozenset[str]) -> x509.KeyUsage:
    values = {flag: flag in flags for flag in KEY_USAGE_FLAGS}
    return x509.KeyUsage(**values, encipher_only=False, decipher_only=False)
