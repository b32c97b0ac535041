"""Verification benchmark: licence PDFs and QR credentials verified per second, offline, beside
raw ECDSA P-256 verifies and a naive per-file pyHanko baseline measured in the same run.

    .venv/bin/python -m bench.verify [--quick]

A throw-away federation issues N business licences (1,000; --quick 100) at PAdES B-T, two
departments in two regions, through the product's batch issuance (`govtrust seal batch`'s
code, every core) into a folder, and exports an offline bundle (everything is deleted at
the end). Then, opening that bundle as an agency would:

- QR credentials (each licence's own, from the registry) through one `CredentialVerifier`,
  and through `verify_credential` called per token;
- the folder through one `PdfVerifier` (read each file, verify), in one process and in two;
- the naive baseline on a sample of the same files: what a first script would do with
  pyHanko alone, per file (trust roots loaded from PEM, a fresh `ValidationContext`, a
  `PdfFileReader`, `validate_pdf_signature` for each seal, `validate_pdf_timestamp` for
  each document timestamp). It runs in a process of
  its own that never imports verifier.pdf, so pyHanko there is pyHanko as shipped (that
  module speeds up two pyHanko functions process-wide). It checks less than the product
  (no trust-list history, no revocation, no byte-range or tail checks);
- a smaller folder at the business licence's own level (B-LTA: signature timestamp, DSS,
  document timestamp), through `PdfVerifier` and the naive baseline.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from bench.common import Row, bench_federation, print_table, rate, raw_ecdsa_verify_rate
from govtrust.batch import BatchRow, output_path, run_batch
from govtrust.bundle import export_bundle
from govtrust.runtime import Runtime
from licence_registry.lifecycle import IssueRequest
from licence_registry.models import Licence
from seal_service.levels import PadesLevel
from verifier.bundle import OfflineBundle, open_bundle
from verifier.credential import CredentialVerifier, verify_credential
from verifier.identifiers import make_uscc
from verifier.report import Verdict
from verifier.timeutil import utc_now
from verifier.trust_list import ServiceType

# verifier.pdf is imported inside the functions that use it, never at the top: the naive
# baseline's process imports this module too and must see pyHanko as shipped.

REGIONS = ("330000", "440000")


def issue_folder(
    runtime: Runtime, count: int, level: PadesLevel | None, prefix: str, letter: str, home: Path
) -> tuple[Path, dict[str, str]]:
    """`count` business licences (amr of both regions, alternating) written to a new
    folder under `home` by the batch issuer on every core; returns the folder and each
    file's QR credential (by file name), as the registry recorded it."""
    folder = home / f"licences-{prefix}"
    rows = [
        BatchRow(
            n,
            f"{prefix}-{n:05d}",
            IssueRequest(
                REGIONS[n % 2],
                "amr",
                "business-licence",
                f"核验基准{prefix}第{n}号有限公司",
                make_uscc("9", "1", "330100", f"M{letter}{n:06d}"),
            ),
        )
        for n in range(count)
    ]
    result = run_batch(runtime.settings, rows, folder, level=level)
    if result.failed or result.issued != count:
        raise SystemExit(f"batch issuance failed: {result.failed[:3]}")
    keys = [row.key for row in rows]
    credentials: dict[str, str] = {}
    with runtime.database.transaction() as session:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            query = select(Licence.idempotency_key, Licence.credential).where(
                Licence.idempotency_key.in_(chunk)
            )
            for key, credential in session.execute(query):
                assert key is not None and credential is not None
                credentials[output_path(folder, key).name] = credential
    return folder, credentials


def pdf_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pdf"))


