"""Status lists: random-looking unique indices, re-signed on change, read by the verifier."""

from __future__ import annotations

import itertools
import statistics
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from govtrust.app import create_app
from licence_registry.changes import get_licence, revoke_licence
from licence_registry.models import Licence, LicenceEvent
from licence_registry.status_lists import (
    LIST_SIZE,
    current_status_list,
    load_status_signer,
    permuted_index,
)
from licence_registry.transparency import (
    audit_log,
    checkpoint_if_due,
    entries,
    find_licence_leaves,
    inclusion_proof,
    latest_checkpoint,
    parse_leaf,
    tree_size,
)
from seal_service.levels import PadesLevel
from tests.api_support import assert_problem
from tests.conftest import Federation, assert_one_line_error, run_cli
from tests.tools import require_tool
from verifier.checkpoint import verify_checkpoint
from verifier.credential import verify_credential
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.status_list import LicenceStatus, StatusListExpired, verify_status_list
from verifier.timeutil import utc_now

REGION = "330000"
GD_REGION = "440000"


def test_indices_are_a_permutation_that_hides_the_order(federation: Federation) -> None:
    protector = federation.runtime.data_protector
    indices = [permuted_index(protector, "990000", n) for n in range(20_000)]
    assert len(set(indices)) == len(indices)
    assert all(0 <= i < LIST_SIZE for i in indices)
    # Consecutive issuances land far apart, with no trend: the order is not visible.
    gaps = [abs(b - a) for a, b in itertools.pairwise(indices)]
    assert statistics.median(gaps) > LIST_SIZE / 8
    ranks = sorted(range(len(indices)), key=indices.__getitem__)
    assert abs(statistics.correlation(range(len(ranks)), ranks)) < 0.05
    # Another region's permutation is another one.
    assert indices[:100] != [permuted_index(protector, "440000", n) for n in range(100)]


def test_issued_licences_get_distinct_indices(federation: Federation) -> None:
    identifiers = [federation.issue(region=REGION)[0] for _ in range(5)]
    with federation.runtime.database.transaction() as session:
        indices = [get_licence(session, i).status_index for i in identifiers]
    assert len(set(indices)) == 5 and all(0 <= i < LIST_SIZE for i in indices)


def test_a_revocation_shows_in_the_next_list(federation: Federation) -> None:
    runtime = federation.runtime
    revoked_id, _ = federation.issue(region=REGION)
    kept_id, _ = federation.issue(region=REGION)
    with runtime.database.transaction() as session:
        signer = load_status_signer(session, runtime.key_stores, REGION)
        before = current_status_list(session, signer)
        again = current_status_list(session, signer)
        assert again.number == before.number  # nothing changed: not signed again
        revoke_licence(session, revoked_id, "测试吊销")
    with runtime.database.transaction() as session:
        after = current_status_list(session, signer)
        revoked, kept = (get_licence(session, i).status_index for i in (revoked_id, kept_id))
    assert after.number == before.number + 1
    trust_list = federation.trust_list()
    old = verify_status_list(before.token, trust_list, at=utc_now(), region=REGION)
    new = verify_status_list(after.token, trust_list, at=utc_now(), region=REGION)
    assert old.status(revoked) is LicenceStatus.VALID
    assert new.status(revoked) is LicenceStatus.REVOKED
    assert new.status(kept) is LicenceStatus.VALID
    assert new.size == LIST_SIZE
    assert len(after.token) < 8_000  # a million entries, nearly all valid, compress well
    with pytest.raises(StatusListExpired):
        verify_status_list(after.token, trust_list, at=after.expires_at, region=REGION)


