"""`govtrust serve` as a real process: it serves the signed trust list over loopback HTTP."""

from __future__ import annotations

import httpx

from tests.conftest import Federation, assert_one_line_error, run_cli
from tests.server import free_port, live_server


def test_serve_publishes_trust_list(federation: Federation) -> None:
    with live_server(federation) as base:
        response = httpx.get(f"{base}/api/v1/trust-list", timeout=5)
        assert response.status_code == 200
        assert response.text.strip() == federation.settings.trust_list_path.read_text().strip()


def test_serve_refuses_dev_keys_outside_dev_mode(federation: Federation) -> None:
    result = run_cli(
        federation,
        "serve",
        "--port",
        str(free_port()),
        timeout=60,
        extra_env={"GOVTRUST_DEV_MODE": "false"},
    )
    assert_one_line_error(result, "dev keys")
