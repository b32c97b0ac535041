"""PKCS#11 key store: ECDSA keys generated and kept in an HSM (tested with SoftHSM2).

The private key never leaves the token. `private_key()` hands out an
`ec.EllipticCurvePrivateKey` whose `sign` hashes in software and asks the token
for a raw `CKM_ECDSA` signature (SoftHSM2 2.6 has no `CKM_ECDSA_SHA256`), so
cryptography's certificate, CRL and OCSP builders can sign with it unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import pkcs11
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    MultipleTokensReturned,
    NoSuchKey,
    NoSuchToken,
    PinIncorrect,
    PinLenRange,
    PinLocked,
    PKCS11Error,
)
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from ca.errors import KeyStoreError
from ca.keys import KEY_NAME_PATTERN

if TYPE_CHECKING:
    from cryptography.utils import Buffer

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_DIGEST_SIZES = frozenset(h.digest_size for h in _HASHES.values())


@dataclass
class _Login:
    """One logged-in session on one token, shared by every store of this process on it.

    PKCS#11 login state belongs to the application, not to a session: a second
    C_Login fails with USER_ALREADY_LOGGED_IN and closing any session with
    C_Logout logs out all of them. So stores on the same token share one
    session and the last one to close logs out.
    """

    session: pkcs11.Session
    pin_digest: bytes
    users: int = 1


# python-pkcs11 calls C_Initialize(NULL), which tells the module that the application
# never calls it from two threads at once; SoftHSM2 then turns its own mutexes off.
# So every call into a module goes through that module's lock, across all stores.
_module_locks: dict[str, threading.RLock] = {}
_logins: dict[tuple[str, str], _Login] = {}
_registry_lock = threading.Lock()


def _module_lock(module: str) -> threading.RLock:
    with _registry_lock:
        return _module_locks.setdefault(module, threading.RLock())


def _pin_digest(pin: str) -> bytes:
    return hashlib.sha256(pin.encode()).digest()


class Pkcs11KeyStore:
    """Keys on one PKCS#11 token, reached through one long-lived logged-in session."""

    backend = "pkcs11"

    def __init__(self, module_path: str, token_label: str, pin: str) -> None:
        if not os.path.isfile(module_path):
            raise KeyStoreError(f"PKCS#11 module {module_path} not found")
        # One name per file: python-pkcs11 caches modules by path, and a second path to the
        # same file (Debian's /usr/lib/softhsm is a symlink) fails C_Initialize as already done.
        self._module = os.path.realpath(module_path)
        self._token_label = token_label
        self._lock = _module_lock(self._module)
        self._keys: dict[str, Pkcs11PrivateKey] = {}
        self._closed = False
        with self._lock:
            self._login = self._log_in(module_path, token_label, pin)

    def _log_in(self, module_path: str, token_label: str, pin: str) -> _Login:
        if not pin:
            raise KeyStoreError(f"no PIN given for PKCS#11 token {token_label!r}")
        key = (self._module, token_label)
        shared = _logins.get(key)
        if shared is not None:
            if not hmac.compare_digest(shared.pin_digest, _pin_digest(pin)):
                raise KeyStoreError(f"wrong PIN for PKCS#11 token {token_label!r}")
            shared.users += 1
            return shared
        try:
            lib = pkcs11.lib(self._module)
        except PKCS11Error as exc:
            # dlopen's reason ("invalid ELF header") ends the message; C_Initialize gives none.
            text = str(exc).strip()
            reason = text.splitlines()[0].rsplit(": ", 1)[-1] if text else type(exc).__name__
            raise KeyStoreError(
                f"PKCS#11 module {module_path} cannot be loaded: {reason}"
            ) from None
        try:
            token = lib.get_token(token_label=token_label)
        except NoSuchToken:
            raise KeyStoreError(
                f"no PKCS#11 token labelled {token_label!r} in {module_path}"
            ) from None
        except MultipleTokensReturned:
            raise KeyStoreError(
                f"more than one PKCS#11 token labelled {token_label!r} in {module_path}"
            ) from None
        except PKCS11Error as exc:
            raise KeyStoreError(
                f"PKCS#11 module {module_path} cannot list tokens: {type(exc).__name__}"
            ) from None
        try:
            session = token.open(rw=True, user_pin=pin)
        except (PinIncorrect, PinLenRange):
            raise KeyStoreError(f"wrong PIN for PKCS#11 token {token_label!r}") from None
        except PinLocked:
            raise KeyStoreError(f"the PIN of PKCS#11 token {token_label!r} is locked") from None
        except PKCS11Error as exc:
            # Never the exception text: it is not ours to vouch that it omits the PIN.
            raise KeyStoreError(
                f"cannot log in to PKCS#11 token {token_label!r}: {type(exc).__name__}"
            ) from None
        login = _Login(session, _pin_digest(pin))
        _logins[key] = login
        return login

    def __enter__(self) -> Pkcs11KeyStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release this store's share of the session; the last store logs out."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._keys.clear()
            self._login.users -= 1
            if self._login.users == 0:
                _logins.pop((self._module, self._token_label), None)
                # A token that went away has nothing left to log out of.
                with contextlib.suppress(PKCS11Error):
                    self._login.session.close()

    def _session(self) -> pkcs11.Session:
        if self._closed:
            raise KeyStoreError(f"the PKCS#11 store on token {self._token_label!r} is closed")
        return self._login.session

    @staticmethod
    def _check_name(name: str) -> None:
        if not KEY_NAME_PATTERN.match(name):
            raise KeyStoreError(f"key name {name!r} is not a valid key name")

    def exists(self, name: str) -> bool:
        self._check_name(name)
        with self._lock:
            try:
                return any(True for _ in self._session().get_objects({Attribute.LABEL: name}))
            except PKCS11Error as exc:
                raise self._failed("search for", name, exc) from None

    def generate(self, name: str) -> ec.EllipticCurvePublicKey:
        self._check_name(name)
        with self._lock:
            if self.exists(name):
                raise KeyStoreError(f"key {name!r} already exists on token {self._token_label!r}")
            try:
                public, _private = self._session().generate_keypair(
                    KeyType.EC,
                    store=True,
                    label=name,
                    id=name.encode(),
                    public_template={
                        Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1"),
                        Attribute.TOKEN: True,
                        Attribute.VERIFY: True,
                        Attribute.ENCRYPT: False,
                        Attribute.WRAP: False,
                        Attribute.DERIVE: False,
                    },
                    private_template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True,
                        Attribute.DECRYPT: False,
                        Attribute.UNWRAP: False,
                        Attribute.DERIVE: False,
                    },
                )
                return _public_key(public)
            except PKCS11Error as exc:
                raise self._failed("generate", name, exc) from None

    def private_key(self, name: str) -> Pkcs11PrivateKey:
        self._check_name(name)
        with self._lock:
            cached = self._keys.get(name)
            if cached is not None:
                return cached
            session = self._session()
            try:
                private = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC, label=name)
                public = session.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC, label=name)
                public_key = _public_key(public)
            except NoSuchKey:
                raise KeyStoreError(
                    f"no EC key pair labelled {name!r} on token {self._token_label!r}"
                ) from None
            except PKCS11Error as exc:
                raise self._failed("open", name, exc) from None
            key = Pkcs11PrivateKey(self, name, private, public_key)
            self._keys[name] = key
            return key

    def _sign_digest(self, name: str, handle: pkcs11.PrivateKey, digest: bytes) -> bytes:
        with self._lock:
            self._session()
            try:
                return handle.sign(digest, mechanism=Mechanism.ECDSA)
            except PKCS11Error as exc:
                raise self._failed("sign with", name, exc) from None

    def _failed(self, action: str, name: str, exc: PKCS11Error) -> KeyStoreError:
        return KeyStoreError(
            f"PKCS#11 token {self._token_label!r} failed to {action} key {name!r}: "
            f"{type(exc).__name__}"
        )


