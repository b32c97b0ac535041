"""The server checkpoints each region's log within seconds of it growing."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from govtrust.app import create_app
from govtrust.checkpointer import checkpoint_all
from licence_registry.transparency import latest_checkpoint, tree_size
from seal_service.levels import PadesLevel
from tests.conftest import Federation
from verifier.checkpoint import verify_checkpoint
from verifier.timeutil import utc_now

REGION = "440000"


def test_the_served_app_checkpoints_a_grown_log(federation: Federation) -> None:
    runtime = federation.runtime
    checkpoint_all(runtime)  # whatever earlier tests left unsigned
    federation.issue(region=REGION, level=PadesLevel.B_T)
    with runtime.database.transaction() as session:
        grown = tree_size(session, REGION)
    with TestClient(create_app(federation.settings, background=True)):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with runtime.database.transaction() as session:
                latest = latest_checkpoint(session, REGION)
            if latest is not None and latest.tree_size >= grown:
                break
            time.sleep(0.2)
    assert latest is not None and latest.tree_size >= grown
    verified = verify_checkpoint(latest.note, federation.trust_list(), region=REGION, at=utc_now())
    assert verified.tree_size == latest.tree_size
