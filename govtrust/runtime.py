"""The long-lived objects of one govtrust process, built once from the settings."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ca.authority import load_issuer
from ca.data_protection import DataProtector
from ca.errors import KeyStoreError
from ca.federation import current_trust_list
from ca.keys import FileKeyStore, KeyStore, KeyStores
from ca.ocsp import OcspResponder, load_responder
from ca.pkcs11 import Pkcs11KeyStore
from ca.profiles import Issuer
from ca.tsa import TimeStampAuthority, load_tsa
from govtrust.db import Database
from govtrust.settings import Settings
from identity.tokens import IdentityTokenIssuer, load_identity_issuer
from licence_registry.status_lists import StatusSigner, load_status_signer
from licence_registry.transparency import LogSigner, load_log_signer
from seal_service.seals import SealerPool
from verifier.timeutil import utc_now
from verifier.trust_list import TrustList

SIGNER_RECHECK_SECONDS = 60.0


@dataclass
class Runtime:
    settings: Settings
    _issuers: dict[str, Issuer] = field(default_factory=dict, repr=False)
    _issuers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _tsas: dict[str, tuple[Any, float]] = field(default_factory=dict, init=False, repr=False)
    _status: dict[str, tuple[Any, float]] = field(default_factory=dict, init=False, repr=False)
    _logs: dict[str, tuple[Any, float]] = field(default_factory=dict, init=False, repr=False)
    _tsa_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _ocsp: dict[str, tuple[Any, float]] = field(default_factory=dict, init=False, repr=False)
    _ocsp_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _trust_lists: dict[str, tuple[Any, float]] = field(default_factory=dict, init=False, repr=False)
    _trust_list_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _idps: dict[str, tuple[Any, float]] = field(default_factory=dict, init=False, repr=False)
    _idp_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def issuer(self, code: str) -> Issuer:
        """Region CA `code` ready to sign, its key loaded once for the process."""
        with self._issuers_lock:
            if code not in self._issuers:
                with self.database.transaction() as session:
                    self._issuers[code] = load_issuer(
                        session,
                        self.key_stores,
                        code,
                        public_base_url=self.settings.public_base_url,
                    )
            return self._issuers[code]

    @cached_property
    def database(self) -> Database:
        return Database(self.settings.effective_database_url)

    @cached_property
    def file_key_store(self) -> FileKeyStore:
        passphrase = self.settings.key_passphrase_bytes()
        if passphrase is None:
            raise KeyStoreError(
                "no key passphrase: set GOVTRUST_KEY_PASSPHRASE(_FILE) or run `govtrust dev-init`"
            )
        return FileKeyStore(self.settings.effective_key_dir, passphrase)

    @cached_property
    def pkcs11_key_store(self) -> Pkcs11KeyStore | None:
        settings = self.settings
        if not settings.pkcs11_module:
            return None
        if not settings.pkcs11_token or settings.pkcs11_pin_value() is None:
            raise KeyStoreError("GOVTRUST_PKCS11_MODULE needs GOVTRUST_PKCS11_TOKEN and a PIN")
        return Pkcs11KeyStore(
            settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_pin_value() or ""
        )

    @cached_property
    def key_store(self) -> KeyStore:
        """Where new keys are made: the HSM when one is configured, else encrypted files."""
        return self.pkcs11_key_store or self.file_key_store

    @cached_property
    def key_stores(self) -> KeyStores:
        """Every configured store, so a key reference of either backend resolves."""
        stores: list[KeyStore] = []
        if self.settings.key_passphrase_bytes() is not None:
            stores.append(self.file_key_store)
        if self.pkcs11_key_store is not None:
            stores.append(self.pkcs11_key_store)
        return KeyStores(*stores)

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
        return SealerPool(self.key_stores)

    def tsa(self, region: str) -> TimeStampAuthority:
        """The region's time-stamping authority (key loaded once). Raises ca.tsa.UnknownTsa
        when the region runs none; failures are not cached."""
        with self._tsa_lock:
            return self._fresh(self._tsas, region, load_tsa)

    def status_signer(self, region: str) -> StatusSigner:
        """The region's status-list and QR-credential signer (key loaded once)."""

        def load(transaction: Any, key_stores: KeyStores, code: str) -> StatusSigner:
            with transaction() as session:
                return load_status_signer(session, key_stores, code)

        with self._tsa_lock:
            signer: StatusSigner = self._fresh(self._status, region, load)
            return signer

    def log_signer(self, region: str) -> LogSigner:
        """The region's transparency-log checkpoint signer (key loaded once)."""
        with self._tsa_lock:
            signer: LogSigner = self._fresh(self._logs, region, load_log_signer)
            return signer

    def ocsp_responder(self, region: str) -> OcspResponder:
        """The region CA's OCSP responder (key loaded once). Raises a NotFoundError for a CA
        without one."""
        with self._ocsp_lock:
            responder = self._fresh(self._ocsp, region, load_responder)
            if responder.expired(utc_now()):
                self._ocsp.pop(region)
                responder = self._fresh(self._ocsp, region, load_responder)
            return responder

    def identity_issuer(self, region: str) -> IdentityTokenIssuer:
        """The region's identity-token issuer (key loaded once). Raises a NotFoundError when
        the region has no identity signer; failures are not cached."""

        def load(transaction: Any, key_stores: KeyStores, code: str) -> IdentityTokenIssuer:
            return load_identity_issuer(
                transaction, key_stores, code, self.settings.public_base_url
            )

        with self._idp_lock:
            issuer: IdentityTokenIssuer = self._fresh(self._idps, region, load)
            return issuer

    def trust_list(self) -> TrustList:
        """The newest published trust list, verified against the installed root: what every
        route decides trust with. Re-read like the signers, so a newly published list (a
        withdrawn service) takes effect within SIGNER_RECHECK_SECONDS."""

        def load(transaction: Any, _key_stores: KeyStores, _name: str) -> TrustList:
            with transaction() as session:
                return current_trust_list(session)

        with self._trust_list_lock:
            trust_list: TrustList = self._fresh(self._trust_lists, "latest", load)
            return trust_list

    def forget_trust_list(self) -> None:
        """Read the trust list again on next use (this process just published one)."""
        with self._trust_list_lock:
            self._trust_lists.clear()

    def _fresh(self, cache: dict[str, tuple[Any, float]], region: str, load: Any) -> Any:
        # Looked up again every SIGNER_RECHECK_SECONDS, so a signer certificate that was
        # revoked or replaced (by this or another process) stops being used within that time.
        entry = cache.get(region)
        if entry is None or time.monotonic() - entry[1] > SIGNER_RECHECK_SECONDS:
            entry = (load(self.database.transaction, self.key_stores, region), time.monotonic())
            cache[region] = entry
        return entry[0]
