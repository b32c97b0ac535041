"""The encrypted-file key store: keys at rest are encrypted, and misuse is refused clearly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ca.errors import KeyStoreError
from ca.keys import FileKeyStore, KeyRef


def test_generate_sign_reload(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, b"correct horse")
    public = store.generate("330000/region-ca")
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    key = FileKeyStore(tmp_path, b"correct horse").private_key("330000/region-ca")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    public.verify(signature, b"data", ec.ECDSA(hashes.SHA256()))


def test_key_file_is_encrypted_and_private(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, b"pass phrase")
    store.generate("seal")
    path = tmp_path / "seal.key.pem"
    text = path.read_text()
    assert "BEGIN ENCRYPTED PRIVATE KEY" in text
    assert "BEGIN PRIVATE KEY" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    FileKeyStore(tmp_path, b"right").generate("seal")
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        FileKeyStore(tmp_path, b"wrong").private_key("seal")


def test_refuses_overwrite_missing_and_bad_names(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, b"p")
    store.generate("seal")
    with pytest.raises(KeyStoreError, match="already exists"):
        store.generate("seal")
    with pytest.raises(KeyStoreError, match="not found"):
        store.private_key("other")
    for bad in ("../escape", "/abs", "UPPER", "a/../../b", ""):
        with pytest.raises(KeyStoreError, match="not a valid key name"):
            store.generate(bad)
    with pytest.raises(KeyStoreError, match="passphrase"):
        FileKeyStore(tmp_path, b"")


def test_key_ref_round_trip() -> None:
    ref = KeyRef.parse("file:330000/amr/seal-1")
    assert (ref.backend, ref.name, str(ref)) == (
        "file",
        "330000/amr/seal-1",
        "file:330000/amr/seal-1",
    )
    with pytest.raises(KeyStoreError):
        KeyRef.parse("no-backend")
