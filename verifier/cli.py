"""`verify`: offline verification of a licence PDF or an identity token, usable without the
rest of govtrust."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path

from verifier.certs import normalise_fingerprint
from verifier.errors import InputError
from verifier.identity_token import IdentityClaims, IdentityTokenError, verify_identity_token
from verifier.pdf import MAX_PDF_BYTES, REVOCATION_NOT_CHECKED, PdfReport, verify_pdf
from verifier.report import Verdict
from verifier.state import VerifierState
from verifier.timeutil import utc_now
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


def run_verify(
    file: Path,
    trust_list_path: Path,
    root_fingerprint: str,
    *,
    as_json: bool = False,
    at: datetime | None = None,
    state: VerifierState | None = None,
) -> int:
    """Verify `file`, print the report, return the exit code (0 valid, 1 invalid, 3 undecided)."""
    at = at or utc_now()
    trust_list = load_trust_list(trust_list_path, root_fingerprint, at, state)
    report = verify_pdf(read_input_file(file, "file", MAX_PDF_BYTES), trust_list, at=at)
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(format_report(file, report))
    if report.verdict is not Verdict.VALID:
        print(f"{report.verdict}: {report.reason}", file=sys.stderr)
    return report.verdict.exit_code


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
    lines.append(f"吊销检查 Revocation:  {REVOCATION_NOT_CHECKED}")
    return "\n".join(lines)


def looks_like_compact_jws(data: bytes | str) -> bool:
    """Three base64url parts separated by dots (surrounding whitespace ignored)."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    return _COMPACT_JWS.match(raw.strip()) is not None


def run_verify_token(
    token: bytes,
    trust_list_path: Path,
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
    trust_list = load_trust_list(trust_list_path, root_fingerprint, at, state)
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
