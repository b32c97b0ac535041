"""Who is calling: credentials become principals through dependencies; routes see only those.

A bearer credential is an identity token from any region's identity provider, verified
through the federation trust list (never through a key held in memory). Staff roles count
only in the staff member's own region: a 330000 operator is nobody in 440000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from govtrust.api.deps import get_runtime
from govtrust.runtime import Runtime
from identity.signin import API_AUDIENCE
from licence_registry import Actor
from verifier.errors import InputError
from verifier.identity_token import IdentityTokenError, verify_identity_token
from verifier.timeutil import utc_now

# The roles of people acting for a department, and of anyone working for an agency.
DEPARTMENT_ROLES = frozenset({"clerk", "signer"})
STAFF_ROLES = frozenset({"clerk", "signer", "auditor", "operator"})
HOLDER_ROLES = frozenset({"citizen", "legal-person"})
RegionPath = Annotated[str, Path(pattern=r"^[0-9]{6}$")]
DepartmentPath = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,32}$")]

bearer = HTTPBearer(auto_error=False, description="identity token from any region")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    """A person or organisation signed in at some region's identity provider."""

    subject: str
    issuer: str
    region: str
    roles: frozenset[str]
    acr: str
    department: str | None = None


@dataclass(frozen=True)
class Operator:
    """An authenticated operator of one region (its CA and its trust-list entries)."""

    region: str
    name: str

    @property
    def actor(self) -> str:
        """How records name who acted: region and pseudonymous subject."""
        return f"{self.region}/{self.name}"


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "a bearer credential is required", headers=_CHALLENGE)
    return credentials.credentials


def principal_from_token(token: str, runtime: Runtime) -> Principal:
    """The principal an identity token names; HTTP 401 when it is not valid now."""
    try:
        claims = verify_identity_token(
            token, runtime.trust_list(), audience=API_AUDIENCE, at=utc_now()
        )
    except (InputError, IdentityTokenError):
        raise HTTPException(401, "the credential is not valid", headers=_CHALLENGE) from None
    return Principal(
        subject=claims.subject,
        issuer=claims.issuer,
        region=claims.region,
        roles=frozenset(claims.roles),
        acr=claims.acr,
        department=claims.department,
    )


def current_principal(
    request: Request, credentials: Credentials, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Principal:
    """Any valid identity token, from any region (kept on the request for the audit trail)."""
    principal = principal_from_token(_token(credentials), runtime)
    request.state.principal = principal
    return principal


def require_operator(principal: Annotated[Principal, Depends(current_principal)]) -> Operator:
    """An operator of any region."""
    if "operator" not in principal.roles:
        raise HTTPException(403, "this needs the operator role")
    return Operator(region=principal.region, name=principal.subject)


def _operator_of(region: str, operator: Operator) -> Operator:
    if operator.region != region:
        raise HTTPException(403, f"this credential is for region {operator.region}, not {region}")
    return operator


def require_ca_operator(
    ca: Annotated[str, Path(max_length=32)],
    operator: Annotated[Operator, Depends(require_operator)],
) -> Operator:
    """An operator of the region whose CA `ca` is: the operator role, from that region."""
    return _operator_of(ca, operator)


def require_region_operator(
    region: RegionPath,
    operator: Annotated[Operator, Depends(require_operator)],
) -> Operator:
    """An operator of `region`: the operator role, from that region."""
    return _operator_of(region, operator)


def _not_acting_for(region: str, department: str) -> HTTPException:
    return HTTPException(
        403, f"this credential does not act for department {department} of region {region}"
    )


@dataclass(frozen=True)
class Signer:
    """A staff member who may use the seals of one department."""

    region: str
    department: str
    name: str


def require_signer(
    region: RegionPath,
    department: DepartmentPath,
    principal: Annotated[Principal, Depends(current_principal)],
) -> Signer:
    """A `signer` of `department` in `region`: only they may apply its seal."""
    if "signer" not in principal.roles:
        raise HTTPException(403, "this needs the signer role")
    if principal.region != region or principal.department != department:
        raise _not_acting_for(region, department)
    return Signer(region=region, department=department, name=principal.subject)


def require_department_staff(principal: Annotated[Principal, Depends(current_principal)]) -> Actor:
    """A clerk or signer, acting for their own department (the registry checks that a
    licence they change is that department's)."""
    if not principal.roles & DEPARTMENT_ROLES or principal.department is None:
        raise HTTPException(403, "this needs the clerk or signer role of a department")
    return Actor(region=principal.region, department=principal.department, name=principal.subject)


def require_staff_of(
    region: RegionPath,
    department: DepartmentPath,
    actor: Annotated[Actor, Depends(require_department_staff)],
) -> Actor:
    """A clerk or signer of `department` in `region`."""
    if (actor.region, actor.department) != (region, department):
        raise _not_acting_for(region, department)
    return actor


@dataclass(frozen=True)
class Holder:
    """A citizen or legal person, known by their federation-wide pseudonym."""

    subject: str


def require_holder(principal: Annotated[Principal, Depends(current_principal)]) -> Holder:
    """A citizen or legal person signed in at any region's identity provider."""
    if not principal.roles & HOLDER_ROLES:
        raise HTTPException(403, "this is for licence holders (citizens and legal persons)")
    return Holder(subject=principal.subject)


def require_agency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """Staff of any region (an agency checking a licence presented to it)."""
    if not principal.roles & STAFF_ROLES:
        raise HTTPException(403, "this is for agency staff")
    return principal
