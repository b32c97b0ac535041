"""Shared fixtures: one dev federation per test session, on SQLite or on PostgreSQL.

GOVTRUST_TEST_DATABASE_URL selects PostgreSQL (CI runs the suite once with it);
without it every test uses a SQLite file in a temporary GOVTRUST_HOME.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ca.data_protection import person_pseudonym
from ca.federation import load_trust_list_signer, sign_trust_list
from govtrust.bundle import export_bundle
from govtrust.devinit import dev_init
from govtrust.issuance import LicenceOffice
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from identity.signin import ACR_PASSWORD, API_AUDIENCE
from licence_registry import IssueRequest
from seal_service.sealing import PadesLevel
from verifier.bundle import OfflineBundle, open_bundle
from verifier.identifiers import HolderIdType, make_uscc
from verifier.timeutil import utc_now
from verifier.trust_list import TrustList, verify_trust_list

TEST_DATABASE_URL_ENV = "GOVTRUST_TEST_DATABASE_URL"


def database_url_for(home: Path) -> str | None:
    """The database the suite runs against: PostgreSQL when configured, else SQLite in home."""
    return os.environ.get(TEST_DATABASE_URL_ENV) or None


@dataclass
class Federation:
    """The session's dev federation and handy ways to use it."""

    settings: Settings
    runtime: Runtime
    root_fingerprint: str

    @property
    def home(self) -> Path:
        return self.settings.home

    def env(self) -> dict[str, str]:
        """Environment for a `govtrust` subprocess or CliRunner aimed at this federation."""
        env = {"GOVTRUST_HOME": str(self.home)}
        if self.settings.database_url:
            env["GOVTRUST_DATABASE_URL"] = self.settings.database_url
        return env

    def trust_list(self) -> TrustList:
        return verify_trust_list(
            self.settings.trust_list_path.read_bytes(), self.root_fingerprint, at=utc_now()
        )

    def resign(self, trust_list: TrustList) -> TrustList:
        """Sign an edited trust list with the hub's signer and read it back as a verifier."""
        with self.runtime.database.transaction() as session:
            signer = load_trust_list_signer(session, self.runtime.key_stores)
        token = sign_trust_list(trust_list, signer)
        return verify_trust_list(token, self.root_fingerprint, at=utc_now())

    def staff_token(
        self, region: str, role: str = "operator", department: str | None = None
    ) -> str:
        """An identity token of a staff member of `region` with `role` (acting for
        `department`), for API tests."""
        return self.runtime.identity_issuer(region).issue(
            f"test-{role}-{region}", API_AUDIENCE, [role], ACR_PASSWORD, department=department
        )

    def issue(
        self,
        holder_name: str = "测试科技有限公司",
        holder_id: str | None = None,
        *,
        region: str = "330000",
        department: str = "amr",
        licence_type: str = "business-licence",
        level: PadesLevel | None = None,
    ) -> tuple[str, bytes]:
        """Issue and seal one licence (at the type's own PAdES level unless `level` says);
        return its identifier and PDF."""
        holder_id = holder_id or make_uscc("9", "1", "330100", "MA2B3C4D")
        licence = LicenceOffice.for_pdf(self.runtime, level).issue(
            IssueRequest(region, department, licence_type, holder_name, holder_id)
        )
        return licence.identifier, licence.pdf

    def bundle(self) -> OfflineBundle:
        """An offline bundle exported now and opened as an agency would: its CRLs and
        status lists are what `verify_pdf(..., crls=)` and status checks need."""
        return open_bundle(export_bundle(self.runtime), self.root_fingerprint, at=utc_now())

    def holder_token(
        self, holder_id: str, id_type: HolderIdType = HolderIdType.USCC, region: str = "440000"
    ) -> str:
        """An identity token of the holder of `holder_id`, signed in at `region`'s identity
        provider: its subject is their federation pseudonym, as a real sign-in gives."""
        kind = "citizen" if id_type is HolderIdType.CITIZEN_ID else "legal-person"
        subject = person_pseudonym(self.runtime.data_protector, id_type, holder_id)
        return self.runtime.identity_issuer(region).issue(
            subject, API_AUDIENCE, [kind], ACR_PASSWORD
        )


# A public name, as in production: ETSI lint refuses internal names such as 127.0.0.1 in
# the CRL and OCSP pointers of a certificate.
TEST_PUBLIC_BASE_URL = "http://pki.govtrust.gov.cn"


def make_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        database_url=database_url_for(home),
        dev_mode=True,
        public_base_url=TEST_PUBLIC_BASE_URL,
    )


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    home = tmp_path_factory.mktemp("govtrust-home")
    settings = make_settings(home)
    result = dev_init(settings, force=True)
    return Federation(settings, Runtime(settings), result.root_fingerprint)


def private_federation(home: Path) -> Federation:
    """A federation of its own, always SQLite in `home`, for tests that withdraw services or
    publish trust lists (the shared one must not see that; a second federation in the shared
    PostgreSQL database would reset the session's)."""
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'var' / 'own.db'}",
        dev_mode=True,
        public_base_url=TEST_PUBLIC_BASE_URL,
    )
    result = dev_init(settings, force=True)
    return Federation(settings, Runtime(settings), result.root_fingerprint)


@pytest.fixture(scope="session")
def issued_licence(federation: Federation) -> tuple[str, bytes]:
    """One sealed licence shared by read-only tests (never revoke or alter it)."""
    return federation.issue("杭州云栖数字科技有限公司")


def run_govtrust(
    cwd: Path, environment: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real `govtrust` entry point in a subprocess with only `environment` for
    GOVTRUST_* settings (none inherited from the test run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
    return subprocess.run(
        [sys.executable, "-m", "govtrust", *args],
        cwd=cwd,
        env=env | environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli(
    federation: Federation,
    *args: str,
    cwd: Path | None = None,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `govtrust` entry point in a subprocess against the federation."""
    environment = federation.env() | (extra_env or {})
    return run_govtrust(cwd or federation.home, environment, *args, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, exactly one line on stderr, no traceback, naming what is wrong."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
