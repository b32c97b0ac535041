"""`govtrust identity`: accounts of a region's identity provider."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from govtrust.runtime import Runtime
from govtrust.settings import Settings
from identity.accounts import create_citizen, create_legal_person, create_staff
from identity.errors import IdentityError
from verifier.identifiers import HolderIdType, mask_holder_id

PASSWORD_ENV = "GOVTRUST_NEW_USER_PASSWORD"  # noqa: S105 (a variable name)

identity_app = typer.Typer(help="Identity: accounts and sign-in.", no_args_is_help=True)


class KindOption(StrEnum):
    CITIZEN = "citizen"
    LEGAL_PERSON = "legal-person"
    STAFF = "staff"


def _read_password(password_file: Path | None) -> str:
    # Never an argument: command lines are visible to every user in the process list.
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise IdentityError(f"cannot read --password-file {password_file}: {exc}") from None
        return text.rstrip("\r\n")
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise IdentityError(f"give the password with --password-file or {PASSWORD_ENV}")
    return password


@identity_app.command("add-user")
def add_user(
    region: Annotated[str, typer.Option(help="region code, e.g. 330000")],
    kind: Annotated[KindOption, typer.Option(help="account kind", case_sensitive=False)],
    name: Annotated[str, typer.Option(help="display name")],
    login: Annotated[
        str | None,
        typer.Option("--login", "--id", help="staff: username; citizen: ID number; else USCC"),
    ] = None,
    roles: Annotated[
        str, typer.Option(help="staff: comma-separated signer,clerk,auditor,operator")
    ] = "",
    department: Annotated[
        str | None, typer.Option(help="department code (required for signer and clerk)")
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option(help=f"file holding the password (else ${PASSWORD_ENV})")
    ] = None,
) -> None:
    """Create an account; the password comes from --password-file or the environment."""
    if not login:
        raise IdentityError("--login (or --id) is required")
    if kind is not KindOption.STAFF and (roles or department):
        raise IdentityError("only staff accounts have --roles and --department")
    password = _read_password(password_file)
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        if kind is KindOption.STAFF:
            account = create_staff(
                session, region, login, name, password, roles, department=department
            )
            shown = f"username {account.login_name}, roles {account.roles}"
        elif kind is KindOption.CITIZEN:
            account = create_citizen(session, runtime.data_protector, region, login, name, password)
            shown = f"citizen ID {mask_holder_id(HolderIdType.CITIZEN_ID, login)}"
        else:
            account = create_legal_person(
                session, runtime.data_protector, region, login, name, password
            )
            shown = f"USCC {account.login_name}"
        typer.echo(f"created {account.kind} account {account.id} in {region} ({shown})")
