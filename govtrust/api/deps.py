"""Dependencies shared by the routers: the process runtime and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from govtrust.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_session(request: Request) -> Iterator[Session]:
    with get_runtime(request).database.transaction() as session:
        yield session


# scope="function": the transaction commits when the route returns, before the response is
# sent, so a client never sees success for work that then fails to commit.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
