"""The long-lived objects of one govtrust process, built once from the settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from ca.authority import load_issuer
from ca.data_protection import DataProtector
from ca.errors import KeyStoreError
from ca.keys import FileKeyStore
from ca.profiles import Issuer
from govtrust.db import Database
from govtrust.settings import Settings
from seal_service.seals import SealerPool


@dataclass
class Runtime:
    settings: Settings
    _issuers: dict[str, Issuer] = field(default_factory=dict, repr=False)
    _issuers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def issuer(self, code: str) -> Issuer:
        """Region CA `code` ready to sign, its key loaded once for the process."""
        with self._issuers_lock:
            if code not in self._issuers:
                with self.database.transaction() as session:
                    self._issuers[code] = load_issuer(
                        session,
                        self.key_store,
                        code,
                        public_base_url=self.settings.public_base_url,
                    )
            return self._issuers[code]

    @cached_property
    def database(self) -> Database:
        return Database(self.settings.effective_database_url)

    @cached_property
    def key_store(self) -> FileKeyStore:
        passphrase = self.settings.key_passphrase_bytes()
        if passphrase is None:
            raise KeyStoreError(
                "no key passphrase: set GOVTRUST_KEY_PASSPHRASE(_FILE) or run `govtrust dev-init`"
            )
        return FileKeyStore(self.settings.effective_key_dir, passphrase)

    @cached_property
    def data_protector(self) -> DataProtector:
        key = self.settings.data_key_hex()
        if key is None:
            raise KeyStoreError(
                "no data-protection key: set GOVTRUST_DATA_KEY or run `govtrust dev-init`"
            )
        return DataProtector.from_hex(key)

    @cached_property
    def sealers(self) -> SealerPool:
        return SealerPool(self.key_store)
