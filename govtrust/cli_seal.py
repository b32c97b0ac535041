"""`govtrust seal`: make a department's seal, list seals, suspend, reinstate and retire them.

govtrust seal create --region 330000 --department amr [--image stamp.png] [--replace]
govtrust seal list [--region 330000] [--department amr]
govtrust seal suspend 7 --reason "stamp image under review"
govtrust seal reinstate 7
govtrust seal retire 7 --reason "department merged"
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ca.ocsp import NoResponder, OcspResponder
from ca.registry import find_department
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from seal_service.lifecycle import (
    find_seal,
    list_seals,
    make_seal,
    reinstate_seal,
    retire_seal,
    seal_problem,
    suspend_seal,
)
from seal_service.models import Seal
from seal_service.seal_image import MAX_UPLOAD_BYTES
from verifier.cli import read_input_file
from verifier.timeutil import format_time, utc_now

seal_app = typer.Typer(
    help="E-seals of departments: make, list, suspend, reinstate, retire.",
    no_args_is_help=True,
)

SealId = Annotated[int, typer.Argument(metavar="ID", help="seal number (see `seal list`)")]


def _responder(runtime: Runtime, region: str) -> OcspResponder | None:
    """The region CA's responder, so OCSP says `revoked` at once; None if it runs none."""
    try:
        return runtime.ocsp_responder(region)
    except NoResponder:
        return None


def _describe(seal: Seal) -> str:
    return (
        f"seal {seal.id} {seal.status}: certificate {seal.certificate.serial}, "
        f"valid until {format_time(seal.not_after)}"
    )


@seal_app.command("create")
def create(
    region: Annotated[str, typer.Option(help="region code, e.g. 330000")],
    department: Annotated[str, typer.Option(help="department code, e.g. amr")],
    image: Annotated[
        Path | None,
        typer.Option(help="stamp PNG: square, 200-2000 px, transparent background, <= 1 MiB"),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="seal name (certificate CN); default <department>电子印章")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="retire the department's active seal")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="with --replace: why the old seal is retired")
    ] = None,
) -> None:
    """Make a department's seal: key, certificate from the region CA, stamp (drawn or --image)."""
    image_png = read_input_file(image, "seal image", MAX_UPLOAD_BYTES) if image else None
    runtime = Runtime(Settings())
    # Loaded before the transaction below: each reads in a session of its own.
    issuer = runtime.issuer(region)
    responder = _responder(runtime, region) if replace else None
    with runtime.database.transaction() as session:
        seal = make_seal(
            session,
            runtime.key_store,
            issuer,
            find_department(session, region, department),
            image_png=image_png,
            name=name,
            replace=replace,
            replace_reason=reason,
            responder=responder,
        )
        typer.echo(f"{region}/{department}: {_describe(seal)}")


@seal_app.command("list")
def list_command(
    region: Annotated[str | None, typer.Option(help="only this region")] = None,
    department: Annotated[str | None, typer.Option(help="only departments with this code")] = None,
) -> None:
    """Seals: department, status, certificate serial, valid until, and why one cannot seal."""
    runtime = Runtime(Settings())
    now = utc_now()
    with runtime.database.transaction() as session:
        rows = list_seals(session, region=region, department=department)
        typer.echo(
            f"{'ID':>5}  {'DEPARTMENT':<20} {'STATUS':<9} {'SERIAL':<40} {'VALID UNTIL':<20}  NAME"
        )
        for seal, dept in rows:
            problem = seal_problem(seal, at=now, ignore_status=True)
            note = f"  [unusable: {problem}]" if problem and seal.status == "active" else ""
            typer.echo(
                f"{seal.id:>5}  {dept.region_code + '/' + dept.code:<20} {seal.status:<9} "
                f"{seal.certificate.serial:<40} {format_time(seal.not_after):<20}  "
                f"{seal.name}{note}"
            )


@seal_app.command("suspend")
def suspend(
    seal_id: SealId,
    reason: Annotated[str, typer.Option(help="why (kept in the seal's history)")],
) -> None:
    """Stop an active seal from sealing until it is reinstated."""
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        seal = suspend_seal(session, find_seal(session, seal_id), reason)
        typer.echo(_describe(seal))


@seal_app.command("reinstate")
def reinstate(
    seal_id: SealId,
    reason: Annotated[str | None, typer.Option(help="why (kept in the seal's history)")] = None,
) -> None:
    """Make a suspended seal active again (never a retired one)."""
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        seal = reinstate_seal(session, find_seal(session, seal_id), reason)
        typer.echo(_describe(seal))


@seal_app.command("retire")
def retire(
    seal_id: SealId,
    reason: Annotated[str, typer.Option(help="why (kept in the seal's history)")],
) -> None:
    """Retire a seal for good and revoke its certificate (cessationOfOperation)."""
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        region = find_seal(session, seal_id).certificate.issuer_code
    responder = _responder(runtime, region)
    with runtime.database.transaction() as session:
        seal = retire_seal(session, find_seal(session, seal_id), reason, responder=responder)
        typer.echo(f"{_describe(seal)}; certificate revoked")
