"""The licence registry's per-region transparency logs: the one module callers import.

Each region has an append-only RFC 9162 Merkle tree (SHA-256) of canonical-JSON leaves:
every licence event, every status-list version and every trust-list version. The registry
appends in the same transaction as the change it records (`append_leaf`), checkpoints are
signed every few seconds when there are new entries (`checkpoint_if_due`), proofs for any
tree size come from stored subtree hashes, and `audit_log` replays everything from the
leaves. Formats and proof checks are the verifier's (verifier.merkle, verifier.checkpoint).

The work is split by concern: log_leaves (what a leaf is), log_store (append, roots,
proofs, entries), log_checkpoints (signing) and log_audit (replay).
"""

from __future__ import annotations

from licence_registry.log_audit import (
    AuditProblem,
    AuditResult,
    ProblemKind,
    audit_log,
    region_log_keys,
)
from licence_registry.log_checkpoints import (
    DEFAULT_CHECKPOINT_INTERVAL,
    LogCheckpoint,
    LogSigner,
    UnknownLog,
    checkpoint_at,
    checkpoint_if_due,
    latest_checkpoint,
    list_checkpoints,
    load_log_signer,
    sign_checkpoint,
)
from licence_registry.log_leaves import (
    LeafError,
    PublishedKind,
    canonical_json,
    licence_leaf,
    parse_leaf,
    published_leaf,
)
from licence_registry.log_store import (
    MAX_PAGE,
    LogCorrupted,
    LogEntry,
    LogError,
    LogNotFound,
    append_leaf,
    consistency_proof,
    entries,
    find_licence_leaves,
    inclusion_proof,
    root_at,
    tree_size,
)

__all__ = [
    "DEFAULT_CHECKPOINT_INTERVAL",
    "MAX_PAGE",
    "AuditProblem",
    "AuditResult",
    "LeafError",
    "LogCheckpoint",
    "LogCorrupted",
    "LogEntry",
    "LogError",
    "LogNotFound",
    "LogSigner",
    "ProblemKind",
    "PublishedKind",
    "UnknownLog",
    "append_leaf",
    "audit_log",
    "canonical_json",
    "checkpoint_at",
    "checkpoint_if_due",
    "consistency_proof",
    "entries",
    "find_licence_leaves",
    "inclusion_proof",
    "latest_checkpoint",
    "licence_leaf",
    "list_checkpoints",
    "load_log_signer",
    "parse_leaf",
    "published_leaf",
    "region_log_keys",
    "root_at",
    "sign_checkpoint",
    "tree_size",
]