def _public_key(handle: pkcs11.PublicKey) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(encode_ec_public_key(handle))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyStoreError("the token returned a public key that is not an EC key")
    return key


class Pkcs11PrivateKey(ec.EllipticCurvePrivateKey):
    """An EC private key on a token: it signs, it does not leave the token."""

    def __init__(
        self,
        store: Pkcs11KeyStore,
        name: str,
        handle: pkcs11.PrivateKey,
        public_key: ec.EllipticCurvePublicKey,
    ) -> None:
        self._store = store
        self._name = name
        self._handle = handle
        self._public_key = public_key

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<Pkcs11PrivateKey {self._name!r} {self.curve.name}>"

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public_key.curve

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedAlgorithm("a PKCS#11 EC key signs with ECDSA only")
        if getattr(signature_algorithm, "deterministic_signing", False):
            raise UnsupportedAlgorithm("the PKCS#11 token cannot sign deterministically (RFC 6979)")
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, utils.Prehashed):
            if algorithm.digest_size not in _DIGEST_SIZES:
                raise UnsupportedAlgorithm("only SHA-256, SHA-384 and SHA-512 digests are signed")
            digest = bytes(data)
            if len(digest) != algorithm.digest_size:
                raise ValueError("the prehashed data is not as long as the digest")
        else:
            hash_class = _HASHES.get(algorithm.name)
            if hash_class is None or not isinstance(algorithm, hash_class):
                raise UnsupportedAlgorithm(f"hash {algorithm.name} is not signed with HSM keys")
            hasher = hashes.Hash(algorithm)
            hasher.update(data)
            digest = hasher.finalize()
        raw = self._store._sign_digest(self._name, self._handle, digest)
        half = len(raw) // 2
        return utils.encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    def _not_exportable(self) -> NoReturn:
        raise KeyStoreError(f"key {self._name!r} lives in the HSM and cannot be exported")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        self._not_exportable()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        self._not_exportable()

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise KeyStoreError(f"key {self._name!r} is a signing key; it does no key agreement")

    # A copy would share the token object anyway: the key has one identity.
    def __copy__(self) -> Pkcs11PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Pkcs11PrivateKey:
        return self
