"""`govtrust dev-init`: a complete development federation on one machine.

National root (key under keys-dev/root, never used by the server), a hub
trust-list signer, and two regions (330000, 440000), each with a region CA and
two departments (amr, psb) holding a seal. DEV ONLY: every key is under
keys-dev/, protected by a random passphrase kept beside it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ca.authority import (
    ROOT_CODE,
    issue_with_new_key,
    load_issuer,
)
from ca.ceremony import (
    TRUST_LIST_SIGNER_KEY,
    RootCa,
    install_root,
    install_root_issued,
    region_subject,
    request_certificate,
    trust_list_signer_subject,
)
from ca.federation import add_service, load_trust_list_signer, publish_trust_list
from ca.models import Authority, Department
from ca.profiles import (
    IDENTITY_SIGNER,
    LOG_SIGNER,
    OCSP_RESPONDER,
    REGION_CA,
    STATUS_ISSUER,
    TRUST_LIST_SIGNER,
    TSA,
    subject_name,
)
from ca.revocation import install_crl, publish_crl
from govtrust.db import reset_schema, upgrade
from govtrust.published import log_trust_list, write_trust_list_file
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from identity.dev_accounts import create_dev_accounts
from seal_service.lifecycle import make_seal
from verifier.certs import sha256_fingerprint
from verifier.identifiers import make_uscc
from verifier.trust_list import ServiceType

# Each region's service certificates, and the trust-list type each is listed under by its
# own certificate (a certificate counts only for the type it is listed under). The OCSP
# responder is not listed: its authority comes from the CA that delegated to it.
SERVICE_CERTIFICATES = (
    (OCSP_RESPONDER, "OCSP 响应服务", None, None),
    (TSA, "时间戳服务", ServiceType.TSA, "时间戳服务"),
    (IDENTITY_SIGNER, "统一身份认证签名", ServiceType.IDENTITY_PROVIDER, "统一身份认证"),
    (STATUS_ISSUER, "证照状态列表签发", ServiceType.STATUS_ISSUER, "证照状态列表"),
    (LOG_SIGNER, "透明日志签名", ServiceType.LOG, "证照透明日志"),
)


@dataclass(frozen=True)
class DevDepartment:
    code: str
    name: str
    org_code: str


@dataclass(frozen=True)
class DevRegion:
    code: str
    name: str
    departments: tuple[DevDepartment, ...]


DEV_REGIONS = (
    DevRegion(
        "330000",
        "浙江省",
        (
            DevDepartment("amr", "浙江省市场监督管理局", "33000101"),
            DevDepartment("psb", "浙江省公安厅", "33000202"),
        ),
    ),
    DevRegion(
        "440000",
        "广东省",
        (
            DevDepartment("amr", "广东省市场监督管理局", "44000101"),
            DevDepartment("psb", "广东省公安厅", "44000202"),
        ),
    ),
)


@dataclass(frozen=True)
class DevInitResult:
    created: bool
    root_fingerprint: str


def federation_exists(runtime: Runtime) -> bool:
    settings = runtime.settings
    if not (settings.trust_list_path.exists() and settings.root_fingerprint_path.exists()):
        return False
    with runtime.database.transaction() as session:
        return session.get(Authority, ROOT_CODE) is not None


def dev_init(
    settings: Settings, *, force: bool = False, progress: Callable[[str], None] = lambda _: None
) -> DevInitResult:
    """Create the dev federation unless it exists (or recreate it with `force`)."""
    runtime = Runtime(settings)
    upgrade(runtime.database.engine)
    if federation_exists(runtime) and not force:
        return DevInitResult(False, settings.root_fingerprint_path.read_text().strip())
    progress("resetting database and keys-dev/")
    reset_schema(runtime.database.engine)
    _reset_dev_keys(settings)
    runtime = Runtime(settings)
    passphrase = settings.key_passphrase_bytes() or b""
    base_url = settings.public_base_url
    with runtime.database.transaction() as session:
        progress("national root CA, offline, in keys-dev/root (the ceremony's ROOT_DIR)")
        root = RootCa.create(settings.dev_keys_dir / "root", passphrase, public_base_url=base_url)
        install_root(session, root.certificate)
        install_crl(session, ROOT_CODE, (root.directory / "crl.der").read_bytes())

        progress("hub trust-list signer: key here, certified by the root")
        csr = request_certificate(
            runtime.key_store, TRUST_LIST_SIGNER_KEY, trust_list_signer_subject()
        )
        signer_cert = root.certify(csr, TRUST_LIST_SIGNER.name)
        install_root_issued(session, runtime.key_store, TRUST_LIST_SIGNER_KEY, signer_cert)

        for region in DEV_REGIONS:
            progress(f"region {region.code} {region.name}: CA, services, departments, seals")
            key_name = f"{region.code}/region-ca"
            csr = request_certificate(runtime.key_store, key_name, region_subject(region.name))
            install_root_issued(
                session,
                runtime.key_store,
                key_name,
                root.certify(csr, REGION_CA.name),
                region=(region.code, region.name),
            )
            issuer = load_issuer(session, runtime.key_store, region.code, public_base_url=base_url)
            for profile, label, service_type, service_label in SERVICE_CERTIFICATES:
                progress(f"region {region.code}: {profile.name} certificate")
                row = issue_with_new_key(
                    session,
                    runtime.key_store,
                    f"{region.code}/{profile.name}",
                    region.code,
                    issuer,
                    profile,
                    subject_name(
                        f"{region.name}{label}", organization=region.name, province=region.name
                    ),
                )
                if service_type is not None:
                    add_service(
                        session,
                        region.code,
                        service_type,
                        f"{region.name}{service_label}",
                        row.certificate,
                    )
            for dev_department in region.departments:
                department = Department(
                    region_code=region.code,
                    code=dev_department.code,
                    name=dev_department.name,
                    uscc=make_uscc("1", "1", region.code, dev_department.org_code),
                )
                session.add(department)
                session.flush()
                make_seal(session, runtime.key_store, issuer, department)
            publish_crl(session, region.code, issuer)

        progress("demo accounts per role and region (DEV): var/dev-accounts.json")
        accounts = create_dev_accounts(
            session, runtime.data_protector, [region.code for region in DEV_REGIONS]
        )

        progress("federation trust list")
        version = publish_trust_list(session, load_trust_list_signer(session, runtime.key_stores))
        log_trust_list(session, version)
        fingerprint = sha256_fingerprint(root.certificate)
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        write_trust_list_file(settings, version.jws)
        settings.root_fingerprint_path.write_text(fingerprint + "\n")
        _write_private(
            settings.var_dir / "dev-accounts.json",
            json.dumps(accounts, ensure_ascii=False, indent=2) + "\n",
        )
    return DevInitResult(True, fingerprint)


def _reset_dev_keys(settings: Settings) -> None:
    keys_dir = settings.dev_keys_dir
    keys_dir.mkdir(parents=True, exist_ok=True)
    for entry in keys_dir.iterdir():
        if entry.name == "README.md":
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for stale in (settings.trust_list_path, settings.root_fingerprint_path):
        stale.unlink(missing_ok=True)
    (settings.var_dir / "dev-api-keys.json").unlink(missing_ok=True)  # from older dev-inits
    _write_private(keys_dir / "passphrase", secrets.token_urlsafe(32) + "\n")
    _write_private(keys_dir / "data.key", secrets.token_hex(32) + "\n")


def _write_private(path: Path, text: str) -> None:
    """Create the file readable by its owner only (no window with wider permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
