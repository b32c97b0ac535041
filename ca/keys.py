"""Key stores: where private keys live and how a signer reaches them.

A private key never leaves its store unencrypted: callers get a handle that
signs, and only the file backend can hand a key object to in-process
libraries (pyHanko, joserfc) that need one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)

from ca.errors import KeyStoreError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

KEY_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}(/[a-z0-9][a-z0-9._-]{0,99}){0,3}$")


@dataclass(frozen=True)
class KeyRef:
    """Where a key lives: `file:<name>` or `pkcs11:<label>`."""

    backend: str
    name: str

    def __str__(self) -> str:
        return f"{self.backend}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> KeyRef:
        backend, sep, name = text.partition(":")
        if not sep or not name:
            raise KeyStoreError(f"key reference {text!r} is not of the form backend:name")
        return cls(backend, name)


class KeyStore(Protocol):
    """A place that makes and holds private keys."""

    backend: str

    def generate(self, name: str) -> CertificatePublicKeyTypes:
        """Make a new ECDSA P-256 key under `name`; refuse to overwrite one."""
        ...

    def private_key(self, name: str) -> CertificateIssuerPrivateKeyTypes:
        """The key, for a signer held for the life of the process (never per request)."""
        ...

    def exists(self, name: str) -> bool: ...


class FileKeyStore:
    """Encrypted PKCS#8 PEM files under one directory, one file per key."""

    backend = "file"

    def __init__(self, directory: Path, passphrase: bytes) -> None:
        if not passphrase:
            raise KeyStoreError("the key store needs a passphrase (GOVTRUST_KEY_PASSPHRASE)")
        self._directory = directory
        self._passphrase = passphrase

    def _path(self, name: str) -> Path:
        if not KEY_NAME_PATTERN.match(name):
            raise KeyStoreError(f"key name {name!r} is not a valid key name")
        return self._directory / f"{name}.key.pem"

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def generate(self, name: str) -> CertificatePublicKeyTypes:
        path = self._path(name)
        if path.exists():
            raise KeyStoreError(f"key {name!r} already exists")
        key = ec.generate_private_key(ec.SECP256R1())
        self.store(name, key)
        return key.public_key()

    def store(self, name: str, key: PrivateKey) -> None:
        """Write a key encrypted with the store's passphrase (0600, written atomically)."""
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        tmp.replace(path)

    def private_key(self, name: str) -> CertificateIssuerPrivateKeyTypes:
        path = self._path(name)
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreError(f"key {name!r} not found in {self._directory}") from None
        try:
            key = serialization.load_pem_private_key(pem, self._passphrase)
        except ValueError:
            raise KeyStoreError(
                f"key {name!r} cannot be decrypted: wrong passphrase or damaged file"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise KeyStoreError(f"key {name!r} is neither ECDSA nor RSA")
        return key


class KeyStores:
    """The key stores of one process, by backend: a `KeyRef` finds its key here."""

    def __init__(self, *stores: KeyStore) -> None:
        self._by_backend = {store.backend: store for store in stores}

    @classmethod
    def of(cls, stores: KeyStores | KeyStore) -> KeyStores:
        return stores if isinstance(stores, KeyStores) else cls(stores)

    def store(self, backend: str) -> KeyStore:
        try:
            return self._by_backend[backend]
        except KeyError:
            raise KeyStoreError(f"no {backend} key store is configured") from None

    def private_key(self, ref: KeyRef) -> CertificateIssuerPrivateKeyTypes:
        return self.store(ref.backend).private_key(ref.name)