def sample(files: Sequence[Path], count: int) -> list[Path]:
    """`count` files spread evenly over the folder."""
    step = max(1, len(files) // count)
    return list(files[::step][:count])


# --- one process --------------------------------------------------------------------------


class Timed:
    """Wall-clock files/s, and CPU milliseconds per file (what contention cannot inflate:
    other work on this shared machine slows the first, hardly the second)."""

    def __init__(self, files: int, wall: float, cpu: float) -> None:
        self.rate = files / wall
        self.cpu_ms = 1000 * cpu / files


def folder_rate(bundle: OfflineBundle, files: Sequence[Path], at: datetime) -> Timed:
    """Read and verify every file with one PdfVerifier; all must be VALID."""
    from verifier.pdf import PdfVerifier

    verifier = PdfVerifier(bundle.trust_list, crls=bundle.crls)
    wall, cpu = time.perf_counter(), time.process_time()
    for path in files:
        report = verifier.verify(path.read_bytes(), at=at)
        if report.verdict is not Verdict.VALID:
            raise SystemExit(f"{path.name}: {report.verdict} {report.reason}")
    return Timed(len(files), time.perf_counter() - wall, time.process_time() - cpu)


def one_off_rate(bundle: OfflineBundle, files: Sequence[Path], at: datetime) -> Timed:
    """`verify_pdf` per file: the same checks with nothing kept from one file to the next."""
    from verifier.pdf import verify_pdf

    wall, cpu = time.perf_counter(), time.process_time()
    for path in files:
        report = verify_pdf(path.read_bytes(), bundle.trust_list, at=at, crls=bundle.crls)
        if report.verdict is not Verdict.VALID:
            raise SystemExit(f"{path.name}: {report.verdict} {report.reason}")
    return Timed(len(files), time.perf_counter() - wall, time.process_time() - cpu)


def credential_rates(
    bundle: OfflineBundle, tokens: Sequence[str], at: datetime, seconds: float
) -> tuple[float, float]:
    """Credentials/s through one CredentialVerifier, and through verify_credential."""
    verifier = CredentialVerifier(bundle.trust_list)
    for token in tokens:  # every licence's own credential verifies, once
        verifier.verify(token, at=at)

    def cycling(verify: Callable[[str], object]) -> Callable[[], object]:
        position = 0

        def next_one() -> object:
            nonlocal position
            position = (position + 1) % len(tokens)
            return verify(tokens[position])

        return next_one

    held = rate(cycling(lambda t: verifier.verify(t, at=at)), seconds=seconds)
    per_token = rate(
        cycling(lambda t: verify_credential(t, bundle.trust_list, at=at)), seconds=seconds
    )
    return held, per_token


# --- worker processes -----------------------------------------------------------------------

_worker: list[object] = []


def _start_verifier(bundle: bytes, root_fingerprint: str, at: datetime) -> None:
    from verifier.pdf import PdfVerifier

    opened = open_bundle(bundle, root_fingerprint, at=at)
    _worker[:] = [PdfVerifier(opened.trust_list, crls=opened.crls), at]


def _ready(pause: float) -> int:
    time.sleep(pause)
    return os.getpid()


def _verify_chunk(paths: list[str]) -> tuple[int, float]:
    """Files verified, and the CPU seconds it took."""
    from verifier.pdf import PdfVerifier

    verifier, at = _worker
    assert isinstance(verifier, PdfVerifier) and isinstance(at, datetime)
    cpu = time.process_time()
    for path in paths:
        report = verifier.verify(Path(path).read_bytes(), at=at)
        if report.verdict is not Verdict.VALID:
            raise RuntimeError(f"{path}: {report.verdict} {report.reason}")
    return len(paths), time.process_time() - cpu


def _peak_mb(_: int) -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def processes_rate(
    bundle: bytes, root_fingerprint: str, files: Sequence[Path], at: datetime, workers: int
) -> tuple[Timed, float, float]:
    """Files/s with `workers` processes, each holding its own PdfVerifier, once they are
    started (counted apart: seconds to start them); and their peak memory (MB)."""
    context = multiprocessing.get_context("spawn")
    chunk = 25
    chunks = [[str(p) for p in files[i : i + chunk]] for i in range(0, len(files), chunk)]
    started = time.perf_counter()
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_verifier,
        initargs=(bundle, root_fingerprint, at),
    ) as pool:
        pids = set(pool.map(_ready, [0.5] * workers))
        if len(pids) != workers:
            raise SystemExit(f"only {len(pids)} of {workers} verify workers started")
        startup = time.perf_counter() - started
        started = time.perf_counter()
        results = list(pool.map(_verify_chunk, chunks))
        elapsed = time.perf_counter() - started
        peak = max(pool.map(_peak_mb, range(workers)))
    done, cpu = sum(n for n, _ in results), sum(c for _, c in results)
    assert done == len(files)
    return Timed(done, elapsed, cpu), startup, peak


def _naive_run(paths: list[str], roots_pem: str) -> tuple[int, float, float]:
    """In a process of its own: pyHanko alone, as shipped, set up afresh for every file."""
    import io

    from pyhanko.keys import load_certs_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    if "verifier.pdf" in sys.modules:
        raise RuntimeError("the naive baseline must run with pyHanko as shipped")

    def naive(path: str) -> bool:
        roots = list(load_certs_from_pemder([roots_pem]))
        context = ValidationContext(
            trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail"
        )
        with open(path, "rb") as handle:
            reader = PdfFileReader(io.BytesIO(handle.read()), strict=False)
        good = True
        for signature in reader.embedded_regular_signatures:
            good &= validate_pdf_signature(signature, context).bottom_line
        for stamp in reader.embedded_timestamp_signatures:
            status = validate_pdf_timestamp(stamp, context)
            good &= status.intact and status.valid and status.trusted
        return good

    if not naive(paths[0]):  # warm: imports, asn1crypto specs
        raise RuntimeError(f"the naive baseline does not accept {paths[0]}")
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        if not naive(path):
            raise RuntimeError(f"the naive baseline does not accept {path}")
    return len(paths), time.perf_counter() - wall, time.process_time() - cpu


def naive_rate(bundle: OfflineBundle, files: Sequence[Path], folder: Path) -> Timed:
    roots = folder / "trust-roots.pem"
    roots.write_bytes(
        b"".join(
            c.public_bytes(Encoding.PEM)
            for kind in (ServiceType.SEAL_CA, ServiceType.TSA)
            for s in bundle.trust_list.services(kind)
            for c in s.certificates
        )
    )
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return Timed(*pool.submit(_naive_run, [str(p) for p in files], str(roots)).result())


