"""The PKCS#11 key store on a fresh SoftHSM2 token: keys stay in the token and still sign."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.exceptions import PKCS11Error
from pydantic import SecretStr

from ca.authority import issue_with_new_key, load_issuer
from ca.errors import KeyStoreError
from ca.keys import KeyRef, KeyStore
from ca.pkcs11 import Pkcs11KeyStore, Pkcs11PrivateKey
from ca.profiles import (
    LOG_SIGNER,
    NATIONAL_ROOT,
    REGION_CA,
    SEAL,
    Issuer,
    build_certificate,
    subject_name,
)
from ca.revocation import revoke_certificate
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from seal_service.render import seal_slots_of
from seal_service.seal_image import render_seal_image
from seal_service.sealing import PadesLevel, PdfSealer, SealMaterial, SealOptions
from tests.conftest import Federation
from tests.tools import REQUIRE_TOOLS_ENV, require_tool
from verifier.pdf import verify_pdf
from verifier.report import Verdict
from verifier.timeutil import utc_now

MODULE_ENV = "GOVTRUST_PKCS11_MODULE"
MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
)
TOKEN = "T"
PIN = "1234"
SO_PIN = "5678"
DATA = b"licence 1.2.156.3005.2"


def softhsm_module() -> str:
    """The SoftHSM2 module: GOVTRUST_PKCS11_MODULE, else a Debian/Ubuntu path; else skip."""
    candidates = [os.environ[MODULE_ENV]] if os.environ.get(MODULE_ENV) else list(MODULE_PATHS)
    for path in candidates:
        if os.path.isfile(path):
            return path
    reason = f"no SoftHSM2 module at {', '.join(candidates)} (apt-get install softhsm2)"
    if os.environ.get(REQUIRE_TOOLS_ENV) == "1":
        pytest.fail(f"{reason} and {REQUIRE_TOOLS_ENV}=1 requires it")
    pytest.skip(f"{reason}; set {REQUIRE_TOOLS_ENV}=1 to make this a failure")


@dataclass
class Hsm:
    module: str
    util: str
    directory: Path
    stores: list[Pkcs11KeyStore]

    def add_token(self, label: str) -> None:
        """Initialise one more token; only before any store is open (it restarts the module)."""
        assert not self.stores
        init_token(self.util, self.module, label)

    def open(self, pin: str = PIN, token: str = TOKEN) -> Pkcs11KeyStore:
        store = Pkcs11KeyStore(self.module, token, pin)
        self.stores.append(store)
        return store


@pytest.fixture
def hsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hsm]:
    """A fresh SoftHSM2 token labelled T (user PIN 1234) in its own token directory."""
    util = require_tool("softhsm2-util")
    module = softhsm_module()
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    config = tmp_path / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    init_token(util, module, TOKEN)
    hsm = Hsm(module, util, tmp_path, [])
    yield hsm
    for store in hsm.stores:
        store.close()


def init_token(util: str, module: str, label: str) -> None:
    subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # SoftHSM2 reads SOFTHSM2_CONF and finds tokens in C_Initialize only, and python-pkcs11
    # keeps one initialised module per process: start it again so that it sees the token.
    pkcs11.lib(os.path.realpath(module)).reinitialize()


def verify(public: ec.EllipticCurvePublicKey, signature: bytes, data: bytes = DATA) -> None:
    public.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def test_generate_sign_verify(hsm: Hsm) -> None:
    store: KeyStore = hsm.open()
    assert store.backend == "pkcs11"
    assert not store.exists("330000/region-ca")
    public = store.generate("330000/region-ca")
    assert store.exists("330000/region-ca")
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    key = store.private_key("330000/region-ca")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert (key.curve.name, key.key_size) == ("secp256r1", 256)
    assert key.public_key() == public
    for algorithm in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        public.verify(key.sign(DATA, ec.ECDSA(algorithm)), DATA, ec.ECDSA(algorithm))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(DATA)
    prehashed = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
    verify(public, key.sign(digest.finalize(), prehashed))
    signature = key.sign(DATA, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        verify(public, signature, DATA + b"!")
    with pytest.raises(UnsupportedAlgorithm):
        key.sign(DATA, ec.ECDSA(hashes.SHA1()))
    with pytest.raises(UnsupportedAlgorithm, match="deterministic"):
        key.sign(DATA, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    with pytest.raises(KeyStoreError, match="not a valid key name"):
        store.generate("../escape")
    with pytest.raises(KeyStoreError, match="no EC key pair labelled 'missing'"):
        store.private_key("missing")


def test_region_ca_in_the_hsm_issues_a_seal_that_openssl_verifies(hsm: Hsm) -> None:
    openssl = require_tool("openssl")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_cert = build_certificate(
        NATIONAL_ROOT, subject_name("Root"), root_key.public_key(), self_signing_key=root_key
    )
    store = hsm.open()
    region_public = store.generate("330000/region-ca")
    region_cert = build_certificate(
        REGION_CA,
        subject_name("Region", province="浙江省"),
        region_public,
        issuer=Issuer(root_cert, root_key, NATIONAL_ROOT),
    )
    hsm_key = store.private_key("330000/region-ca")
    seal_subject = subject_name(
        "某局电子印章",
        organization="某局",
        organization_identifier="113300003300010149",
        province="浙江省",
    )
    seal_key = ec.generate_private_key(ec.SECP256R1())
    # cryptography's builder calls the Python sign() of a custom EllipticCurvePrivateKey.
    seal_cert = build_certificate(
        SEAL, seal_subject, seal_key.public_key(), issuer=Issuer(region_cert, hsm_key, REGION_CA)
    )
    seal_cert.verify_directly_issued_by(region_cert)
    paths = {}
    for name, cert in (("root", root_cert), ("region", region_cert), ("seal", seal_cert)):
        paths[name] = hsm.directory / f"{name}.pem"
        paths[name].write_bytes(cert.public_bytes(Encoding.PEM))
    result = subprocess.run(
        [
            openssl,
            "verify",
            "-x509_strict",
            "-CAfile",
            str(paths["root"]),
            "-untrusted",
            str(paths["region"]),
            str(paths["seal"]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{paths['seal']}: OK"


def test_private_key_cannot_leave_the_token(hsm: Hsm) -> None:
    store = hsm.open()
    store.generate("seal")
    key = store.private_key("seal")
    with pytest.raises(KeyStoreError, match="lives in the HSM and cannot be exported"):
        key.private_bytes(
            Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    with pytest.raises(KeyStoreError, match="cannot be exported"):
        key.private_numbers()
    with pytest.raises(KeyStoreError, match="no key agreement"):
        key.exchange(ec.ECDH(), ec.generate_private_key(ec.SECP256R1()).public_key())
    store.close()
    # Look at the token object itself, beneath the store.
    token = pkcs11.lib(os.path.realpath(hsm.module)).get_token(token_label=TOKEN)
    with token.open(user_pin=PIN) as session:
        private = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC, label="seal")
        assert private[Attribute.TOKEN] and private[Attribute.PRIVATE]
        assert private[Attribute.SENSITIVE] and private[Attribute.ALWAYS_SENSITIVE]
        assert not private[Attribute.EXTRACTABLE] and private[Attribute.NEVER_EXTRACTABLE]
        assert private[Attribute.SIGN]
        assert not private[Attribute.DECRYPT] and not private[Attribute.DERIVE]
        assert not private[Attribute.UNWRAP]
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            private[Attribute.VALUE]
        with pytest.raises(PKCS11Error):
            private[Attribute.EXTRACTABLE] = True


def test_wrong_pin_missing_token_and_missing_module_are_one_line_errors(hsm: Hsm) -> None:
    with pytest.raises(KeyStoreError) as wrong:
        hsm.open(pin="9999")
    assert str(wrong.value) == f"wrong PIN for PKCS#11 token {TOKEN!r}"
    with pytest.raises(KeyStoreError, match="no PKCS#11 token labelled 'absent'"):
        hsm.open(token="absent")
    with pytest.raises(KeyStoreError, match=r"module /nonexistent/libp11\.so not found"):
        Pkcs11KeyStore("/nonexistent/libp11.so", TOKEN, PIN)
    not_a_module = hsm.directory / "softhsm2.conf"
    with pytest.raises(KeyStoreError, match="cannot be loaded: invalid ELF header"):
        Pkcs11KeyStore(str(not_a_module), TOKEN, PIN)
    # Once the token is logged in, C_Login no longer checks a PIN: the store must.
    hsm.open()
    with pytest.raises(KeyStoreError) as wrong_while_open:
        hsm.open(pin="0000")
    assert str(wrong_while_open.value) == f"wrong PIN for PKCS#11 token {TOKEN!r}"
    for error in (wrong.value, wrong_while_open.value):
        assert "9999" not in str(error) and "0000" not in str(error) and PIN not in str(error)
        # No chained python-pkcs11 exception for a traceback to print.
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__


def test_duplicate_label_is_refused(hsm: Hsm) -> None:
    store = hsm.open()
    first = store.generate("330000/seal-1")
    with pytest.raises(KeyStoreError, match="already exists"):
        store.generate("330000/seal-1")
    assert store.private_key("330000/seal-1").public_key() == first


def test_two_threads_sign_concurrently_through_one_store(hsm: Hsm) -> None:
    store = hsm.open()
    public = store.generate("seal")
    key = store.private_key("seal")
    start = threading.Barrier(2)

    def sign_many(thread: int) -> list[tuple[bytes, bytes]]:
        start.wait()
        messages = [f"{thread}-{i}".encode() for i in range(200)]
        return [(m, key.sign(m, ec.ECDSA(hashes.SHA256()))) for m in messages]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(sign_many, range(2)))
    assert [len(r) for r in results] == [200, 200]
    for signed in results:
        for message, signature in signed:
            verify(public, signature, message)


def test_stores_on_two_tokens_of_one_module_sign_concurrently(hsm: Hsm) -> None:
    # Two tokens mean two sessions; python-pkcs11 initialises the module without locking,
    # so SoftHSM2 runs without mutexes and, unserialised, corrupts its heap (seen: SIGSEGV).
    hsm.add_token("U")
    stores = [hsm.open(), hsm.open(token="U")]
    keys = []
    for store in stores:
        store.generate("seal")
        keys.append(store.private_key("seal"))
    start = threading.Barrier(2)

    def sign_many(key: Pkcs11PrivateKey) -> list[tuple[bytes, bytes]]:
        start.wait()
        messages = [f"{key.name}-{i}".encode() for i in range(500)]
        return [(m, key.sign(m, ec.ECDSA(hashes.SHA256()))) for m in messages]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(sign_many, keys))
    assert keys[0].public_key() != keys[1].public_key()
    for key, signed in zip(keys, results, strict=True):
        for message, signature in signed:
            verify(key.public_key(), signature, message)


def test_a_new_store_finds_the_key_by_label(hsm: Hsm) -> None:
    first = hsm.open()
    public = first.generate("330000/tsa")
    second = hsm.open()  # shares the token's login while the first is open
    first.close()
    first.close()
    with pytest.raises(KeyStoreError, match="is closed"):
        first.private_key("330000/tsa")
    key = second.private_key("330000/tsa")
    assert isinstance(key, Pkcs11PrivateKey) and key.public_key() == public
    verify(public, key.sign(DATA, ec.ECDSA(hashes.SHA256())))
    second.close()
    with pytest.raises(KeyStoreError, match="is closed"):
        key.sign(DATA, ec.ECDSA(hashes.SHA256()))
    third = hsm.open()
    assert third.exists("330000/tsa")
    verify(public, third.private_key("330000/tsa").sign(DATA, ec.ECDSA(hashes.SHA256())))


def test_store_is_a_context_manager(hsm: Hsm) -> None:
    with Pkcs11KeyStore(hsm.module, TOKEN, PIN) as store:
        public = store.generate("log")
        key = store.private_key("log")
        verify(public, key.sign(DATA, ec.ECDSA(hashes.SHA256())))
    with pytest.raises(KeyStoreError, match="is closed"):
        key.sign(DATA, ec.ECDSA(hashes.SHA256()))


def test_settings_read_the_pin_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MODULE", "TOKEN", "PIN", "PIN_FILE"):
        monkeypatch.delenv(f"GOVTRUST_PKCS11_{name}", raising=False)
    assert Settings().pkcs11_pin_value() is None
    pin_file = tmp_path / "pin"
    pin_file.write_text("4321\n")
    monkeypatch.setenv("GOVTRUST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
    monkeypatch.setenv("GOVTRUST_PKCS11_TOKEN", "govtrust")
    monkeypatch.setenv("GOVTRUST_PKCS11_PIN_FILE", str(pin_file))
    settings = Settings()
    assert (settings.pkcs11_module, settings.pkcs11_token) == (
        "/usr/lib/softhsm/libsofthsm2.so",
        "govtrust",
    )
    assert settings.pkcs11_pin_value() == "4321"
    monkeypatch.setenv("GOVTRUST_PKCS11_PIN", "1111")
    assert Settings().pkcs11_pin_value() == "1111"


def test_runtime_makes_new_keys_in_the_hsm_and_resolves_both_backends(
    hsm: Hsm, federation: Federation
) -> None:
    settings = federation.settings.model_copy(
        update={
            "pkcs11_module": hsm.module,
            "pkcs11_token": TOKEN,
            "pkcs11_pin": SecretStr(PIN),
        }
    )
    runtime = Runtime(settings)
    store = runtime.pkcs11_key_store
    assert store is not None
    hsm.stores.append(store)
    assert runtime.key_store is store
    subject = subject_name("日志签名 (HSM)", organization="浙江省", province="浙江省")
    with runtime.database.transaction() as session:
        issuer = load_issuer(session, runtime.key_stores, "330000")  # a file-backed CA key
        row = issue_with_new_key(
            session,
            runtime.key_store,
            "330000/log-signer-hsm",
            "330000",
            issuer,
            LOG_SIGNER,
            subject,
        )
    try:
        assert row.key_ref == "pkcs11:330000/log-signer-hsm"
        key = runtime.key_stores.private_key(KeyRef.parse(row.key_ref))
        public = row.certificate.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        verify(public, key.sign(DATA, ec.ECDSA(hashes.SHA256())))  # type: ignore[call-arg]
    finally:
        # The shared federation's 330000 log must go on signing with its file key: retire
        # this one (the newest unrevoked log-signer certificate is the one in use).
        with runtime.database.transaction() as session:
            revoke_certificate(session, "330000", row.serial, x509.ReasonFlags.superseded)


def test_a_seal_key_in_the_hsm_seals_a_licence_the_verifier_accepts(
    hsm: Hsm, federation: Federation
) -> None:
    """PAdES B-T with the signature made on the token (the key never leaves it)."""
    store = hsm.open()
    runtime = federation.runtime
    subject = subject_name(
        "浙江省市场监督管理局电子印章 (HSM)",
        organization="浙江省市场监督管理局",
        organization_identifier="113300003300010149",
        province="浙江省",
    )
    with runtime.database.transaction() as session:
        issuer = load_issuer(session, runtime.key_stores, "330000")
    # Certified but not recorded: the shared federation's registers stay as they were.
    certificate = build_certificate(
        SEAL, subject, store.generate("330000/amr/seal-hsm"), issuer=issuer
    )
    key = store.private_key("330000/amr/seal-hsm")
    assert isinstance(key, Pkcs11PrivateKey)
    sealer = PdfSealer(
        SealMaterial(
            certificate,
            key,
            (issuer.certificate,),
            render_seal_image("浙江省市场监督管理局"),
            "x",
        )
    )
    _, issued = federation.issue(level=PadesLevel.B_T)
    unsealed = issued[: issued.index(b"%%EOF") + 6]  # the rendered page, before any seal
    options = SealOptions(
        "test",
        "浙江省",
        runtime.tsa("330000").respond,
        seal_slots=(seal_slots_of("no-criminal-record")[0].box,),
    )
    report = verify_pdf(
        sealer.seal(unsealed, options),
        federation.trust_list(),
        at=utc_now(),
        crls=federation.bundle().crls,
    )
    assert report.verdict is Verdict.VALID, report.reason
    assert report.seals[0].signer == certificate.subject.rfc4514_string()
