"""The in-process log source answers exactly as the public API answers `govtrust audit`
over HTTP: the same bytes, the same refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from govtrust.app import create_app
from govtrust.audit_source import InProcessLogServer
from licence_registry.changes import revoke_licence
from licence_registry.transparency import MAX_PAGE, checkpoint_if_due, tree_size
from tests.conftest import Federation
from verifier.audit_source import HttpLogServer, SourceRefused

REGION = "330000"


@pytest.fixture(scope="module")
def servers(federation: Federation) -> tuple[HttpLogServer, InProcessLogServer]:
    client = TestClient(create_app(federation.settings), raise_server_exceptions=False)
    return HttpLogServer("http://testserver", client=client), InProcessLogServer(federation.runtime)


def test_it_serves_what_the_api_serves(
    servers: tuple[HttpLogServer, InProcessLogServer], federation: Federation
) -> None:
    http, here = servers
    identifier, _ = federation.issue("审计来源测试公司")
    with federation.runtime.database.transaction() as session:
        revoke_licence(session, identifier, "以欺骗手段取得")
    http.current_status_list(REGION)  # re-signed after the revocation, once
    runtime = federation.runtime
    checkpoint_if_due(
        runtime.database.transaction,
        runtime.log_signer(REGION),
        REGION,
        min_interval=timedelta(0),
    )
    with runtime.database.transaction() as session:
        size = tree_size(session, REGION)
    assert size >= 3
    assert here.trust_list() == http.trust_list()
    assert here.trust_list_version(1) == http.trust_list_version(1)
    assert here.checkpoint(REGION) == http.checkpoint(REGION) is not None
    assert here.entries(REGION, 0, size) == http.entries(REGION, 0, size)
    assert here.consistency_proof(REGION, 1, size) == http.consistency_proof(REGION, 1, size)
    assert here.current_status_list(REGION) == http.current_status_list(REGION)
    number = here.current_status_list(REGION).number  # type: ignore[union-attr]
    assert number is not None
    assert here.status_list_version(REGION, number) == http.status_list_version(REGION, number)


def test_it_refuses_what_the_api_refuses(servers: tuple[HttpLogServer, InProcessLogServer]) -> None:
    http, here = servers
    asks = (
        lambda s: s.status_list_version(REGION, 2**31 - 1),
        lambda s: s.trust_list_version(2**31 - 1),
        lambda s: s.entries(REGION, 0, MAX_PAGE + 1),
        lambda s: s.entries(REGION, 2**40, 2**40 + 1),
        lambda s: s.consistency_proof(REGION, 2, 1),
    )
    for ask in asks:
        refusals = []
        for source in (http, here):
            with pytest.raises(SourceRefused) as refused:
                ask(source)
            refusals.append((refused.value.status, refused.value.detail))
        assert refusals[0] == refusals[1]
    assert here.checkpoint("990000") is http.checkpoint("990000") is None
