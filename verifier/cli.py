"""`verify`: offline verification of a licence PDF or an identity token, usable without the
rest of govtrust."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from verifier import credential as licence_credential
from verifier import jose
from verifier.bundle import MAX_BUNDLE_BYTES, OfflineBundle, open_bundle
from verifier.certs import normalise_fingerprint
from verifier.credential import CredentialError, VerifiedCredential, verify_credential
from verifier.errors import InputError
from verifier.identity_token import IdentityClaims, IdentityTokenError, verify_identity_token
from verifier.licence_pdf import pdf_licence_status
from verifier.licence_status import LicenceStatusReport, check_licence_status
from verifier.pdf import MAX_PDF_BYTES, PdfReport, verify_pdf
from verifier.report import Verdict
from verifier.state import VerifierState
from verifier.timeutil import format_time, utc_now
from verifier.trust_list import TrustList, TrustListError, verify_trust_list

MAX_TRUST_LIST_BYTES = 8 * 1024 * 1024
_COMPACT_JWS = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_VERDICT_ZH = {Verdict.VALID: "有效", Verdict.INVALID: "无效", Verdict.INDETERMINATE: "无法确定"}


def read_input_file(path: Path, what: str, limit: int) -> bytes:
    try:
        if path.is_dir():
            raise InputError(f"{what} {path} is a directory")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror})") from None
    if len(data) > limit:
        raise InputError(f"{what} {path} is larger than {limit} bytes")
    return data


def load_trust_list(
    path: Path, root_fingerprint: str, at: datetime, state: VerifierState | None = None
) -> TrustList:
    """Read and authenticate a trust list file; an unauthentic one is unusable input.

    With `state`, a list older than one accepted before is refused, and an accepted list
    is remembered."""
    token = read_input_file(path, "trust list", MAX_TRUST_LIST_BYTES)
    pinned = normalise_fingerprint(root_fingerprint)
    try:
        trust_list = verify_trust_list(
            token,
            pinned,
            at=at,
            min_sequence=state.highest_sequence(pinned) if state else None,
        )
    except TrustListError as exc:
        raise InputError(f"trust list {path} cannot be trusted: {exc}") from None
    if state is not None:
        state.record(pinned, trust_list.sequence)
    return trust_list


def load_bundle(
    path: Path, root_fingerprint: str, at: datetime, state: VerifierState | None = None
) -> OfflineBundle:
    """Read and open an offline bundle; its trust list must be signed under the pinned root
    and (with `state`) no older than one accepted before."""
    data = read_input_file(path, "bundle", MAX_BUNDLE_BYTES)
    pinned = normalise_fingerprint(root_fingerprint)
    bundle = open_bundle(
        data, pinned, at=at, min_sequence=state.highest_sequence(pinned) if state else None
    )
    if state is not None:
        state.record(pinned, bundle.trust_list.sequence)
    return bundle


@dataclass(frozen=True)
class TrustSource:
    """Where trust comes from: a bundle (trust list, status lists, CRLs) or a trust list."""

    trust_list_path: Path | None = None
    bundle_path: Path | None = None

    def open(
        self, root_fingerprint: str, at: datetime, state: VerifierState | None
    ) -> tuple[TrustList, OfflineBundle | None]:
        if self.bundle_path is not None:
            bundle = load_bundle(self.bundle_path, root_fingerprint, at, state)
            return bundle.trust_list, bundle
        if self.trust_list_path is None:
            raise InputError("give a bundle or a trust list")
        return load_trust_list(self.trust_list_path, root_fingerprint, at, state), None


def run_verify(
    file: Path,
    source: TrustSource,
    root_fingerprint: str,
    *,
    as_json: bool = False,
    at: datetime | None = None,
    state: VerifierState | None = None,
) -> int:
    """Verify a licence PDF, print the report, return the exit code (0 valid, 1 invalid,
    3 undecided). With a bundle, the licence's status is checked too."""
    at = at or utc_now()
    trust_list, bundle = source.open(root_fingerprint, at, state)
    data = read_input_file(file, "file", MAX_PDF_BYTES)
    report = verify_pdf(data, trust_list, at=at, crls=bundle.crls if bundle else None)
    status = None
    if bundle is not None and report.verdict is Verdict.VALID:
        status = pdf_licence_status(data, report, bundle, at=at)
    verdict, reason = _combined(report.verdict, report.reason, status)
    if as_json:
        document = report.to_json()
        document.update(verdict=str(verdict), reason=reason)
        document["licence_status"] = status_json(status, bundle)
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print(format_report(file, report))
        print(format_status(status, bundle, verdict, reason))
    if verdict is not Verdict.VALID:
        print(f"{verdict}: {reason}", file=sys.stderr)
    return verdict.exit_code


