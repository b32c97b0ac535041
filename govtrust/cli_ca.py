"""`govtrust ca` operations: revoke a certificate, write or install a CRL.

govtrust ca revoke --ca 330000 --serial 1f2e... --reason keyCompromise
govtrust ca crl --ca 330000 --out 330000.crl [--pem]
govtrust ca install-crl --ca root --crl ROOT_DIR/crl.der      (the offline root's new CRL)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.errors import CaError
from ca.ocsp import NoResponder, OcspResponder
from ca.revocation import (
    REASON_NAMES,
    current_crl,
    install_crl,
    parse_reason,
    revoke_certificate,
)
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from verifier.cli import read_input_file
from verifier.timeutil import format_time

MAX_CRL_BYTES = 512 * 1024 * 1024


def _responder(runtime: Runtime, ca: str) -> OcspResponder | None:
    """The CA's responder, or None: a CA without one (the offline root) still revokes."""
    try:
        return runtime.ocsp_responder(ca)
    except NoResponder:
        return None


def revoke(
    ca: Annotated[str, typer.Option(help="issuing CA, e.g. 330000")],
    serial: Annotated[str, typer.Option(help="certificate serial, hex")],
    reason: Annotated[str, typer.Option(help=f"RFC 5280 reason: {', '.join(REASON_NAMES)}")],
) -> None:
    """Revoke a certificate for good; OCSP says so at once and the next CRL lists it."""
    flag = parse_reason(reason)
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        row = revoke_certificate(session, ca, serial, flag, responder=_responder(runtime, ca))
        assert row.revoked_at is not None
        typer.echo(f"revoked {row.serial} at {format_time(row.revoked_at)} ({flag.value})")


def crl(
    ca: Annotated[str, typer.Option(help="issuing CA, e.g. 330000 or root")],
    out: Annotated[Path, typer.Option(help="where to write the CRL")],
    pem: Annotated[bool, typer.Option("--pem", help="PEM instead of DER")] = False,
) -> None:
    """Write the CA's current CRL (signing a new one if the latest is stale)."""
    if out.is_dir():
        raise CaError(f"--out {out} is a directory")
    if not out.parent.exists():
        raise CaError(f"--out: folder {out.parent} does not exist")
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        published = current_crl(session, ca, runtime.issuer)
        number, der = published.number, published.der
    data = x509.load_der_x509_crl(der).public_bytes(Encoding.PEM) if pem else der
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    typer.echo(f"CRL {number} of {ca} written to {out}")


def install(
    ca: Annotated[str, typer.Option(help="the CA that signed it, e.g. root")],
    crl_file: Annotated[Path, typer.Option("--crl", help="DER CRL, e.g. ROOT_DIR/crl.der")],
) -> None:
    """Publish a CRL signed offline (the national root's) after checking its signature."""
    der = read_input_file(crl_file, "CRL", MAX_CRL_BYTES)
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        row = install_crl(session, ca, der)
        typer.echo(f"CRL {row.number} of {ca} installed")


def register(ca_app: typer.Typer) -> None:
    ca_app.command("revoke")(revoke)
    ca_app.command("crl")(crl)
    ca_app.command("install-crl")(install)
