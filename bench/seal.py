"""Sealing benchmark: licences rendered and sealed per second (B-T and B-LT), in one process
and on every core, beside a naive baseline and raw ECDSA P-256 signs in the same run.

    .venv/bin/python -m bench.seal [--quick]

"Sealed" is the product's own path (SealingService): render from the template, check the
seal is usable, sign with pyHanko, timestamp at the region's TSA (in process) and, for
B-LT, embed the OCSP answers and CRL. "Issued" adds the registry: serial, record, event.
The naive baseline is what a first script would do: a fresh renderer (font load) and a
fresh pyHanko signer and stamp for every document.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import resource
import string
import time
from concurrent.futures import ProcessPoolExecutor

from bench.common import Row, bench_federation, print_table, rate, raw_ecdsa_sign_rate
from ca.keys import KeyRef
from ca.models import IssuedCertificate
from ca.registry import find_department
from govtrust.issuance import SealingService
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from licence_registry.catalogue import licence_type
from licence_registry.lifecycle import IssueRequest, LicenceContent, issue_licence
from seal_service.fonts import CjkFont, licence_font
from seal_service.levels import PadesLevel
from seal_service.lifecycle import usable_seal
from seal_service.render import PdfLicenceRenderer
from seal_service.sealing import PdfSealer, SealMaterial, SealOptions
from verifier.identifiers import HolderIdType, LicenceIdentifier, make_uscc
from verifier.timeutil import utc_now


def contents(runtime: Runtime, count: int) -> list[LicenceContent]:
    """Business licences of 330000/amr with distinct holders and numbers (not recorded)."""
    kind = licence_type("business-licence")
    with runtime.database.transaction() as session:
        department = find_department(session, "330000", "amr")
    today = utc_now().date()
    made = []
    for serial in range(1, count + 1):
        holder_id = make_uscc("9", "1", "330100", f"MA{serial:06d}")
        made.append(
            LicenceContent(
                identifier=str(LicenceIdentifier.build(kind.type_code, department.uscc, serial, 1)),
                licence_type=kind,
                department=department,
                serial=serial,
                status_index=serial,
                holder_name=f"杭州基准测试第{serial}号科技有限公司",
                holder_id_type=HolderIdType.USCC,
                holder_id=holder_id,
                holder_id_masked=holder_id[:6] + "********" + holder_id[-4:],
                valid_from=today,
                valid_until=None,
                qr_payload=qr_payload(serial),
            )
        )
    return made


def qr_payload(serial: int) -> str:
    """Shaped like the compact JWS credential the registry will print (560 characters)."""
    return "".join(random.Random(serial).choices(string.ascii_letters + "-_", k=558)) + ".."


def sealed_rate(runtime: Runtime, level: PadesLevel, seconds: float, count: int = 50) -> float:
    service = SealingService.for_pdf(runtime, level)
    cycle = itertools.cycle(contents(runtime, count))
    with runtime.database.transaction() as session:
        service(session, next(cycle))  # warm: keys, font, sealer, TSA, OCSP
        return rate(lambda: service(session, next(cycle)), seconds=seconds)


def issued_rate(runtime: Runtime, seconds: float) -> float:
    service = SealingService.for_pdf(runtime, PadesLevel.B_T)
    numbers = itertools.count(1)

    def issue() -> None:
        n = next(numbers)
        request = IssueRequest(
            "330000",
            "amr",
            "business-licence",
            f"杭州签发基准{n}号有限公司",
            make_uscc("9", "1", "330100", f"MB{n:06d}"),
        )
        issue_licence(
            runtime.database.transaction,
            request,
            sealer=service,
            protector=runtime.data_protector,
            status_signers=runtime.status_signer,
        )

    issue()
    return rate(issue, seconds=seconds)


def naive_rate(runtime: Runtime, documents: int) -> float:
    """A fresh renderer (font load) and a fresh pyHanko signer and stamp per document."""
    items = contents(runtime, documents)
    with runtime.database.transaction() as session:
        seal = usable_seal(session, items[0].department)
        certificate = session.get_one(IssuedCertificate, seal.certificate_id).certificate
        key = runtime.key_stores.private_key(KeyRef.parse(seal.key_ref))
        chain = (runtime.issuer("330000").certificate,)
    tsa = runtime.tsa("330000")
    font_path = licence_font().path
    started = time.perf_counter()
    for content in items:
        renderer = PdfLicenceRenderer(CjkFont(font_path))
        rendered = renderer.render_licence(SealingService.document(content, "浙江省"))
        sealer = PdfSealer(SealMaterial(certificate, key, chain, seal.image_png, seal.name))
        options = SealOptions(
            "bench", "浙江省", tsa.respond, PadesLevel.B_T, seal_slots=rendered.seal_boxes
        )
        sealer.seal(rendered.pdf, options)
    return documents / (time.perf_counter() - started)


def _worker_rate(settings: Settings, level: PadesLevel, seconds: float) -> float:
    return sealed_rate(Runtime(settings), level, seconds)


def all_cores_rate(settings: Settings, level: PadesLevel, seconds: float) -> tuple[float, int]:
    """Aggregate sealed/s with one process per core, each with its own keys and font."""
    workers = os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        rates = list(
            pool.map(_worker_rate, [settings] * workers, [level] * workers, [seconds] * workers)
        )
    return sum(rates), workers


def render_rate(runtime: Runtime, seconds: float) -> float:
    renderer = PdfLicenceRenderer()
    documents = [SealingService.document(c, "浙江省") for c in contents(runtime, 50)]
    cycle = itertools.cycle(documents)
    renderer.render_licence(next(cycle))
    return rate(lambda: renderer.render_licence(next(cycle)), seconds=seconds)


def peak_memory_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else 3.0
    runtime = bench_federation()

    signs = raw_ecdsa_sign_rate()
    rendered = render_rate(runtime, seconds)
    bt = sealed_rate(runtime, PadesLevel.B_T, seconds)
    blt = sealed_rate(runtime, PadesLevel.B_LT, seconds)
    issued = issued_rate(runtime, seconds)
    naive = naive_rate(runtime, 4 if args.quick else 10)
    bt_all, workers = all_cores_rate(runtime.settings, PadesLevel.B_T, seconds)
    blt_all, _ = all_cores_rate(runtime.settings, PadesLevel.B_LT, seconds)
    own, children = peak_memory_mb()
    limit = 1 / (1 / rendered + 1 / bt_sign_only(runtime, seconds))

    print_table(
        "Sealing licences (bench/seal.py)",
        [
            Row("raw ECDSA P-256 signs/s", f"{signs:,.0f}/s", "cryptography, one core, same run"),
            Row(
                "licence pages rendered/s",
                f"{rendered:,.0f}/s",
                "template + QR of 560 chars, warm, one core",
            ),
            Row("sealed B-T/s, one process", f"{bt:,.1f}/s", f"{1000 / bt:.1f} ms each"),
            Row(
                f"sealed B-T/s, {workers} processes",
                f"{bt_all:,.1f}/s",
                f"target >= 50/s; {bt_all / naive:.1f}x the naive baseline (target >= 3x)",
            ),
            Row("sealed B-LT/s, one process", f"{blt:,.1f}/s", "plus DSS: OCSP x2, root CRL"),
            Row(f"sealed B-LT/s, {workers} processes", f"{blt_all:,.1f}/s", ""),
            Row(
                "naive baseline, one process",
                f"{naive:,.1f}/s",
                "fresh renderer + font and fresh pyHanko signer per document, B-T",
            ),
            Row(
                "render + B-T signature limit, one core",
                f"{limit:,.1f}/s",
                f"render and pyHanko signing alone; sealed B-T is {bt / limit:.0%} of it",
            ),
            Row(
                "issued B-T/s, one process",
                f"{issued:,.1f}/s",
                "plus serial, record and event (SQLite)",
            ),
            Row("peak memory", f"{own:,.0f} MB", f"this process; workers up to {children:,.0f} MB"),
        ],
    )


def bt_sign_only(runtime: Runtime, seconds: float) -> float:
    """pyHanko B-T signing of an already rendered page, nothing else: the signing limit."""
    content = contents(runtime, 1)[0]
    rendered = PdfLicenceRenderer().render_licence(SealingService.document(content, "浙江省"))
    with runtime.database.transaction() as session:
        seal = usable_seal(session, content.department)
        sealer = runtime.sealers.sealer_for(session, seal)
    options = SealOptions(
        "bench", "浙江省", runtime.tsa("330000").respond, seal_slots=rendered.seal_boxes
    )
    sealer.seal(rendered.pdf, options)
    return rate(lambda: sealer.seal(rendered.pdf, options), seconds=seconds)


if __name__ == "__main__":
    main()
