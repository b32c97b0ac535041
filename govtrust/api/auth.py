"""Who is calling: credentials become an `Operator` principal through dependencies.

Routes depend on `require_ca_operator` and see only the principal, so replacing the
interim API keys with identity tokens (issue #4) changes this module, not the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ca.api_keys import find_api_key
from govtrust.api.deps import DbSession

bearer = HTTPBearer(auto_error=False, description="operator API key: `Bearer gtk_…`")


@dataclass(frozen=True)
class Operator:
    """An authenticated operator of one region's CA."""

    region: str
    name: str


def require_ca_operator(
    ca: Annotated[str, Path(max_length=32)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session: DbSession,
) -> Operator:
    """The caller must hold an operator credential of the region whose CA `ca` is."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "an operator credential is required", headers={"WWW-Authenticate": "Bearer"}
        )
    key = find_api_key(session, credentials.credentials)
    if key is None:
        raise HTTPException(
            401, "the credential is not valid", headers={"WWW-Authenticate": "Bearer"}
        )
    if key.region_code != ca:
        raise HTTPException(403, f"this credential is for region {key.region_code}, not {ca}")
    return Operator(region=key.region_code, name=key.label)
