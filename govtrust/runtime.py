"""The long-lived objects of one govtrust process, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ca.data_protection import DataProtector
from ca.errors import KeyStoreError
from ca.keys import FileKeyStore
from govtrust.db import Database
from govtrust.settings import Settings
from seal_service.seals import SealerPool


@dataclass
class Runtime:
    settings: Settings

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
