"""Helpers shared by tests that shell out to external tools."""

from __future__ import annotations

import os
import shutil

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