def test_the_printed_qr_code_is_the_signed_credential(
    federation: Federation, tmp_path: Path
) -> None:
    """Scan the page (300 dpi): the QR credential verifies and names this licence's entry."""
    identifier, pdf = federation.issue(region=REGION, level=PadesLevel.B_T)
    (tmp_path / "licence.pdf").write_bytes(pdf)
    subprocess.run(
        [require_tool("pdftoppm"), "-r", "300", "-png", "-singlefile", "licence.pdf", "page"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    (scanned,) = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    verified = verify_credential(scanned.text, federation.trust_list(), at=utc_now())
    with federation.runtime.database.transaction() as session:
        licence = get_licence(session, identifier)
        assert verified.claims.identifier == identifier
        assert verified.claims.status_index == licence.status_index
        assert verified.claims.holder_id_masked == licence.holder_id_masked
        assert verified.claims.region == REGION


def test_status_lists_over_the_api(federation: Federation) -> None:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        first = client.get(f"/api/v1/status-lists/{REGION}")
        assert first.status_code == 200, first.text
        assert first.headers["content-type"] == "application/statuslist+jwt"
        number = int(first.headers["x-status-list-number"])
        identifier, _ = federation.issue(region=REGION, level=PadesLevel.B_T)
        with federation.runtime.database.transaction() as session:
            revoke_licence(session, identifier, "测试")
            index = get_licence(session, identifier).status_index
        second = client.get(f"/api/v1/status-lists/{REGION}")
        assert int(second.headers["x-status-list-number"]) > number
        listed = verify_status_list(second.text, federation.trust_list(), at=utc_now())
        assert listed.status(index) is LicenceStatus.REVOKED
        kept = client.get(f"/api/v1/status-lists/{REGION}/{number}")
        assert kept.status_code == 200 and kept.text == first.text
        assert_problem(client.get("/api/v1/status-lists/990000"), 404)
        assert_problem(client.get(f"/api/v1/status-lists/{REGION}/999999"), 404)
        assert_problem(client.get(f"/api/v1/status-lists/{REGION}/0"), 422)
        assert_problem(client.get("/api/v1/status-lists/33"), 422)


def test_suspend_and_reinstate_show_in_the_list(federation: Federation) -> None:
    runtime = federation.runtime
    identifier, _ = federation.issue(region=REGION, level=PadesLevel.B_T)
    trust_list = federation.trust_list()

    def listed_status() -> LicenceStatus:
        with runtime.database.transaction() as session:
            version = current_status_list(session, runtime.status_signer(REGION))
            index = get_licence(session, identifier).status_index
        return verify_status_list(version.token, trust_list, at=utc_now()).status(index)

    assert run_cli(federation, "licence", "suspend", identifier, "--reason", "核查").returncode == 0
    assert listed_status() is LicenceStatus.SUSPENDED
    assert run_cli(federation, "licence", "reinstate", identifier).returncode == 0
    assert listed_status() is LicenceStatus.VALID
    assert_one_line_error(
        run_cli(federation, "licence", "reinstate", identifier), "is active: it cannot be"
    )
    assert run_cli(federation, "licence", "revoke", identifier, "--reason", "吊销").returncode == 0
    assert listed_status() is LicenceStatus.REVOKED
    assert_one_line_error(
        run_cli(federation, "licence", "reinstate", identifier), "revocation is final"
    )
    with runtime.database.transaction() as session:
        events = [
            e
            for (e,) in session.execute(
                select(LicenceEvent.event)
                .join(Licence, Licence.id == LicenceEvent.licence_id)
                .where(Licence.identifier == identifier)
                .order_by(LicenceEvent.id)
            )
        ]
    assert events == ["issued", "suspended", "reinstated", "revoked"]


def test_every_event_and_list_version_is_in_the_log(federation: Federation) -> None:
    """Issue, revoke, publish: three leaves; a checkpoint; the licence's leaves proven
    included with the verifier's own code; the whole log audits clean."""
    runtime = federation.runtime
    identifier, _ = federation.issue(region=GD_REGION, level=PadesLevel.B_T)
    with runtime.database.transaction() as session:
        revoke_licence(session, identifier, "测试吊销")
    with runtime.database.transaction() as session:
        version = current_status_list(session, runtime.status_signer(GD_REGION))
    # 440000: the transparency tests date 330000's checkpoints themselves.
    checkpoint_if_due(
        runtime.database.transaction,
        runtime.log_signer(GD_REGION),
        GD_REGION,
        min_interval=timedelta(0),
    )
    with runtime.database.transaction() as session:
        indices = find_licence_leaves(session, GD_REGION, identifier)
        checkpoint = latest_checkpoint(session, GD_REGION)
        assert checkpoint is not None
        verified = verify_checkpoint(checkpoint.note, federation.trust_list(), at=utc_now())
        leaves = [
            parse_leaf(leaf)
            for index in indices
            for _, leaf in entries(session, GD_REGION, index, index + 1)
        ]
        for index in indices:
            ((_, leaf),) = entries(session, GD_REGION, index, index + 1)
            proof = inclusion_proof(session, GD_REGION, index, verified.tree_size)
            verify_inclusion(leaf_hash(leaf), index, verified.tree_size, proof, verified.root_hash)
        size = tree_size(session, GD_REGION)
        listed = [
            parse_leaf(leaf) for _, leaf in entries(session, GD_REGION, max(0, size - 5), size)
        ]
        assert audit_log(session, GD_REGION).ok
    assert [(leaf["event"], leaf["licence"]) for leaf in leaves] == [
        ("issued", identifier),
        ("revoked", identifier),
    ]
    assert any(
        leaf["type"] == "status-list" and leaf["sha256"] == version.sha256 for leaf in listed
    )
