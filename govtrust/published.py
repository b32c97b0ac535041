"""Files the server publishes under var/ for offline verifiers to copy."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy.orm import Session

from ca.federation import listed_regions, load_trust_list_signer, publish_trust_list
from ca.models import TrustListVersion
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from licence_registry.transparency import append_leaf, published_leaf


def write_trust_list_file(settings: Settings, jws: str) -> None:
    """Replace var/trust-list.jws atomically: a reader sees the old list or the new one."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    tmp = settings.trust_list_path.with_suffix(".tmp")
    tmp.write_text(jws + "\n")
    tmp.replace(settings.trust_list_path)


def publish_next_trust_list(
    runtime: Runtime, validity: timedelta, *, published_by: str | None = None
) -> TrustListVersion:
    """Sign and keep the next version; once it is committed, write var/trust-list.jws and
    make this process decide trust with it at once (others re-read within a minute)."""
    with runtime.database.transaction() as session:
        version = publish_trust_list(
            session,
            load_trust_list_signer(session, runtime.key_stores),
            validity,
            published_by=published_by,
        )
        log_trust_list(session, version)
    write_trust_list_file(runtime.settings, version.jws)
    runtime.forget_trust_list()
    return version


def log_trust_list(session: Session, version: TrustListVersion) -> None:
    """Append the version (its sequence and the SHA-256 of its JWS) to every listed region's
    transparency log, in the publishing transaction: each region's auditors can prove which
    trust list governed it, and that no version was shown to some verifiers only."""
    digest = hashlib.sha256(version.jws.encode()).hexdigest()
    for region, _services in listed_regions(session):
        leaf = published_leaf(
            "trust-list", region.code, version.sequence, digest, version.issued_at
        )
        append_leaf(session, region.code, leaf, now=version.issued_at)
