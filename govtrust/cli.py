"""The `govtrust` command line. Exit codes: 0 success/valid, 1 invalid, 2 bad input or error,
3 indeterminate; every failure is one line on stderr."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from govtrust.cli_ca import register as register_operations
from govtrust.cli_ceremony import register as register_ceremony
from govtrust.cli_federation import federation_app
from govtrust.cli_identity import identity_app
from govtrust.cli_seal import seal_app
from govtrust.cli_sealing import LevelOption, check_out, write_atomically
from govtrust.cli_sealing import register as register_sealing
from govtrust.settings import Settings
from verifier.errors import InputError

app = typer.Typer(
    help="govtrust: e-seals, e-licences and offline verification on a federated PKI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
licence_app = typer.Typer(help="Issue and revoke licences.", no_args_is_help=True)
ca_app = typer.Typer(help="Certificate authority: ceremony and operations.", no_args_is_help=True)
bundle_app = typer.Typer(
    help="Offline bundles for verifiers without a network.", no_args_is_help=True
)
register_ceremony(ca_app)
register_operations(ca_app)
app.add_typer(db_app, name="db")
app.add_typer(licence_app, name="licence")
app.add_typer(ca_app, name="ca")
app.add_typer(bundle_app, name="bundle")
app.add_typer(federation_app, name="federation")
app.add_typer(identity_app, name="identity")
register_sealing(seal_app)
app.add_typer(seal_app, name="seal")


def _settings() -> Settings:
    return Settings()


def _say(message: str) -> None:
    typer.echo(message, err=True)


@app.command("dev-init")
def dev_init_command(
    force: Annotated[bool, typer.Option(help="recreate everything (DEV data is lost)")] = False,
) -> None:
    """Create the DEV federation (root, regions 330000 and 440000, departments, trust list)."""
    from govtrust.devinit import dev_init

    settings = _settings()
    result = dev_init(settings, force=force, progress=lambda step: _say(f"dev-init: {step}"))
    if result.created:
        typer.echo(f"dev federation created; national root SHA-256 {result.root_fingerprint}")
        typer.echo(f"trust list: {settings.trust_list_path}")
    else:
        typer.echo("dev federation already exists; nothing changed (use --force to recreate)")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date."""
    from govtrust.db import upgrade
    from govtrust.runtime import Runtime

    upgrade(Runtime(_settings()).database.engine)
    typer.echo("database schema is up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default GOVTRUST_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default GOVTRUST_PORT")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
) -> None:
    """Serve the API (and its OpenAPI docs at /docs)."""
    import uvicorn

    from govtrust.db import upgrade
    from govtrust.runtime import Runtime

    settings = _settings()
    if not settings.dev_mode and _has_dev_keys(settings.dev_keys_dir):
        raise InputError(
            f"refusing to start outside dev mode: dev keys found in {settings.dev_keys_dir}"
        )
    upgrade(Runtime(settings).database.engine)
    uvicorn.run(
        "govtrust.app:create_app_from_environment",
        factory=True,
        workers=workers,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        # The request log costs more than a pre-signed OCSP answer; errors are still logged.
        access_log=False,
    )


def _has_dev_keys(directory: Path) -> bool:
    return directory.is_dir() and any(p.name != "README.md" for p in directory.iterdir())


@licence_app.command("issue")
def licence_issue(
    region: Annotated[str, typer.Option(help="region code, e.g. 330000")],
    department: Annotated[str, typer.Option(help="department code, e.g. amr")],
    licence_type: Annotated[str, typer.Option("--type", help="e.g. business-licence")],
    holder_name: Annotated[str, typer.Option(help="holder's name")],
    holder_id: Annotated[str, typer.Option(help="USCC or citizen ID number")],
    out: Annotated[Path, typer.Option(help="where to write the sealed PDF")],
    level: LevelOption = None,
) -> None:
    """Issue a licence, seal its PDF, write it to --out and print its number."""
    from govtrust.issuance import LicenceOffice
    from govtrust.runtime import Runtime
    from licence_registry import IssueRequest

    check_out(out)
    office = LicenceOffice.for_pdf(Runtime(_settings()), level)
    licence = office.issue(IssueRequest(region, department, licence_type, holder_name, holder_id))
    write_atomically(out, licence.pdf)
    typer.echo(licence.identifier)


@licence_app.command("revoke")
def licence_revoke(
    number: Annotated[str, typer.Argument(help="licence identifier")],
    reason: Annotated[str, typer.Option(help="why it is revoked")],
) -> None:
    """Revoke a licence for good."""
    from govtrust.runtime import Runtime
    from licence_registry.changes import revoke_licence

    runtime = Runtime(_settings())
    with runtime.database.transaction() as session:
        licence = revoke_licence(session, number, reason)
        typer.echo(f"revoked {licence.identifier}")


@licence_app.command("suspend")
def licence_suspend(
    number: Annotated[str, typer.Argument(help="licence identifier")],
    reason: Annotated[str, typer.Option(help="why it is suspended")],
) -> None:
    """Suspend a licence until it is reinstated; the status list says so at once."""
    from govtrust.runtime import Runtime
    from licence_registry.changes import suspend_licence

    runtime = Runtime(_settings())
    with runtime.database.transaction() as session:
        licence = suspend_licence(session, number, reason)
        typer.echo(f"suspended {licence.identifier}")


