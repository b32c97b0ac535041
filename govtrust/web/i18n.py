"""The pages' words, Chinese first, with an English switch (the `gt_lang` cookie)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

LANGUAGES = ("zh", "en")
LANGUAGE_COOKIE = "gt_lang"

# key: (Chinese, English)
TEXTS: dict[str, tuple[str, str]] = {
    "site": ("政务信任服务", "Government trust services"),
    "home": ("首页", "Home"),
    "my_licences": ("我的证照", "My licences"),
    "verify": ("证照验证", "Verify a licence"),
    "department": ("部门办理", "Department"),
    "audit": ("日志审计", "Log audit"),
    "operator": ("信任列表", "Trust list"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "signed_in_as": ("已登录", "Signed in"),
    "region": ("地区", "Region"),
    "username": ("账号", "Account"),
    "password": ("密码", "Password"),
    "sign_in_failed": (
        "账号或密码不正确，或该地区无此账号。",
        "Wrong account or password for that region.",
    ),
    "sign_in_throttled": ("尝试次数过多，请稍后再试。", "Too many attempts: try again later."),
    "home_intro": (
        "电子证照的签发、下载与离线验证。任何地区的账号均可登录。",
        "Issue, download and verify electronic licences offline. "
        "Sign in with an account of any region.",
    ),
    "identifier": ("证照编号", "Licence number"),
    "licence_type": ("证照类型", "Licence type"),
    "holder": ("持有人", "Holder"),
    "holder_id": ("持有人证件号码", "Holder ID number"),
    "holder_id_type": ("证件类型", "ID type"),
    "status": ("状态", "Status"),
    "version": ("版本", "Version"),
    "valid_from": ("有效期自", "Valid from"),
    "valid_until": ("有效期至", "Valid until"),
    "issued_at": ("签发时间", "Issued at"),
    "issuing_department": ("签发部门", "Issuing department"),
    "download_pdf": ("下载盖章PDF", "Download sealed PDF"),
    "show_qr": ("出示二维码", "Show QR code"),
    "qr_hint": (
        "请将此二维码出示给核验人员扫描；它可离线验证证照的真伪与状态。",
        "Show this code to be scanned: it verifies the licence and its status offline.",
    ),
    "no_licences": ("暂无证照。", "No licences yet."),
    "details": ("详情", "Details"),
    "back": ("返回", "Back"),
    "status_active": ("有效", "active"),
    "status_suspended": ("已暂停", "suspended"),
    "status_revoked": ("已吊销", "revoked"),
    "status_superseded": ("已被新版本取代", "superseded"),
    "status_expired": ("已过期", "expired"),
    "verify_intro": (
        "上传证照PDF或二维码图片，查看验证结论。文件仅用于本次验证，不会保存。",
        "Upload a licence PDF or a photo of its QR code to see the verdict. "
        "Nothing is kept after the answer.",
    ),
    "file": ("文件", "File"),
    "upload_limit": ("PDF、PNG或JPEG，不超过 {mb} MB", "PDF, PNG or JPEG, at most {mb} MB"),
    "check": ("验证", "Verify"),
    "verdict": ("结论", "Verdict"),
    "reason": ("原因", "Reason"),
    "report": ("验证报告", "Verification report"),
    "VALID": ("有效", "VALID"),
    "INVALID": ("无效", "INVALID"),
    "INDETERMINATE": ("无法确定", "INDETERMINATE"),
    "issue": ("签发证照", "Issue a licence"),
    "licences_of": ("本部门证照", "Licences of the department"),
    "search": ("搜索", "Search"),
    "search_hint": ("编号或持有人", "number or holder"),
    "all_statuses": ("全部状态", "all statuses"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "page_of": ("共 {total} 条，第 {first}–{last} 条", "{first}–{last} of {total}"),
    "issued": ("已签发并盖章。", "Issued and sealed."),
    "suspend": ("暂停", "Suspend"),
    "reinstate": ("恢复", "Reinstate"),
    "revoke": ("吊销", "Revoke"),
    "change_reason": ("原因", "Reason"),
    "changed": ("状态已更新。", "Status changed."),
    "revocation_reason": ("吊销原因", "Revocation reason"),
    "revoke_confirm": ("吊销不可撤销。", "Revocation is final."),
    "holder_id_type_auto": ("按证照类型", "as the licence type requires"),
    "holder_id_type_001": ("统一社会信用代码", "Unified social credit code"),
    "holder_id_type_111": ("居民身份证号码", "Citizen ID number"),
    "log_regions": ("各地区透明日志", "Transparency logs by region"),
    "checkpoint": ("最新检查点", "Latest checkpoint"),
    "tree_size": ("条目数", "Entries"),
    "root_hash": ("根哈希", "Root hash"),
    "entries": ("条目", "Entries"),
    "entry": ("条目", "Entry"),
    "index": ("序号", "Index"),
    "leaf": ("内容", "Content"),
    "inclusion_proof": ("包含证明", "Inclusion proof"),
    "proof_verified": ("已按检查点验证。", "Verified against the checkpoint."),
    "run_audit": ("运行一致性检查", "Run the consistency check"),
    "audit_result": ("审计结果", "Audit result"),
    "trust_list_versions": ("信任列表版本", "Trust-list versions"),
    "sequence": ("序号", "Number"),
    "next_update": ("下次更新", "Next update"),
    "services": ("各地区服务", "Region services"),
    "service_type": ("服务类型", "Service type"),
    "history": ("状态历史", "Status history"),
    "certificates": ("证书", "Certificates"),
    "audit_intro": (
        "各地区透明日志的最新检查点，其签名已按联邦信任列表验证。",
        "Each region's latest checkpoint, its signature verified against the federation "
        "trust list.",
    ),
    "log_size": ("日志现有条目", "Entries in the log"),
    "signed_at": ("签名时间", "Signed at"),
    "no_checkpoint": ("尚无检查点。", "No checkpoint yet."),
    "checkpoint_invalid": ("检查点未通过验证：", "The checkpoint does not verify:"),
    "browse_entries": ("浏览条目", "Browse entries"),
    "no_entries": ("暂无条目。", "No entries yet."),
    "entries_of": ("{region} 地区日志条目", "Log entries of region {region}"),
    "entry_of": ("{region} 地区日志第 {index} 条", "Entry {index} of region {region}'s log"),
    "leaf_hash": ("叶哈希", "Leaf hash"),
    "proof_hashes": ("证明路径", "Proof path"),
    "proof_failed": ("包含证明未通过验证：", "The inclusion proof does not verify:"),
    "not_checkpointed": (
        "该条目尚未被最新检查点（{size} 条）覆盖，下一个检查点将覆盖它。",
        "The latest checkpoint ({size} entries) does not cover this entry yet; the next one will.",
    ),
    "run_audit_hint": (
        "与 govtrust audit --replay 相同：验证检查点签名及其与上次接受的检查点的一致性，"
        "重放全部条目重建根哈希，并核对日志记录的每个状态列表与信任列表版本。",
        "As govtrust audit --replay: checks each checkpoint's signature and that it extends "
        "the last one accepted, rebuilds the root from every entry, and holds every "
        "status-list and trust-list version the log names against it.",
    ),
    "audit_failed": ("无法完成审计：", "The audit could not be completed:"),
    "audit_source": ("审计对象", "Audited"),
    "audited_at": ("审计时间", "Audited at"),
    "trust_list_sequence": ("信任列表序号", "Trust-list number"),
    "outcome": ("结论", "Outcome"),
    "outcome_agrees": ("一致", "agrees"),
    "outcome_disagrees": ("不一致", "disagrees"),
    "outcome_undecided": ("无法确定", "undecided"),
    "remembered_size": ("上次接受的条目数", "Last accepted size"),
    "entries_replayed": ("已重放条目", "Entries replayed"),
    "status_lists_checked": ("已核对状态列表版本", "Status-list versions checked"),
    "disagreements": ("不一致之处", "Disagreements"),
    "undecided": ("无法确定之处", "Undecided"),
    "notes": ("说明", "Notes"),
    "operator_intro": (
        "联邦信任列表的已发布版本，以及各地区服务的状态历史（只读）。",
        "The published versions of the federation trust list, and every region's services "
        "with their status history (read only).",
    ),
    "published_by": ("发布者", "Published by"),
    "hub_cli": ("枢纽命令行", "hub CLI"),
    "no_versions": ("尚未发布信任列表。", "No trust list has been published."),
    "service_name": ("服务名称", "Service"),
    "service_status": ("当前状态", "Status now"),
    "service_granted": ("已授予", "granted"),
    "service_withdrawn": ("已撤销", "withdrawn"),
    "service_pending": ("尚未生效", "not yet in effect"),
    "since": ("生效时间", "From"),
    "recorded_at": ("记录时间", "Recorded at"),
    "subject": ("主体", "Subject"),
    "fingerprint": ("SHA-256 指纹", "SHA-256 fingerprint"),
    "error": ("出错了", "Something went wrong"),
    "forbidden": ("无权访问此页面。", "You may not open this page."),
    "not_found": ("未找到。", "Not found."),
}


def language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "zh")
    return chosen if chosen in LANGUAGES else "zh"


def translator(lang: str) -> Callable[..., str]:
    """`t(key, **values)`: the text in `lang`, with `{name}` filled in."""
    position = LANGUAGES.index(lang)

    def t(key: str, **values: object) -> str:
        text = TEXTS[key][position] if key in TEXTS else key
        return text.format(**values) if values else text

    return t
