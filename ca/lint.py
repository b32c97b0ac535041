"""Pre-issuance checks: nothing leaves the CA unless it matches its profile.

These run on every certificate before it is recorded or returned, so they are cheap
structural checks (the test suite runs pkilint over every profile as well). A failure
is a bug in govtrust, never the caller's fault: it raises `LintError`.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ca.profiles import KEY_USAGE_FLAGS, CertificateProfile

MAX_SERIAL_BITS = 159  # RFC 5280 4.1.2.2: at most 20 octets, positive


class LintError(RuntimeError):
    """A certificate the CA built does not match its profile; it was not released."""


def lint_certificate(
    certificate: x509.Certificate, profile: CertificateProfile, issuer: x509.Certificate
) -> None:
    problems = list(_problems(certificate, profile, issuer))
    if problems:
        raise LintError(f"{profile.name} certificate refused before release: {'; '.join(problems)}")


def _problems(
    cert: x509.Certificate, profile: CertificateProfile, issuer: x509.Certificate
) -> list[str]:
    problems = []
    if not 0 < cert.serial_number < 2**MAX_SERIAL_BITS or cert.serial_number.bit_length() < 64:
        problems.append("serial must be positive, at most 20 octets, with 64+ bits of entropy")
    if cert.issuer != issuer.subject:
        problems.append("issuer name differs from the issuer's subject")
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        problems.append("signature does not verify with the issuer's key")
    if not (
        issuer.not_valid_before_utc <= cert.not_valid_before_utc
        and cert.not_valid_after_utc <= issuer.not_valid_after_utc
    ):
        problems.append("validity is not within the issuer's")
    if len(cert.subject) == 0:
        problems.append("empty subject")
    seen: set[x509.ObjectIdentifier] = set()
    for extension in cert.extensions:
        if extension.oid in seen:
            problems.append(f"duplicate extension {extension.oid.dotted_string}")
        seen.add(extension.oid)
    problems += _constraint_problems(cert, profile)
    return problems


def _constraint_problems(cert: x509.Certificate, profile: CertificateProfile) -> list[str]:
    problems = []
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        if not basic.critical or basic.value.ca != profile.is_ca:
            problems.append("basicConstraints does not match the profile")
        if basic.value.path_length != profile.path_length:
            problems.append("pathLenConstraint does not match the profile")
    except x509.ExtensionNotFound:
        problems.append("basicConstraints missing")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        flags = {flag for flag in KEY_USAGE_FLAGS if getattr(usage.value, flag)}
        if not usage.critical or flags != profile.key_usage:
            problems.append(f"keyUsage {sorted(flags)} does not match the profile")
    except x509.ExtensionNotFound:
        problems.append("keyUsage missing")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        if tuple(eku.value) != profile.extended_key_usage:
            problems.append("extendedKeyUsage does not match the profile")
    except x509.ExtensionNotFound:
        if profile.extended_key_usage:
            problems.append("extendedKeyUsage missing")
    try:
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        problems.append("subjectKeyIdentifier missing")
    return problems
