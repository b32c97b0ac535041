"""The offline root ceremony through the real CLI: the server never needs the root key."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import assert_one_line_error, run_govtrust
from tests.tools import require_tool

REGION = ("310000", "上海市")


def govtrust(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_govtrust(
        home,
        {
            "GOVTRUST_HOME": str(home),
            "GOVTRUST_KEY_PASSPHRASE": "server store passphrase",
            "GOVTRUST_ROOT_PASSPHRASE": "root passphrase",
            "GOVTRUST_PUBLIC_BASE_URL": "http://pki.govtrust.gov.cn",
        },
        *args,
    )


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ceremony")
    root_dir, server = base / "root", base / "server"
    server.mkdir()
    result = govtrust(server, "ca", "init-root", "--dir", str(root_dir))
    assert result.returncode == 0, result.stderr
    csr = base / "region.csr"
    result = govtrust(
        server, "ca", "init-region", "--region", REGION[0], "--name", REGION[1], "--out", str(csr)
    )
    assert result.returncode == 0, result.stderr
    cert = base / "region.pem"
    result = govtrust(
        server,
        "ca",
        "certify-region",
        "--root-dir",
        str(root_dir),
        "--csr",
        str(csr),
        "--out",
        str(cert),
    )
    assert result.returncode == 0, result.stderr
    # The server installs the result without any access to ROOT_DIR.
    root_pem = base / "root.pem"
    root_pem.write_bytes((root_dir / "national-root.pem").read_bytes())
    root_dir.chmod(0)
    try:
        result = govtrust(
            server,
            "ca",
            "install-region",
            "--region",
            REGION[0],
            "--name",
            REGION[1],
            "--cert",
            str(cert),
            "--root-cert",
            str(root_pem),
        )
    finally:
        root_dir.chmod(stat.S_IRWXU)
    assert result.returncode == 0, result.stderr
    return {
        "base": base,
        "root_dir": root_dir,
        "server": server,
        "cert": cert,
        "csr": csr,
        "root_pem": root_pem,
    }


def test_region_certificate_chains_to_root(ceremony: dict[str, Path]) -> None:
    openssl = require_tool("openssl")
    result = subprocess.run(
        [
            openssl,
            "verify",
            "-x509_strict",
            "-CAfile",
            str(ceremony["root_pem"]),
            str(ceremony["cert"]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stdout
    region = x509.load_pem_x509_certificate(ceremony["cert"].read_bytes())
    constraint = region.extensions.get_extension_for_class(x509.NameConstraints).value
    assert "上海市" in constraint.permitted_subtrees[0].value.rfc4514_string()
    assert list((ceremony["root_dir"] / "issued").glob("*.pem"))


def test_root_key_is_encrypted_and_not_on_the_server(ceremony: dict[str, Path]) -> None:
    key = ceremony["root_dir"] / "national-root.key.pem"
    assert "ENCRYPTED PRIVATE KEY" in key.read_text()
    server_files = [p.name for p in ceremony["server"].rglob("*") if p.is_file()]
    assert not any("national-root.key" in name for name in server_files)


def test_ceremony_refusals(ceremony: dict[str, Path]) -> None:
    server, base = ceremony["server"], ceremony["base"]
    assert_one_line_error(
        govtrust(server, "ca", "init-root", "--dir", str(ceremony["root_dir"])),
        "already holds a root",
    )
    assert_one_line_error(
        govtrust(
            server,
            "ca",
            "install-region",
            "--region",
            REGION[0],
            "--name",
            REGION[1],
            "--cert",
            str(ceremony["cert"]),
            "--root-cert",
            str(ceremony["root_pem"]),
        ),
        "already",
    )
    garbage = base / "garbage.csr"
    garbage.write_text("not a csr")
    assert_one_line_error(
        govtrust(
            server,
            "ca",
            "certify-region",
            "--root-dir",
            str(ceremony["root_dir"]),
            "--csr",
            str(garbage),
            "--out",
            str(base / "x.pem"),
        ),
        "certificate signing request",
    )
    # A region certificate whose key is not the one this server made for the region.
    other = base / "other-server"
    other.mkdir()
    assert (
        govtrust(
            other,
            "ca",
            "init-region",
            "--region",
            "320000",
            "--name",
            "江苏省",
            "--out",
            str(base / "js.csr"),
        ).returncode
        == 0
    )
    js_cert = base / "js.pem"
    assert (
        govtrust(
            server,
            "ca",
            "certify-region",
            "--root-dir",
            str(ceremony["root_dir"]),
            "--csr",
            str(base / "js.csr"),
            "--out",
            str(js_cert),
        ).returncode
        == 0
    )
    assert_one_line_error(
        govtrust(
            server,
            "ca",
            "install-region",
            "--region",
            "320000",
            "--name",
            "江苏省",
            "--cert",
            str(js_cert),
            "--root-cert",
            str(ceremony["root_pem"]),
        ),
        "not found",
    )
    env_less = govtrust(
        server,
        "ca",
        "certify-region",
        "--root-dir",
        str(ceremony["root_dir"]),
        "--csr",
        str(ceremony["csr"]),
        "--out",
        str(base / "y.pem"),
        "--passphrase-file",
        str(garbage),
    )
    assert_one_line_error(env_less, "wrong passphrase")
    assert_one_line_error(
        govtrust(
            server,
            "ca",
            "init-region",
            "--region",
            "33",
            "--name",
            "x",
            "--out",
            str(base / "z.csr"),
        ),
        "region code",
    )
