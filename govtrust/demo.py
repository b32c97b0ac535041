"""`govtrust demo`: one licence, issued in 330000 and checked offline by a 440000 agency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from govtrust.bundle import export_bundle
from govtrust.devinit import dev_init
from govtrust.issuance import SealingService
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from licence_registry import IssueRequest, issue_licence, revoke_licence
from verifier.bundle import open_bundle
from verifier.errors import InputError
from verifier.identifiers import make_uscc
from verifier.licence_pdf import pdf_licence_status
from verifier.pdf import verify_pdf
from verifier.report import Verdict
from verifier.timeutil import utc_now

DEMO_HOLDER = "杭州云栖数字科技有限公司"


def run_demo(settings: Settings, out: Path, *, say: Callable[[str], None]) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    result = dev_init(settings)
    say(f"1. Federation ready. National root SHA-256: {result.root_fingerprint}")

    runtime = Runtime(settings)
    licence = issue_licence(
        runtime.database.transaction,
        IssueRequest("330000", "amr", "business-licence", DEMO_HOLDER, demo_holder_uscc()),
        sealer=SealingService.for_pdf(runtime),
        protector=runtime.data_protector,
        status_signers=runtime.status_signer,
    )
    identifier, pdf = licence.identifier, licence.pdf
    licence_path = out / "licence.pdf"
    licence_path.write_bytes(pdf)
    say(f"2. 浙江省市场监督管理局 (330000/amr) issued and sealed business licence {identifier}")
    say(f"   for {DEMO_HOLDER}; written to {licence_path}")

    bundle_path = out / "bundle.json"
    bundle_path.write_bytes(export_bundle(runtime))
    now = utc_now()
    bundle = open_bundle(bundle_path.read_bytes(), result.root_fingerprint, at=now)
    say(
        f"3. An agency in 440000 (广东省), offline, holds only the root fingerprint and a bundle "
        f"({bundle_path}: trust list #{bundle.trust_list.sequence}, CRLs, status lists)."
    )
    report = verify_pdf(pdf, bundle.trust_list, at=now, crls=bundle.crls)
    status = pdf_licence_status(pdf, report, bundle, at=now)
    seal = report.seals[0]
    say(
        f"   Verdict: {status.verdict} — sealed by {seal.department} "
        f"(region {seal.region_code} {seal.region_name}); licence status {status.status}"
    )
    if report.verdict is not Verdict.VALID or status.verdict is not Verdict.VALID:
        raise RuntimeError(f"demo licence did not verify: {report.reason}; {status.reason}")

    tampered = bytearray(pdf)
    position = pdf.index(b"/MediaBox") + 12
    tampered[position] ^= 0x01
    tampered_path = out / "tampered.pdf"
    tampered_path.write_bytes(bytes(tampered))
    tampered_report = verify_pdf(bytes(tampered), bundle.trust_list, at=now, crls=bundle.crls)
    say(f"4. One byte changed (offset {position}); written to {tampered_path}")
    say(f"   Verdict: {tampered_report.verdict} — {tampered_report.reason}")
    if tampered_report.verdict is Verdict.VALID:
        raise RuntimeError("tampered licence verified as valid")

    with runtime.database.transaction() as session:
        revoked = revoke_licence(session, identifier, "demo: business deregistered")
        say(f"5. The issuing department revoked it at {revoked.revoked_at:%Y-%m-%d %H:%M:%SZ}.")
    later = export_bundle(runtime)
    (out / "bundle-after.json").write_bytes(later)
    after = open_bundle(later, result.root_fingerprint, at=utc_now())
    status = pdf_licence_status(pdf, report, after, at=utc_now())
    say(f"   With a bundle exported after it ({out / 'bundle-after.json'}): {status.reason}")
    if status.verdict is not Verdict.INVALID:
        raise RuntimeError("revoked licence not reported as revoked")


def demo_holder_uscc() -> str:
    return make_uscc("9", "1", "330100", "MA2B3C4D")
