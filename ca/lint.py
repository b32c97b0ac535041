"""Pre-release checks: no certificate, CRL or OCSP response leaves the CA unchecked.

These run on every certificate before it is recorded or returned, so they are cheap
structural checks (the test suite runs pkilint over every profile as well). A failure
is a bug in govtrust, never the caller's fault: it raises `LintError`.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

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


def lint_crl(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> None:
    """A CRL the CA built: signed by `issuer`, numbered, with a sane validity window."""
    problems = []
    if crl.issuer != issuer.subject:
        problems.append("issuer name differs from the CA's subject")
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        problems.append("signature does not verify with the CA's key")
    next_update = crl.next_update_utc
    if next_update is None or next_update <= crl.last_update_utc:
        problems.append("nextUpdate missing or not after thisUpdate")
    for extension_type in (x509.CRLNumber, x509.AuthorityKeyIdentifier):
        try:
            crl.extensions.get_extension_for_class(extension_type)
        except x509.ExtensionNotFound:
            problems.append(f"{extension_type.__name__} missing")
    if problems:
        raise LintError(f"CRL refused before release: {'; '.join(problems)}")


def lint_ocsp_response(response: ocsp.OCSPResponse, responder: x509.Certificate) -> None:
    """A response the responder signed: successful, signed by `responder`, with nextUpdate."""
    problems = []
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        problems.append("status is not successful")
    else:
        key = responder.public_key()
        try:
            key.verify(  # type: ignore[call-arg,union-attr]
                response.signature,
                response.tbs_response_bytes,
                ec.ECDSA(response.signature_hash_algorithm),  # type: ignore[arg-type]
            )
        except (InvalidSignature, TypeError, ValueError):
            problems.append("signature does not verify with the responder's key")
        if response.next_update_utc is None:
            problems.append("nextUpdate missing")
        if response.responder_key_hash is None and response.responder_name != responder.subject:
            problems.append("responder ID names another responder")
    if problems:
        raise LintError(f"OCSP response refused before release: {'; '.join(problems)}")