# --- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 licences, shorter runs")
    args = parser.parse_args()
    clock = time.perf_counter()

    runtime = bench_federation()
    print(f"federation ready in {time.perf_counter() - clock:.1f} s", flush=True)
    try:
        run(runtime, args.quick)
    finally:  # the throw-away federation and its ~100 MB of licences
        runtime.database.engine.dispose()
        shutil.rmtree(runtime.settings.home, ignore_errors=True)


def run(runtime: Runtime, quick: bool) -> None:
    count, naive_count, own_count = (100, 30, 20) if quick else (1000, 100, 100)
    seconds = 1.0 if quick else 2.0
    workers = 2
    home = runtime.settings.home
    clock = time.perf_counter()
    folder, credentials = issue_folder(runtime, count, PadesLevel.B_T, "bt", "A", home)
    print(f"{count} B-T licences issued in {time.perf_counter() - clock:.1f} s", flush=True)
    clock = time.perf_counter()
    own_folder, _ = issue_folder(runtime, own_count, None, "own", "C", home)
    print(
        f"{own_count} licences at the type's own level (B-LTA) issued in "
        f"{time.perf_counter() - clock:.1f} s",
        flush=True,
    )
    root_fingerprint = runtime.settings.root_fingerprint_path.read_text().strip()
    bundle_bytes = export_bundle(runtime)
    at = utc_now()
    bundle = open_bundle(bundle_bytes, root_fingerprint, at=at)
    files, own_files = pdf_files(folder), pdf_files(own_folder)
    tokens = [credentials[p.name] for p in files]

    load_before = os.getloadavg()[0]
    raw = raw_ecdsa_verify_rate()
    held, per_token = credential_rates(bundle, tokens, at, seconds)
    naive = naive_rate(bundle, sample(files, naive_count), folder)
    one = folder_rate(bundle, files, at)
    one_off = one_off_rate(bundle, sample(files, naive_count), at)
    many, startup, worker_peak = processes_rate(bundle_bytes, root_fingerprint, files, at, workers)
    own = folder_rate(bundle, own_files, at)
    own_naive = naive_rate(bundle, own_files, own_folder)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print_table(
        "Verifying licences offline (bench/verify.py)",
        [
            Row("raw ECDSA P-256 verifies/s", f"{raw:,.0f}/s", "cryptography, one core, same run"),
            Row(
                "QR credentials verified/s, one CredentialVerifier",
                f"{held:,.0f}/s",
                f"each licence's own, cycled; raw is {raw / held:.1f}x this (target within 3x)",
            ),
            Row(
                "QR credentials verified/s, verify_credential per token",
                f"{per_token:,.0f}/s",
                f"raw is {raw / per_token:.1f}x this",
            ),
            Row(
                f"licence PDFs verified/s, PdfVerifier, one process ({count} B-T)",
                f"{one.rate:,.1f}/s",
                f"read + verify, {one.cpu_ms:.1f} ms CPU each; {one.rate / naive.rate:.1f}x "
                f"the naive baseline ({naive.cpu_ms / one.cpu_ms:.1f}x by CPU time)",
            ),
            Row(
                f"licence PDFs verified/s, PdfVerifier, {workers} processes",
                f"{many.rate:,.1f}/s",
                f"{many.rate / naive.rate:.1f}x the naive baseline (target >= 5x); "
                f"{many.cpu_ms:.1f} ms CPU each; workers started in {startup:.1f} s, not counted",
            ),
            Row(
                "licence PDFs verified/s, verify_pdf per file",
                f"{one_off.rate:,.1f}/s",
                f"the same checks, nothing kept between files: {one_off.cpu_ms:.1f} ms CPU "
                f"each ({naive_count} files)",
            ),
            Row(
                "naive pyHanko per file, one process",
                f"{naive.rate:,.1f}/s",
                f"{naive.cpu_ms:.1f} ms CPU each; {naive_count}-file sample: PEM roots, fresh "
                "ValidationContext, PdfFileReader, validate_pdf_signature; pyHanko as shipped",
            ),
            Row(
                f"licence PDFs verified/s, PdfVerifier, one process ({own_count} B-LTA)",
                f"{own.rate:,.1f}/s",
                f"the type's own level, {own.cpu_ms:.1f} ms CPU each; naive on the same files "
                f"{own_naive.rate:,.1f}/s, {own_naive.cpu_ms:.1f} ms CPU each "
                f"({own.rate / own_naive.rate:.1f}x)",
            ),
            Row(
                "peak memory",
                f"{peak:,.0f} MB",
                f"this process (federation, {count} files read one by one); verify workers "
                f"up to {worker_peak:,.0f} MB each",
            ),
        ],
    )
    print(
        f"\n1-minute load average before measuring {load_before:.2f}, after "
        f"{os.getloadavg()[0]:.2f}, on {os.cpu_count()} cores (this run counts for about 1)"
    )


if __name__ == "__main__":
    main()
