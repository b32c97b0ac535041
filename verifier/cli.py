"""`verify`: offline verification of a licence PDF, a QR credential (text or image), an
identity token, or a folder of them, usable without the rest of govtrust."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from verifier import credential as licence_credential
from verifier import jose
from verifier.bundle import MAX_BUNDLE_BYTES, OfflineBundle, open_bundle
from verifier.certs import normalise_fingerprint
from verifier.errors import InputError
from verifier.judge import Judge, Outcome
from verifier.pdf import MAX_PDF_BYTES
from verifier.qr_image import decode_qr_image, looks_like_image
from verifier.render import render_html, render_text, summary_table
from verifier.report import Verdict
from verifier.state import VerifierState
from verifier.timeutil import utc_now
from verifier.trust_list import TrustList, TrustListError, verify_trust_list

MAX_TRUST_LIST_BYTES = 8 * 1024 * 1024
_COMPACT_JWS = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


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


def looks_like_compact_jws(data: bytes | str) -> bool:
    """Three base64url parts separated by dots (surrounding whitespace ignored)."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    return _COMPACT_JWS.match(raw.strip()) is not None


def is_licence_credential(token: bytes) -> bool:
    """A compact JWS whose header says it is a govtrust licence credential."""
    try:
        header = jose.read_compact(token.strip(), max_payload_bytes=4096).header
    except InputError:
        return False
    return header.get("typ") == licence_credential.TYP


@dataclass(frozen=True)
class VerifyRequest:
    """What `govtrust verify` was asked: against what, when, and how to report."""

    source: TrustSource
    root_fingerprint: str
    at: datetime | None = None
    max_bundle_age: timedelta | None = None
    audience: str | None = None
    as_json: bool = False
    html: Path | None = None
    state: VerifierState | None = None


def run_verify(target: str, request: VerifyRequest) -> int:
    """Verify `target` (a file, a token's text, or a folder), print the report, write the
    HTML page if asked, return the exit code: 0 valid, 1 invalid, 3 undecided."""
    at = request.at or utc_now()
    trust_list, bundle = request.source.open(request.root_fingerprint, at, request.state)
    judge = Judge(trust_list, bundle, at, request.max_bundle_age)
    folder = Path(target)
    if _is_dir(folder):
        return _run_folder(folder, judge, request)
    outcome = judge_input(target, judge, request.audience)
    if request.as_json:
        print(json.dumps(outcome.report, ensure_ascii=False, indent=2))
    else:
        print(render_text(outcome.report, _shown(target)))
    if request.html is not None:
        _write_html(request.html, [(_shown(target), outcome.report)])
    if outcome.verdict is not Verdict.VALID:
        print(f"{outcome.verdict}: {outcome.reason}", file=sys.stderr)
    return outcome.verdict.exit_code


def judge_input(target: str, judge: Judge, audience: str | None = None) -> Outcome:
    """Tell what `target` is (a PDF, a QR image, a credential or token, given as a file or
    as text) and judge it. InputError when it is none of them."""
    path = Path(target)
    if _is_file(path):
        data = read_input_file(path, "file", MAX_PDF_BYTES)
    elif looks_like_compact_jws(target):
        data = target.encode("ascii")
    else:
        raise InputError(f"file {target} does not exist")
    return judge_data(data, judge, audience)


def judge_data(
    data: bytes, judge: Judge, audience: str | None = None, *, tokens: bool = True
) -> Outcome:
    """Judge a PDF, a QR code image, a credential or (with `tokens`) an identity token
    given as bytes. InputError when it is none of them."""
    if data.startswith(b"%PDF"):
        return judge.judge_pdf(data)
    if looks_like_image(data):
        data = decode_qr_image(data).encode("utf-8", "replace")
    if not looks_like_compact_jws(data):
        raise InputError("input is not a PDF, a QR code image, a credential or a token")
    if is_licence_credential(data):
        return judge.judge_credential(data)
    if not tokens:
        raise InputError("the QR code does not hold a licence credential")
    return judge.judge_token(data.strip(), audience)


# Folder mode: everything that can be verified, with a progress line and a summary table.
FOLDER_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".jwt", ".jws", ".txt"})
MAX_FOLDER_FILES = 1_000_000


def _run_folder(folder: Path, judge: Judge, request: VerifyRequest) -> int:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in FOLDER_SUFFIXES)
    if not files:
        raise InputError(f"folder {folder} holds no PDF, image or token file")
    if len(files) > MAX_FOLDER_FILES:
        raise InputError(f"folder {folder} holds more than {MAX_FOLDER_FILES} files")
    rows: list[tuple[str, str, str]] = []
    reports: list[tuple[str, dict[str, object]]] = []
    progress = sys.stderr.isatty()
    for number, path in enumerate(files, start=1):
        name = str(path.relative_to(folder))
        try:
            outcome = judge_input(str(path), judge, request.audience)
        except InputError as exc:
            rows.append((name, UNUSABLE, str(exc)))
            reports.append((name, {"kind": "unusable", "verdict": UNUSABLE, "reason": str(exc)}))
        else:
            rows.append((name, str(outcome.verdict), outcome.reason))
            reports.append((name, outcome.report))
        if progress:
            print(f"\r验证 verifying {number}/{len(files)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    if request.as_json:
        document = [{"file": name, **report} for name, report in reports]
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print(summary_table(rows))
    if request.html is not None:
        _write_html(request.html, reports)
    verdicts = {verdict for _, verdict, _ in rows}
    if str(Verdict.INVALID) in verdicts:
        return Verdict.INVALID.exit_code
    if verdicts != {str(Verdict.VALID)}:
        return Verdict.INDETERMINATE.exit_code
    return Verdict.VALID.exit_code


UNUSABLE = "UNUSABLE"


def _write_html(path: Path, reports: list[tuple[str, dict[str, object]]]) -> None:
    try:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(render_html(reports), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InputError(f"--html {path} cannot be written ({exc.strerror})") from None


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a token is longer than a file name may be
        return False


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _shown(target: str) -> str:
    return target if len(target) <= 80 else target[:40] + "…" + target[-20:]
