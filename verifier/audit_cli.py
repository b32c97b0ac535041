"""`audit`: run an audit of a server or a bundle, print the report, return the exit code
(0 everything agrees, 1 a disagreement, 3 undecided; unusable input raises InputError)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from verifier.audit import AuditReport, Outcome, RegionAudit, audit_bundle, audit_server
from verifier.audit_source import HttpLogServer, SourceUnavailable
from verifier.audit_state import AuditState
from verifier.bundle import MAX_BUNDLE_BYTES
from verifier.errors import InputError
from verifier.timeutil import format_time

_OUTCOME_ZH = {Outcome.AGREES: "一致", Outcome.DISAGREES: "不一致", Outcome.UNDECIDED: "无法确定"}


def run_audit(
    *,
    server: str | None,
    bundle: Path | None,
    state_dir: Path,
    root_fingerprint: str,
    replay: bool = False,
    as_json: bool = False,
    at: datetime | None = None,
) -> int:
    if (server is None) == (bundle is None):
        raise InputError("give either --server URL or --bundle FILE")
    if replay and bundle is not None:
        raise InputError("--replay needs --server: a bundle holds no log entries")
    state = AuditState(state_dir)
    try:
        if server is not None:
            with HttpLogServer(server) as source:
                report = audit_server(
                    source,
                    root_fingerprint,
                    state,
                    replay=replay,
                    at=at,
                    progress=_progress if replay and sys.stderr.isatty() else None,
                )
        else:
            assert bundle is not None
            # verifier.cli loads the PDF verifier; an audit of a server never needs it.
            from verifier.cli import read_input_file

            data = read_input_file(bundle, "bundle", MAX_BUNDLE_BYTES)
            report = audit_bundle(data, root_fingerprint, state, at=at, description=str(bundle))
    except SourceUnavailable as exc:
        print(f"{Outcome.UNDECIDED}: cannot audit: {exc}", file=sys.stderr)
        return Outcome.UNDECIDED.exit_code
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    if report.outcome is not Outcome.AGREES:
        print(f"{report.outcome}: {first_reason(report)}", file=sys.stderr)
    return report.exit_code


def first_reason(report: AuditReport) -> str:
    """One line for stderr: the first disagreement, else the first undecided point."""
    for attribute in ("disagreements", "undecided"):
        for region in report.regions:
            reasons = getattr(region, attribute)
            if reasons:
                return f"region {region.region}: {reasons[0]}"
    return "no region with a log is listed in the trust list"


def format_report(report: AuditReport) -> str:
    lines = [
        f"审计 Audit:        {report.mode} {report.source}"
        + (", entries replayed" if report.replayed else ""),
        f"信任列表 Trust list: #{report.trust_list_sequence}",
        f"审计时间 At:       {format_time(report.audited_at)}",
    ]
    for region in report.regions:
        lines += _format_region(region)
    lines.append(f"结论 Overall:      {_OUTCOME_ZH[report.outcome]} {report.outcome}")
    return "\n".join(lines)


def _format_region(region: RegionAudit) -> list[str]:
    if region.tree_size is None:
        checkpoint = "no acceptable checkpoint"
    else:
        signed = f", signed {format_time(region.signed_at)}" if region.signed_at else ""
        checkpoint = f"checkpoint size {region.tree_size}{signed}"
    if region.remembered_size is not None:
        checkpoint += f" (remembered: size {region.remembered_size})"
    outcome = f"{_OUTCOME_ZH[region.outcome]} {region.outcome}"
    lines = [f"地区 Region {region.region}: {outcome} — {checkpoint}"]
    if region.entries_replayed:
        lines.append(
            f"  replayed {region.entries_replayed} entries, "
            f"{region.status_lists_checked} status list versions"
        )
    lines += [f"  不一致 disagrees: {line}" for line in region.disagreements]
    lines += [f"  无法确定 undecided: {line}" for line in region.undecided]
    lines += [f"  note: {line}" for line in region.notes]
    return lines


def _progress(region: str, done: int, total: int) -> None:
    end = "\n" if done >= total else ""
    print(f"\rregion {region}: {done}/{total} entries", end=end, file=sys.stderr, flush=True)
