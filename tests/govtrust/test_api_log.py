"""The public log API: what it serves verifies with the verifier's own code alone."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from govtrust.app import create_app
from govtrust.checkpointer import checkpoint_all
from licence_registry.changes import revoke_licence
from licence_registry.transparency import checkpoint_if_due
from seal_service.levels import PadesLevel
from tests.api_support import assert_problem
from tests.conftest import Federation
from verifier.checkpoint import verify_checkpoint
from verifier.merkle import leaf_hash, verify_consistency, verify_inclusion
from verifier.timeutil import utc_now

REGION = "440000"


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


def signed_checkpoint(federation: Federation, client: TestClient) -> tuple[int, bytes]:
    runtime = federation.runtime
    signer = runtime.log_signer(REGION)
    checkpoint_if_due(runtime.database.transaction, signer, REGION, min_interval=timedelta(0))
    response = client.get(f"/api/v1/log/{REGION}/checkpoint")
    assert response.status_code == 200, response.text
    checkpoint = verify_checkpoint(response.text, federation.trust_list(), at=utc_now())
    # Signed time, under the log's signature: how old the log state is.
    assert checkpoint.signed_at is not None
    assert abs(utc_now() - checkpoint.signed_at) < timedelta(minutes=5)
    return checkpoint.tree_size, checkpoint.root_hash


def test_a_licence_life_is_proven_from_the_api_alone(
    federation: Federation, client: TestClient
) -> None:
    checkpoint_all(federation.runtime)
    identifier, _ = federation.issue(region=REGION, level=PadesLevel.B_T)
    with federation.runtime.database.transaction() as session:
        revoke_licence(session, identifier, "测试")
    size, root = signed_checkpoint(federation, client)

    indices = client.get(f"/api/v1/log/{REGION}/licences/{identifier}").json()
    assert len(indices) == 2
    for index in indices:
        (entry,) = client.get(
            f"/api/v1/log/{REGION}/entries", params={"start": index, "end": index + 1}
        ).json()
        proof = client.get(
            f"/api/v1/log/{REGION}/proof/inclusion", params={"index": index, "tree_size": size}
        ).json()
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        verify_inclusion(leaf_hash(entry["leaf"].encode()), index, size, hashes, root)
        assert f'"licence":"{identifier}"' in entry["leaf"]

    federation.issue(region=REGION, level=PadesLevel.B_T)
    later_size, later_root = signed_checkpoint(federation, client)
    proof = client.get(
        f"/api/v1/log/{REGION}/proof/consistency", params={"first": size, "second": later_size}
    ).json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_consistency(size, later_size, root, later_root, hashes)


def test_bad_requests_are_problems(federation: Federation, client: TestClient) -> None:
    size, _ = signed_checkpoint(federation, client)
    base = f"/api/v1/log/{REGION}"
    assert_problem(
        client.get(f"{base}/proof/inclusion", params={"index": size, "tree_size": size}), 400
    )
    assert_problem(
        client.get(f"{base}/proof/inclusion", params={"index": 0, "tree_size": size + 10**6}), 400
    )
    assert_problem(
        client.get(f"{base}/proof/consistency", params={"first": size + 1, "second": size}), 400
    )
    assert_problem(client.get(f"{base}/entries", params={"start": 0, "end": 5000}), 400)
    assert_problem(client.get(f"{base}/entries", params={"start": -1, "end": 1}), 422)
    assert_problem(client.get("/api/v1/log/990000/checkpoint"), 404)
    assert_problem(client.get("/api/v1/log/33/checkpoint"), 422)
