"""Helpers shared by tests that shell out to external tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE_TOOLS_ENV = "GOVTRUST_REQUIRE_TOOLS"


def require_tool(name: str) -> str:
    """Return the path of an executable, or skip the test when it is not installed.

    With GOVTRUST_REQUIRE_TOOLS=1 (CI), a missing tool fails the test instead, so that
    a machine without it cannot pass by skipping.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    if os.environ.get(REQUIRE_TOOLS_ENV) == "1":
        pytest.fail(f"{name} is not installed and {REQUIRE_TOOLS_ENV}=1 requires it")
    pytest.skip(f"{name} is not on PATH; set {REQUIRE_TOOLS_ENV}=1 to make this a failure")


def pdfsig_blocks(pdf: Path, *args: str | Path) -> list[str]:
    """poppler's pdfsig report, one block per signed signature (the text after each
    `Signature #n:` line) in the order of the signed revisions; empty seal positions ("not
    signed") are left out. pdfsig itself lists fields in form order, not signing order."""
    command = [require_tool("pdfsig"), *map(str, args), str(pdf)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    blocks = result.stdout.split("Signature #")[1:]
    signed = [b for b in blocks if "The signature form field is not signed." not in b]
    return sorted(signed, key=lambda b: int(b.split("Signed Ranges: [0 - ")[1].split("]")[0]))


def nss_database(directory: Path, *trusted: Path) -> str:
    """A new NSS database in `directory` trusting the PEM certificates `trusted` as CAs."""
    directory.mkdir()
    certutil = require_tool("certutil")
    database = f"sql:{directory}"
    subprocess.run([certutil, "-N", "--empty-password", "-d", database], check=True, timeout=60)
    for index, pem in enumerate(trusted):
        subprocess.run(
            [certutil, "-A", "-n", f"ca{index}", "-t", "CT,C,C", "-i", str(pem), "-d", database],
            check=True,
            timeout=60,
        )
    return database
