"""Fixtures of the verifier tests."""

from __future__ import annotations

import pytest

from tests.conftest import Federation
from tests.verifier.pdf_support import Dev, make_dev


@pytest.fixture(scope="module")
def dev(federation: Federation, issued_licence: tuple[str, bytes]) -> Dev:
    """The session federation's genuine sealed licence, the product's own sealers and the
    federation's current CRLs (from a bundle), read once per module."""
    return make_dev(federation, issued_licence[1])