@licence_app.command("reinstate")
def licence_reinstate(
    number: Annotated[str, typer.Argument(help="licence identifier")],
    reason: Annotated[str | None, typer.Option(help="why it is reinstated")] = None,
) -> None:
    """Make a suspended licence active again."""
    from govtrust.runtime import Runtime
    from licence_registry.changes import reinstate_licence

    runtime = Runtime(_settings())
    with runtime.database.transaction() as session:
        licence = reinstate_licence(session, number, reason)
        typer.echo(f"reinstated {licence.identifier}")


@app.command()
def verify(
    file: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="licence PDF, QR code image or text, identity token, or a folder of them",
        ),
    ],
    bundle: Annotated[
        Path | None,
        typer.Option(help="offline bundle (trust list, status lists, CRLs): checks status too"),
    ] = None,
    trust_list: Annotated[
        Path | None, typer.Option(help="signed trust list; default var/trust-list.jws")
    ] = None,
    root_fingerprint: Annotated[
        str | None, typer.Option(help="national root SHA-256 (hex); default var/root.sha256")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="validation time, ISO 8601 with zone; default now")
    ] = None,
    max_bundle_age: Annotated[
        str | None,
        typer.Option(help="refuse VALID from status data signed longer ago, e.g. 12h, 2d"),
    ] = None,
    audience: Annotated[
        str | None, typer.Option(help="identity token: required audience (else only reported)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON report")] = False,
    html: Annotated[Path | None, typer.Option(help="also write a printable HTML report")] = None,
    state_file: Annotated[
        Path | None,
        typer.Option(help="remembers the newest trust list seen; default var/verifier-state.json"),
    ] = None,
) -> None:
    """Verify offline. Exit 0 valid, 1 invalid, 3 indeterminate (stale or missing status or
    revocation data, unknown issuer), 2 unusable input."""
    from verifier.cli import TrustSource, VerifyRequest, read_input_file, run_verify
    from verifier.state import VerifierState
    from verifier.timeutil import parse_duration, parse_user_time

    settings = _settings()
    if root_fingerprint is None:
        root_fingerprint = read_input_file(
            settings.root_fingerprint_path, "root fingerprint file", 1024
        ).decode("ascii", "replace")
    if bundle is not None and trust_list is not None:
        raise InputError("give --bundle or --trust-list, not both")
    request = VerifyRequest(
        source=TrustSource(
            trust_list_path=trust_list or settings.trust_list_path, bundle_path=bundle
        ),
        root_fingerprint=root_fingerprint,
        at=parse_user_time(at, "--at") if at is not None else None,
        max_bundle_age=(
            parse_duration(max_bundle_age, "--max-bundle-age") if max_bundle_age else None
        ),
        audience=audience,
        as_json=as_json,
        html=html,
        state=VerifierState(state_file or settings.var_dir / "verifier-state.json"),
    )
    raise typer.Exit(run_verify(file, request))


@app.command()
def audit(
    server: Annotated[
        str | None, typer.Option(help="base URL of a govtrust server, e.g. https://pki.example")
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(help="offline bundle: checkpoint signatures, rollbacks and forks only"),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="remembers the accepted checkpoints; default var/audit-state/"
        ),
    ] = None,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay", help="fetch every entry, rebuild the root, replay the status lists"
        ),
    ] = False,
    root_fingerprint: Annotated[
        str | None, typer.Option(help="national root SHA-256 (hex); default var/root.sha256")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON report")] = False,
) -> None:
    """Audit every region's transparency log: checkpoint signatures, consistency with the
    checkpoints remembered, and with --replay the entries and status lists. Exit 0 all
    agree, 1 a disagreement (named), 3 undecided, 2 bad input."""
    from verifier.audit_cli import run_audit

    settings = _settings()
    if root_fingerprint is None:
        from verifier.cli import read_input_file

        root_fingerprint = read_input_file(
            settings.root_fingerprint_path, "root fingerprint file", 1024
        ).decode("ascii", "replace")
    code = run_audit(
        server=server,
        bundle=bundle,
        state_dir=state or settings.var_dir / "audit-state",
        root_fingerprint=root_fingerprint,
        replay=replay,
        as_json=as_json,
    )
    raise typer.Exit(code)


@bundle_app.command("export")
def bundle_export(
    out: Annotated[Path, typer.Option(help="where to write the bundle (JSON)")],
) -> None:
    """Write the offline bundle: trust list, CRLs, every region's status list and latest
    checkpoint, each signed by its own signer."""
    from govtrust.bundle import export_bundle
    from govtrust.runtime import Runtime

    check_out(out)
    data = export_bundle(Runtime(_settings()))
    write_atomically(out, data)
    _say(f"bundle: {len(data)} bytes written to {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for licence.pdf and tampered.pdf")] = Path(
        "out"
    ),
) -> None:
    """Walk one licence through issue, offline verification in another region, tamper, revoke."""
    from govtrust.demo import run_demo

    run_demo(_settings(), out, say=typer.echo)


def main() -> None:
    """Entry point: click's usage errors and our InputError become one line and exit 2."""
    try:
        result = app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _say("error: aborted")
        sys.exit(2)
    except click.ClickException as exc:
        _say(f"error: {exc.format_message()}")
        sys.exit(2)
    except InputError as exc:
        _say(f"error: {exc}")
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("GOVTRUST_DEBUG"):
            raise
        _say(f"error: {type(exc).__name__}: {exc}".splitlines()[0])
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)
