"""`govtrust federation`: the trust list's regions and services, and publishing new versions."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from ca.errors import CaError
from ca.federation import (
    add_independent_region,
    build_trust_list,
    find_service,
    set_service_status,
)
from govtrust.cli_ceremony import load_certificate
from govtrust.published import publish_next_trust_list
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from verifier.timeutil import utc_now
from verifier.trust_list import ServiceStatus, ServiceType

federation_app = typer.Typer(
    help="Federation trust list: regions, services, versions.", no_args_is_help=True
)

TypeOption = Annotated[
    ServiceType, typer.Option("--type", help="service type", case_sensitive=False)
]
AtOption = Annotated[
    datetime | None,
    typer.Option(
        help="when it takes effect, UTC (default now)",
        formats=["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"],
    ),
]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=utc_now().tzinfo) if value is not None else None


@federation_app.command("list")
def list_services() -> None:
    """Regions and services as the next trust list would show them."""
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        trust_list = build_trust_list(session, 0, utc_now(), timedelta(0))
    now = utc_now()
    for region in trust_list.regions:
        typer.echo(f"{region.code} {region.name}")
        for service in region.services:
            history = ", ".join(f"{c.status} {c.since:%Y-%m-%dT%H:%M:%SZ}" for c in service.history)
            typer.echo(
                f"  {service.service_type:<18} {service.status_at(now) or '-':<9} "
                f"{service.name}  [{history}]"
            )


@federation_app.command("add-region")
def add_region(
    code: Annotated[str, typer.Option(help="province code, e.g. 310000")],
    name: Annotated[str, typer.Option(help="province name")],
    root_cert: Annotated[Path, typer.Option(help="the region's own root certificate")],
    service_types: Annotated[
        list[ServiceType],
        typer.Option(
            "--type", help="service type the root is trusted for (repeatable)", case_sensitive=False
        ),
    ],
    at: AtOption = None,
) -> None:
    """List a region that brings its own root, as a trust anchor for named service types."""
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        services = add_independent_region(
            session, code, name, load_certificate(root_cert), list(service_types), since=_utc(at)
        )
    typer.echo(f"region {code} listed with {len(services)} service(s); publish to take effect")


def _change(
    region: str,
    service_type: ServiceType,
    name: str | None,
    status: ServiceStatus,
    at: datetime | None,
) -> None:
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        service = find_service(session, region, service_type, name)
        if service is None:
            raise CaError(f"region {region} lists no {service_type} service")
        change = set_service_status(session, service, status, since=_utc(at))
        typer.echo(
            f"{region} {service_type} {service.name!r}: {status} from "
            f"{change.since:%Y-%m-%dT%H:%M:%SZ}; publish to take effect"
        )


@federation_app.command("withdraw")
def withdraw(
    region: Annotated[str, typer.Option(help="region code")],
    service_type: TypeOption,
    name: Annotated[str | None, typer.Option(help="service name, if several")] = None,
    at: AtOption = None,
) -> None:
    """Withdraw a service: material it signed after that time is no longer trusted."""
    _change(region, service_type, name, ServiceStatus.WITHDRAWN, at)


@federation_app.command("grant")
def grant(
    region: Annotated[str, typer.Option(help="region code")],
    service_type: TypeOption,
    name: Annotated[str | None, typer.Option(help="service name, if several")] = None,
    at: AtOption = None,
) -> None:
    """Grant a withdrawn service again."""
    _change(region, service_type, name, ServiceStatus.GRANTED, at)


@federation_app.command("publish")
def publish(
    validity_days: Annotated[int, typer.Option(min=1, max=366, help="until next_update")] = 30,
) -> None:
    """Sign the next trust list version, keep it, and write var/trust-list.jws."""
    version = publish_next_trust_list(Runtime(Settings()), timedelta(days=validity_days))
    typer.echo(
        f"trust list #{version.sequence} published, next update "
        f"{version.next_update:%Y-%m-%dT%H:%M:%SZ}"
    )
