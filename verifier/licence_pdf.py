"""The QR credential inside a licence PDF: an embedded file the certifying seal signs.

The seal service attaches the credential it prints as a QR code (`CREDENTIAL_ATTACHMENT`),
so a verifier holding only the PDF knows the licence's status-list entry. It is read from
the revision the first seal signed: a later incremental update cannot swap it (and would
in any case be refused as a change after sealing).
"""

from __future__ import annotations

import io
from datetime import datetime

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from verifier.bundle import OfflineBundle
from verifier.credential import MAX_CREDENTIAL_CHARS, CredentialError, verify_credential
from verifier.errors import InputError
from verifier.licence_status import LicenceStatusReport, StatusIndication, check_licence_status
from verifier.pdf import PARSE_ERRORS, PdfReport
from verifier.pdf_structure import UnusableSignature, byte_range_start
from verifier.report import Verdict

CREDENTIAL_ATTACHMENT = "licence-credential.jwt"
CREDENTIAL_MEDIA_TYPE = "application/jwt"
MAX_ATTACHMENTS = 64


def embedded_credential(data: bytes) -> str | None:
    """The credential signed into the PDF by its first seal; None when it carries none.
    Raises InputError when the PDF or the attachment cannot be read."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = sorted(reader.embedded_regular_signatures, key=byte_range_start)
        if not signatures:
            return None
        root = reader.get_historical_root(signatures[0].signed_revision)
        return _attachment(root, CREDENTIAL_ATTACHMENT)
    except InputError:
        raise
    except (*PARSE_ERRORS, UnusableSignature) as exc:
        raise InputError(
            f"the licence's credential cannot be read ({type(exc).__name__})"
        ) from None


def pdf_licence_status(
    data: bytes, report: PdfReport, bundle: OfflineBundle, *, at: datetime
) -> LicenceStatusReport:
    """The status of the licence a sealed PDF carries, from `bundle`: its embedded credential
    must verify and name the department and region of the PDF's first seal, then the
    region's status list in the bundle answers."""

    def refused(verdict: Verdict, indication: StatusIndication, reason: str) -> LicenceStatusReport:
        return LicenceStatusReport(verdict, indication, reason, None, None, bundle.exported_at)

    credential = embedded_credential(data)
    if credential is None:
        return refused(
            Verdict.INDETERMINATE,
            StatusIndication.UNKNOWN_STATUS,
            "The licence carries no credential, so its status cannot be checked offline.",
        )
    try:
        verified = verify_credential(credential, bundle.trust_list, at=at)
    except CredentialError as exc:
        return refused(
            Verdict.INVALID, StatusIndication.UNKNOWN_STATUS, f"The licence's credential: {exc}."
        )
    claims = verified.claims
    first = report.seals[0] if report.seals else None
    sealed_by = (first.region_code, first.organization_identifier) if first else None
    if sealed_by != (claims.region, f"NTRCN-{claims.department_uscc}"):
        return refused(
            Verdict.INVALID,
            StatusIndication.UNKNOWN_STATUS,
            f"The licence's credential names department {claims.department_uscc} of region "
            f"{claims.region}, which did not seal this PDF.",
        )
    return check_licence_status(verified, bundle, at=at)


def _attachment(root: generic.DictionaryObject, name: str) -> str | None:
    names = root.get("/Names")
    files = names.get("/EmbeddedFiles") if isinstance(names, generic.DictionaryObject) else None
    entries = files.get("/Names") if isinstance(files, generic.DictionaryObject) else None
    if not isinstance(entries, generic.ArrayObject):
        return None
    if len(entries) > 2 * MAX_ATTACHMENTS:
        raise InputError(f"the PDF has more than {MAX_ATTACHMENTS} attachments")
    found = [
        entries[i + 1].get_object()
        for i in range(0, len(entries) - 1, 2)
        if isinstance(entries[i], generic.TextStringObject) and str(entries[i]) == name
    ]
    if not found:
        return None
    if len(found) > 1:
        raise InputError(f"the PDF attaches {name} more than once")
    stream = found[0]["/EF"]["/F"].get_object()
    if not isinstance(stream, generic.StreamObject):
        raise InputError(f"the PDF's {name} is not an embedded file")
    raw = stream.data
    if len(raw) > MAX_CREDENTIAL_CHARS:
        raise InputError(f"the PDF's {name} is longer than {MAX_CREDENTIAL_CHARS} characters")
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InputError(f"the PDF's {name} is not ASCII text") from None
