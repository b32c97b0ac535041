"""`govtrust ca` ceremony commands: the offline root and how regions join through CSRs.

govtrust ca init-root --dir ROOT_DIR                      (offline machine)
govtrust ca init-region --region 330000 --name 浙江省 --out region.csr   (server)
govtrust ca certify-region --root-dir ROOT_DIR --csr region.csr --out region.pem  (offline)
govtrust ca install-region --region 330000 --name 浙江省 --cert region.pem --root-cert ROOT.pem
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.ceremony import (
    ROOT_CERT_FILE,
    RootCa,
    install_root,
    install_root_issued,
    region_subject,
    request_certificate,
)
from ca.errors import CaError
from ca.profiles import REGION_CA
from govtrust.db import upgrade
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from verifier.certs import parse_certificate, sha256_fingerprint
from verifier.cli import read_input_file

ROOT_PASSPHRASE_ENV = "GOVTRUST_ROOT_PASSPHRASE"  # noqa: S105  (a variable name)
MAX_PEM_BYTES = 64 * 1024


def _root_passphrase(passphrase_file: Path | None) -> bytes:
    if passphrase_file is not None:
        return read_input_file(passphrase_file, "passphrase file", 4096).strip()
    value = os.environ.get(ROOT_PASSPHRASE_ENV)
    if not value:
        raise CaError(
            f"the root key needs a passphrase: set {ROOT_PASSPHRASE_ENV} or --passphrase-file"
        )
    return value.encode()


def load_certificate(path: Path) -> x509.Certificate:
    return parse_certificate(read_input_file(path, "certificate", MAX_PEM_BYTES), str(path))


def _check_region_code(region: str) -> None:
    if len(region) != 6 or not region.isdigit() or not region.endswith("0000"):
        raise CaError("a region code is a 6-digit province code ending in 0000 (GB/T 2260)")


PassphraseFile = Annotated[
    Path | None,
    typer.Option(help=f"file with the root key passphrase (else ${ROOT_PASSPHRASE_ENV})"),
]


def init_root(
    directory: Annotated[Path, typer.Option("--dir", help="ROOT_DIR, on the offline machine")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Create the national root key and self-signed certificate in ROOT_DIR."""
    root = RootCa.create(
        directory, _root_passphrase(passphrase_file), public_base_url=Settings().public_base_url
    )
    typer.echo(f"national root created in {directory}")
    typer.echo(f"SHA-256 fingerprint (pin this): {sha256_fingerprint(root.certificate)}")


def init_region(
    region: Annotated[str, typer.Option(help="province code, e.g. 330000")],
    name: Annotated[str, typer.Option(help="province name, e.g. 浙江省")],
    out: Annotated[Path, typer.Option(help="where to write the CSR (PEM)")],
) -> None:
    """Make the region CA key in this server's key store and write its CSR."""
    _check_region_code(region)
    runtime = Runtime(Settings())
    csr = request_certificate(runtime.key_store, f"{region}/region-ca", region_subject(name))
    out.write_bytes(csr)
    typer.echo(f"CSR for region CA {region} written to {out}; certify it on the root machine")


def certify_region(
    root_dir: Annotated[Path, typer.Option(help="ROOT_DIR")],
    csr: Annotated[Path, typer.Option(help="the region's CSR")],
    out: Annotated[Path, typer.Option(help="where to write the region CA certificate (PEM)")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Certify a region CA's CSR with the offline national root."""
    root = RootCa.open(
        root_dir, _root_passphrase(passphrase_file), public_base_url=Settings().public_base_url
    )
    certificate = root.certify(read_input_file(csr, "CSR", MAX_PEM_BYTES), REGION_CA.name)
    out.write_bytes(certificate.public_bytes(Encoding.PEM))
    typer.echo(f"region CA certificate {certificate.serial_number:x} written to {out}")


def install_region(
    region: Annotated[str, typer.Option(help="province code, e.g. 330000")],
    name: Annotated[str, typer.Option(help="province name, e.g. 浙江省")],
    cert: Annotated[Path, typer.Option(help="the region CA certificate from certify-region")],
    root_cert: Annotated[
        Path, typer.Option(help=f"the national root certificate ({ROOT_CERT_FILE})")
    ],
) -> None:
    """Install a certified region CA (and, the first time, the national root) on this server."""
    _check_region_code(region)
    runtime = Runtime(Settings())
    upgrade(runtime.database.engine)
    with runtime.database.transaction() as session:
        install_root(session, load_certificate(root_cert))
        install_root_issued(
            session,
            runtime.key_store,
            f"{region}/region-ca",
            load_certificate(cert),
            region=(region, name),
        )
    typer.echo(f"region CA {region} {name} installed")


def register(ca_app: typer.Typer) -> None:
    ca_app.command("init-root")(init_root)
    ca_app.command("init-region")(init_region)
    ca_app.command("certify-region")(certify_region)
    ca_app.command("install-region")(install_region)