def run_verify_credential(
    token: bytes,
    source: TrustSource,
    root_fingerprint: str,
    *,
    as_json: bool = False,
    at: datetime | None = None,
    state: VerifierState | None = None,
) -> int:
    """Verify a QR credential and, with a bundle, the licence's status; print the report."""
    at = at or utc_now()
    trust_list, bundle = source.open(root_fingerprint, at, state)
    verified: VerifiedCredential | None = None
    status: LicenceStatusReport | None = None
    try:
        verified = verify_credential(token.strip(), trust_list, at=at)
    except CredentialError as exc:
        verdict, reason = Verdict.INVALID, f"credential: {exc}"
    else:
        if bundle is not None:
            status = check_licence_status(verified, bundle, at=at)
        verdict, reason = _combined(Verdict.VALID, "credential signature valid", status)
    if as_json:
        document = {
            "kind": "licence-credential",
            "verdict": str(verdict),
            "reason": reason,
            "validation_time": at.isoformat(),
            "trust_list_sequence": trust_list.sequence,
            "claims": verified.claims.to_json() if verified else None,
            "licence_status": status_json(status, bundle),
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        if verified is not None:
            print(format_credential(verified))
        print(format_status(status, bundle, verdict, reason))
    if verdict is not Verdict.VALID:
        print(f"{verdict}: {reason}", file=sys.stderr)
    return verdict.exit_code


NO_STATUS = "the licence's status was not checked: verify with --bundle (its status lists)"


def _combined(
    verdict: Verdict, reason: str, status: LicenceStatusReport | None
) -> tuple[Verdict, str]:
    """The overall verdict: the seals' (or credential's), then the licence status's. With
    no status known (no bundle), a licence is never VALID: it may have been revoked."""
    if verdict is not Verdict.VALID:
        return verdict, reason
    if status is None:
        return Verdict.INDETERMINATE, NO_STATUS
    return status.verdict, status.reason


def status_json(
    status: LicenceStatusReport | None, bundle: OfflineBundle | None
) -> dict[str, object] | None:
    if bundle is None:
        return {"checked": False, "reason": "no bundle given: the licence status was not checked"}
    return {
        "checked": status is not None,
        "verdict": str(status.verdict) if status else None,
        "indication": str(status.indication) if status else None,
        "status": str(status.status) if status and status.status else None,
        "reason": status.reason if status else None,
        "status_list_issued_at": (
            status.status_list_issued_at.isoformat()
            if status and status.status_list_issued_at
            else None
        ),
        "bundle": {
            "exported_at": bundle.exported_at.isoformat(),
            "trust_list_sequence": bundle.trust_list.sequence,
            "problems": list(bundle.problems),
        },
    }


def format_status(
    status: LicenceStatusReport | None,
    bundle: OfflineBundle | None,
    verdict: Verdict,
    reason: str,
) -> str:
    if bundle is None:
        line = "not checked: no --bundle (status lists) given"
    elif status is None:
        line = "not checked: the seals are not valid"
    else:
        line = f"{status.indication} — {status.reason}"
    lines = [f"执照状态 Licence status: {line}"]
    if bundle is not None:
        lines.append(
            f"离线包 Bundle:         exported {format_time(bundle.exported_at)}, "
            f"trust list #{bundle.trust_list.sequence}"
        )
    lines.append(f"总结论 Overall:        {_VERDICT_ZH[verdict]} {verdict} ({reason})")
    return "\n".join(lines)


def format_credential(verified: VerifiedCredential) -> str:
    claims = verified.claims
    return "\n".join(
        [
            f"执照 Licence:         {claims.identifier}",
            f"类型 Type:            {claims.licence_type}",
            f"持有人 Holder:        {claims.holder_name} ({claims.holder_id_masked})",
            f"发证部门 Department:  {claims.department} ({claims.department_uscc}), "
            f"region {claims.region}",
            f"有效期 Valid:         {claims.valid_from} – {claims.valid_until or '长期 no end'}",
        ]
    )


def is_licence_credential(token: bytes) -> bool:
    """A compact JWS whose header says it is a govtrust licence credential."""
    try:
        header = jose.read_compact(token.strip(), max_payload_bytes=4096).header
    except InputError:
        return False
    return header.get("typ") == licence_credential.TYP


def format_report(file: Path, report: PdfReport) -> str:
    lines = [
        f"文件 File:            {file}",
        f"结论 Verdict:         {_VERDICT_ZH[report.verdict]} {report.verdict} "
        f"({report.indication})",
        f"原因 Reason:          {report.reason}",
        f"信任列表 Trust list:  #{report.trust_list_sequence}, "
        f"issued {report.trust_list_issued_at:%Y-%m-%d %H:%M:%SZ}",
        f"验证时间 Checked at:  {report.validation_time:%Y-%m-%d %H:%M:%SZ}",
    ]
    for seal in report.seals:
        lines += [
            f"印章 Seal {seal.field_name}: {_VERDICT_ZH[seal.verdict]} {seal.verdict} — "
            f"{seal.reason}",
            f"  部门 Department:    {seal.department or '-'} "
            f"({seal.organization_identifier or '-'})",
            f"  地区 Region:        {seal.region_code or '-'} {seal.region_name or ''}".rstrip(),
            "  签署时间 Signed at: "
            + (
                f"{seal.signing_time:%Y-%m-%d %H:%M:%SZ} "
                f"({'timestamp' if seal.timestamped else 'claimed by signer, no timestamp'})"
                if seal.signing_time
                else "-"
            ),
            f"  签署者 Signer:      {seal.signer}",
        ]
        lines += [
            f"  吊销 Revocation:    {r.status}: {r.subject} — {r.source}" for r in seal.revocation
        ]
    return "\n".join(lines)


def looks_like_compact_jws(data: bytes | str) -> bool:
    """Three base64url parts separated by dots (surrounding whitespace ignored)."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    return _COMPACT_JWS.match(raw.strip()) is not None


def run_verify_token(
    token: bytes,
    source: TrustSource,
    root_fingerprint: str,
    *,
    audience: str | None = None,
    as_json: bool = False,
    at: datetime | None = None,
    state: VerifierState | None = None,
) -> int:
    """Verify an identity token, print what it says, return the exit code (0 valid,
    1 invalid, 3 undecided: trust list past its next_update)."""
    at = at or utc_now()
    trust_list, _bundle = source.open(root_fingerprint, at, state)
    try:
        claims: IdentityClaims | None = verify_identity_token(
            token, trust_list, audience=audience, at=at
        )
        verdict, reason = Verdict.VALID, "identity token is valid"
    except IdentityTokenError as exc:
        claims, verdict, reason = None, Verdict.INVALID, str(exc)
    if verdict is Verdict.VALID and trust_list.is_stale(at):
        verdict = Verdict.INDETERMINATE
        reason = f"trust list #{trust_list.sequence} is past its next_update"
    if as_json:
        report = {
            "kind": "identity-token",
            "verdict": str(verdict),
            "reason": reason,
            "audience_checked": audience is not None,
            "trust_list_sequence": trust_list.sequence,
            "claims": claims.to_json() if claims else None,
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif claims is not None:
        print(format_claims(claims, verdict, reason, audience))
    if verdict is not Verdict.VALID:
        print(f"{verdict}: {reason}", file=sys.stderr)
    return verdict.exit_code


def format_claims(
    claims: IdentityClaims, verdict: Verdict, reason: str, audience: str | None
) -> str:
    checked = "checked" if audience is not None else "not checked, no --audience"
    return "\n".join(
        [
            f"结论 Verdict:        {_VERDICT_ZH[verdict]} {verdict} ({reason})",
            f"签发者 Issuer:       {claims.issuer}",
            f"主体 Subject:        {claims.subject}",
            f"地区 Region:         {claims.region}",
            f"角色 Roles:          {', '.join(claims.roles) or '-'}",
            f"受众 Audience:       {', '.join(claims.audience)} ({checked})",
            f"认证级别 ACR:        {claims.acr}",
            f"签发时间 Issued at:  {claims.issued_at:%Y-%m-%d %H:%M:%SZ}",
            f"过期时间 Expires at: {claims.expires_at:%Y-%m-%d %H:%M:%SZ}",
        ]
    )
