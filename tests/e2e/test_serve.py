"""`govtrust serve` as a real process: it serves the signed trust list over loopback HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import Federation, assert_one_line_error, run_cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_publishes_trust_list(federation: Federation) -> None:
    port = free_port()
    env = {**os.environ, **federation.env(), "GOVTRUST_PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-m", "govtrust", "serve"],
        cwd=federation.home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        response = httpx.get(f"{base}/api/v1/trust-list", timeout=5)
        assert response.status_code == 200
        assert response.text.strip() == federation.settings.trust_list_path.read_text().strip()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_refuses_dev_keys_outside_dev_mode(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVTRUST_DEV_MODE", "false")
    result = run_cli(federation, "serve", "--port", str(free_port()), timeout=60)
    assert_one_line_error(result, "dev keys")
