"""A real `govtrust serve` process on a free loopback port, for tests that need HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx

from tests.conftest import Federation


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    federation: Federation,
    port: int,
    *,
    workers: int = 1,
    log: IO[bytes] | None = None,
    extra_env: dict[str, str] | None = None,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """`python -m govtrust serve` on `port`, not waited for (see `wait_until_serving`).

    With `new_session` the server and its workers get a process group of their own (the
    server's pid), so a test can kill all of them at once with `os.killpg`.
    """
    env = {**os.environ, **federation.env(), **(extra_env or {}), "GOVTRUST_PORT": str(port)}
    args = ["serve"] if workers == 1 else ["serve", "--workers", str(workers)]
    return subprocess.Popen(
        [sys.executable, "-m", "govtrust", *args],
        cwd=federation.home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if log is None else log,
        start_new_session=new_session,
    )


def wait_until_serving(server: subprocess.Popen[bytes], base: str, timeout: float = 60) -> None:
    """Return once `base` answers its health check; fail if the server exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, (
            server.stderr.read().decode() if server.stderr else "server exited; see its log"
        )
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server did not come up"
        time.sleep(0.2)


@contextmanager
def live_server(
    federation: Federation,
    *,
    workers: int = 1,
    log: IO[bytes] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """`python -m govtrust serve` on a free loopback port; yields its base URL.

    `workers` > 1 runs it with that many worker processes (`serve --workers`). `log`, an
    open file, takes the server's stderr; without it stderr goes to a pipe that is read
    only if the server dies while starting (so a test that makes it log a lot needs one).
    """
    port = free_port()
    server = start_server(federation, port, workers=workers, log=log, extra_env=extra_env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, base)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
