"""Protection of personal identifiers at rest: a keyed hash to look up, AES-GCM to recover."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ca.errors import KeyStoreError

FEDERATION_SUBJECT_PURPOSE = "federation-subject"


class DataProtector:
    """Holds the data-protection key (32 bytes) for the life of the process."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise KeyStoreError("data-protection key must be 32 bytes")
        self._mac_key = hmac.new(key, b"govtrust lookup-hash v1", hashlib.sha256).digest()
        self._aead = AESGCM(hmac.new(key, b"govtrust encryption v1", hashlib.sha256).digest())

    @classmethod
    def from_hex(cls, text: str) -> DataProtector:
        try:
            return cls(bytes.fromhex(text.strip()))
        except ValueError:
            raise KeyStoreError("data-protection key is not 64 hexadecimal characters") from None

    def lookup_hash(self, purpose: str, value: str) -> str:
        """Same value and purpose give the same hash; nobody without the key can test guesses."""
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()

    def encrypt(self, purpose: str, value: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, value.encode(), purpose.encode())

    def decrypt(self, purpose: str, blob: bytes) -> str:
        return self._aead.decrypt(blob[:12], blob[12:], purpose.encode()).decode()


def person_pseudonym(protector: DataProtector, id_type: str, id_value: str) -> str:
    """A person's federation-wide pseudonym: the `sub` of their identity tokens in every
    region (the data-protection key is the federation's) and the key the registry finds
    their licences by. It reveals no ID number."""
    digest = bytes.fromhex(
        protector.lookup_hash(FEDERATION_SUBJECT_PURPOSE, f"{id_type}:{id_value}")
    )
    return base64.b32encode(digest[:20]).decode().lower()
