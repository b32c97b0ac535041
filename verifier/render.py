"""Views of a verification report (the JSON document verifier/judge.py builds): text for a
terminal and a printable HTML page, both with Chinese and English labels. The JSON report
is the one source; these only lay it out.

Public API: render_text(report, source), render_html(reports), report_section(source,
report), summary_table(rows).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

VERDICT_ZH = {"VALID": "有效", "INVALID": "无效", "INDETERMINATE": "无法确定"}
# Report fields in the order they are shown, with their labels (a field without one is
# shown under its JSON name).
LABELS: dict[str, str] = {
    "field": "印章域 Field",
    "verdict": "结论 Verdict",
    "main_indication": "指示 Indication",
    "indication": "子指示 Sub-indication",
    "reason": "原因 Reason",
    "validation_time": "验证时间 Checked at",
    "trust_list": "信任列表 Trust list",
    "trust_list_sequence": "信任列表序号 Trust list number",
    "trust_list_issued_at": "信任列表签发 Trust list signed",
    "sequence": "序号 Number",
    "issued_at": "签发时间 Issued at",
    "expires_at": "过期时间 Expires at",
    "audience_checked": "受众已核 Audience checked",
    "claims": "内容 Contents",
    "identifier": "执照编号 Licence number",
    "licence_type": "类型 Type",
    "holder_name": "持有人 Holder",
    "holder_id_masked": "持有人证件 Holder ID",
    "department": "部门 Department",
    "department_uscc": "部门代码 Department USCC",
    "organization_identifier": "机构标识 Organisation ID",
    "region": "地区 Region",
    "region_name": "地区名 Region name",
    "valid_from": "有效期自 Valid from",
    "valid_until": "有效期至 Valid until",
    "status_index": "状态索引 Status index",
    "content_digest": "内容摘要 Content digest",
    "issuer": "签发者 Issuer",
    "subject": "主体 Subject",
    "audience": "受众 Audience",
    "roles": "角色 Roles",
    "acr": "认证级别 ACR",
    "jwt_id": "令牌编号 Token ID",
    "signer_region": "签名者地区 Signer region",
    "seals": "印章 Seals",
    "signing_time": "签署时间 Signed at",
    "signing_time_source": "时间来源 Time proven by",
    "signer": "签署者 Signer",
    "revocation": "吊销检查 Revocation",
    "chain": "证书链 Certificate chain",
    "trust_list_status": "信任列表状态 Trust-list status",
    "changes_after": "后续修改 Changes after the seal",
    "certificate": "证书 Certificate",
    "status": "状态 Status",
    "source": "来源 Source",
    "revoked_at": "吊销时间 Revoked at",
    "licence_status": "执照状态 Licence status",
    "checked": "已检查 Checked",
    "status_list_issued_at": "状态列表签发 Status list signed",
    "status_list_age_seconds": "状态列表时长(秒) Status list age (s)",
    "bundle": "离线包 Bundle",
    "exported_at": "导出时间 Exported at",
    "problems": "问题 Problems",
}


def render_text(report: Mapping[str, object], source: str) -> str:
    """The report as aligned `label: value` lines, nested values indented."""
    lines = [f"文件 Input: {source}"]
    for key, value in _ordered(report, LABELS):
        if key == "seals" and isinstance(value, list):
            for seal in value:
                lines.append(f"印章 Seal {seal.get('field', '')}:")
                lines += _lines(seal, LABELS, indent=2)
            continue
        lines += _lines({key: value}, LABELS, indent=0)
    verdict = str(report.get("verdict", ""))
    lines.append(
        f"总结论 Overall: {VERDICT_ZH.get(verdict, '')} {verdict} ({report.get('reason')})"
    )
    return "\n".join(lines)


def _ordered(document: Mapping[str, object], labels: Mapping[str, str]) -> list[tuple[str, object]]:
    known = [(k, document[k]) for k in labels if k in document]
    return known + [(k, v) for k, v in document.items() if k not in labels and k != "kind"]


def _lines(document: Mapping[str, object], labels: Mapping[str, str], indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for key, value in _ordered(document, labels):
        label = labels.get(key, key)
        if isinstance(value, Mapping):
            lines.append(f"{pad}{label}:")
            lines += _lines(value, labels, indent + 2)
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            lines.append(f"{pad}{label}:")
            for item in value:
                lines += _lines(item, labels, indent + 2)
                lines.append("")
            lines.pop()
        elif isinstance(value, list):
            lines.append(f"{pad}{label}: {', '.join(map(str, value)) or '-'}")
        else:
            lines.append(f"{pad}{label}: {'-' if value is None else value}")
    return lines


def render_html(reports: Sequence[tuple[str, Mapping[str, object]]]) -> str:
    """A printable page: one section per input, every value escaped, no scripts."""
    sections = "\n".join(report_section(source, report) for source, report in reports)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>验证报告 Verification report</title>
<style>
body {{ font-family: "Noto Serif SC", serif; margin: 2em; }}
table {{ border-collapse: collapse; margin: 0.3em 0 1em; }}
th, td {{ border: 1px solid #999; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }}
th {{ background: #eee; white-space: nowrap; }}
.VALID {{ color: #060; }} .INVALID {{ color: #a00; }} .INDETERMINATE {{ color: #a60; }}
@media print {{ section {{ page-break-after: always; }} }}
</style></head><body>
<h1>验证报告 Verification report</h1>
{sections}
</body></html>
"""


def report_section(source: str, report: Mapping[str, object]) -> str:
    """One input's report as an HTML <section> (every value escaped)."""
    verdict = str(report.get("verdict", ""))
    heading = (
        f'<h2>{html.escape(source)}: <span class="{html.escape(verdict)}">'
        f"{VERDICT_ZH.get(verdict, '')} {html.escape(verdict)}</span></h2>"
    )
    return f"<section>{heading}{_table(report, LABELS)}</section>"


def _table(document: Mapping[str, object], labels: Mapping[str, str]) -> str:
    rows = []
    for key, value in _ordered(document, labels):
        rows.append(
            f"<tr><th>{html.escape(labels.get(key, key))}</th><td>{_cell(value, labels)}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _cell(value: object, labels: Mapping[str, str]) -> str:
    if isinstance(value, Mapping):
        return _table(value, labels)
    if isinstance(value, list):
        return (
            "".join(
                _cell(item, labels)
                if isinstance(item, Mapping)
                else html.escape(str(item)) + "<br>"
                for item in value
            )
            or "-"
        )
    return "-" if value is None else html.escape(str(value))


def summary_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """Folder mode's closing table: file, verdict, reason; then the counts."""
    width = max((len(name) for name, _, _ in rows), default=4)
    lines = [f"{'文件 File'.ljust(width + 2)}  结论 Verdict     原因 Reason"]
    for name, verdict, reason in rows:
        lines.append(f"{name.ljust(width + 2)}  {verdict.ljust(15)}  {reason}")
    counts: dict[str, int] = {}
    for _, verdict, _ in rows:
        counts[verdict] = counts.get(verdict, 0) + 1
    lines.append("合计 Total: " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))
    return "\n".join(lines)
