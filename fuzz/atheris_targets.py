"""atheris targets for the parsers of outside bytes, for long runs outside CI:

    make fuzz-atheris TARGET=pdf SECONDS=600
    .venv/bin/python -m fuzz.atheris_targets TARGET [libFuzzer options]

TARGET: pdf, credential, token, trust-list, bundle, csr, ocsp, tsa, batch. Each input is
bounded in size by the parser itself; an exception other than the parser's documented
refusal is a finding (atheris stops and writes the input to crash-*). A dev federation is
made once in a temporary directory for the targets that need keys or a trust list.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from verifier.errors import InputError


@cache
def _runtime():
    from bench.common import bench_federation

    return bench_federation()


def _pdf(data: bytes) -> None:
    from verifier.pdf import verify_pdf
    from verifier.timeutil import utc_now

    verify_pdf(data, _runtime().trust_list(), at=utc_now())


def _credential(data: bytes) -> None:
    from verifier.credential import verify_credential
    from verifier.timeutil import utc_now

    verify_credential(data.decode("latin-1"), _runtime().trust_list(), at=utc_now())


def _token(data: bytes) -> None:
    from verifier.identity_token import verify_identity_token
    from verifier.timeutil import utc_now

    verify_identity_token(
        data.decode("latin-1"), _runtime().trust_list(), audience="govtrust-api", at=utc_now()
    )


def _trust_list(data: bytes) -> None:
    from verifier.certs import sha256_fingerprint
    from verifier.timeutil import utc_now
    from verifier.trust_list import verify_trust_list

    root = sha256_fingerprint(_runtime().trust_list().national_root)
    verify_trust_list(data.decode("latin-1"), root, at=utc_now())


def _bundle(data: bytes) -> None:
    from verifier.bundle import open_bundle
    from verifier.certs import sha256_fingerprint
    from verifier.timeutil import utc_now

    root = sha256_fingerprint(_runtime().trust_list().national_root)
    open_bundle(data, root, at=utc_now())


def _csr(data: bytes) -> None:
    from ca.registry import load_csr

    load_csr(data)


def _ocsp(data: bytes) -> None:
    runtime = _runtime()
    responder = runtime.ocsp_responder("330000")
    with runtime.database.transaction() as session:
        responder.respond(session, data)


def _tsa(data: bytes) -> None:
    _runtime().tsa("330000").respond(data)


_BATCH_DIR = Path(tempfile.mkdtemp(prefix="govtrust-fuzz-batch-"))


def _batch(data: bytes) -> None:
    from govtrust.batch import read_batch

    for suffix in (".csv", ".jsonl"):
        path = _BATCH_DIR / f"input{suffix}"
        path.write_bytes(data)
        with contextlib.suppress(InputError):
            read_batch(path)


def _seed_pdf() -> bytes:
    from govtrust.issuance import LicenceOffice
    from licence_registry.lifecycle import IssueRequest

    request = IssueRequest("330000", "amr", "business-licence", "模糊测试有限公司", _USCC)
    return LicenceOffice.for_pdf(_runtime()).issue(request).pdf


def _seed_credential() -> bytes:
    from govtrust.issuance import LicenceOffice
    from licence_registry.lifecycle import IssueRequest

    request = IssueRequest("330000", "amr", "business-licence", "模糊测试有限公司", _USCC)
    return (LicenceOffice.for_pdf(_runtime()).issue(request).credential or "").encode()


def _seed_csr() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seed")])
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(Encoding.DER)


def _seed_trust_list() -> bytes:
    return _runtime().settings.trust_list_path.read_bytes()


def _seed_bundle() -> bytes:
    from govtrust.bundle import export_bundle

    return export_bundle(_runtime())


_USCC = "91330100MA2B3C4D1A"
# A genuine input per target to start from (libFuzzer mutates the corpus it is given).
SEEDS: dict[str, Callable[[], bytes]] = {
    "pdf": _seed_pdf,
    "credential": _seed_credential,
    "csr": _seed_csr,
    "trust-list": _seed_trust_list,
    "bundle": _seed_bundle,
}


TARGETS: dict[str, Callable[[bytes], None]] = {
    "pdf": _pdf,
    "credential": _credential,
    "token": _token,
    "trust-list": _trust_list,
    "bundle": _bundle,
    "csr": _csr,
    "ocsp": _ocsp,
    "tsa": _tsa,
    "batch": _batch,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(
            f"usage: python -m fuzz.atheris_targets {{{','.join(TARGETS)}}} [libFuzzer options]",
            file=sys.stderr,
        )
        sys.exit(2)
    import atheris

    from verifier.identity_token import IdentityTokenError
    from verifier.trust_list import TrustListError

    name = sys.argv[1]
    target = TARGETS[name]
    # Each parser's documented refusals; anything else is a finding.
    refusals = (InputError, IdentityTokenError, TrustListError)

    def one_input(data: bytes) -> None:
        with contextlib.suppress(*refusals):
            target(data)

    _runtime()  # the federation before fuzzing starts, not inside the first input
    one_input(b"")  # imports what the target needs, so that it is instrumented below
    atheris.instrument_all()  # coverage guidance over the Python code, ours and libraries'
    options = sys.argv[2:]
    if not any(not o.startswith("-") for o in options) and name in SEEDS:
        corpus = Path("var") / "fuzz-corpus" / name
        corpus.mkdir(parents=True, exist_ok=True)
        (corpus / "seed").write_bytes(SEEDS[name]())
        options.append(str(corpus))
    atheris.Setup([sys.argv[0], *options], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
