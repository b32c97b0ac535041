"""What the PDF attack tests share: the dev federation's sealed licences, the product's own
sealers, and helpers to seal, update and judge a PDF (the `dev` fixture is in conftest.py)."""

from __future__ import annotations

import dataclasses
import datetime
import io
import re
from collections.abc import Callable, Mapping
from typing import Any

from cryptography import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.authority import ROOT_CODE, get_authority, latest_certificate
from ca.models import Department, IssuedCertificate
from ca.profiles import TRUST_LIST_SIGNER
from govtrust.bundle import export_bundle
from seal_service.render import LicenceDocument, PdfLicenceRenderer, seal_slots_of
from seal_service.seal_image import render_seal_image
from seal_service.sealing import Box, PdfSealer, SealOptions, TimeStampResponder
from seal_service.seals import active_seal
from tests.conftest import Federation
from verifier.bundle import open_bundle
from verifier.crl import IssuerKey, VerifiedCrl
from verifier.pdf import PdfReport, verify_pdf
from verifier.report import Indication, Verdict
from verifier.timeutil import utc_now
from verifier.trust_list import TrustList

SEAL_BOX, CO_SEAL_BOX = (slot.box for slot in seal_slots_of("business-licence"))


@dataclasses.dataclass(repr=False)
class Dev:
    """What the attacks need from the session's dev federation, read once."""

    trust_list: TrustList
    genuine: bytes
    unsealed: bytes
    sealers: dict[str, PdfSealer]  # the product's own sealers, by region (amr)
    certs: dict[str, x509.Certificate]
    timestamp: TimeStampResponder  # 330000's TSA
    # What an agency holds beside the PDF: the federation's current CRLs, from a bundle.
    crls: Mapping[IssuerKey, VerifiedCrl]
    stamp: bytes = dataclasses.field(default_factory=lambda: render_seal_image("浙江省"))

    def __repr__(self) -> str:  # short: hypothesis and pytest print it with failures
        return f"Dev(genuine licence of {len(self.genuine)} bytes)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))

    def co_seal_440000(self, pdf: bytes) -> bytes:
        """440000/amr's genuine seal, in the next free position (invisible when none is)."""
        return seal(self, self.sealers["440000"], pdf)


def amr_department(session: Session, region: str) -> Department:
    query = select(Department).where(Department.region_code == region, Department.code == "amr")
    return session.scalars(query).one()


def make_dev(federation: Federation, genuine: bytes) -> Dev:
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        sealers, seals = {}, {}
        for region in ("330000", "440000"):
            seals[region] = active_seal(session, amr_department(session, region))
            sealers[region] = runtime.sealers.sealer_for(session, seals[region])
        certs = {
            "root": get_authority(session, ROOT_CODE).certificate,
            "330000": get_authority(session, "330000").certificate,
            "440000": get_authority(session, "440000").certificate,
            "signer": latest_certificate(session, TRUST_LIST_SIGNER).certificate,
        }
        for region, row in seals.items():
            certs[f"seal-{region}"] = session.get_one(
                IssuedCertificate, row.certificate_id
            ).certificate

    unsealed = PdfLicenceRenderer().render(
        LicenceDocument(
            title="营业执照",
            licence_number="1.2.156.3005.2.TEST",
            holder_name="未盖章测试有限公司",
            holder_id_label="统一社会信用代码",
            holder_id_display="91330100MA2B3C4D**",
            issuing_department="广东省市场监督管理局",
            region_name="广东省",
            issued_on=datetime.date.today(),
            valid_until=None,
        )
    )
    timestamp = runtime.tsa("330000").respond
    bundle = open_bundle(export_bundle(runtime), federation.root_fingerprint, at=utc_now())
    return Dev(federation.trust_list(), genuine, unsealed, sealers, certs, timestamp, bundle.crls)


def seal(dev: Dev, sealer: PdfSealer, pdf: bytes, slots: tuple[Box, ...] = (SEAL_BOX,)) -> bytes:
    options = SealOptions("test", "test", dev.timestamp, seal_slots=slots)
    return sealer.seal(pdf, options)


def check(report: PdfReport, verdict: Verdict, indication: Indication, reason: str) -> PdfReport:
    assert (report.verdict, report.indication) == (verdict, indication), report
    assert reason in report.reason, report.reason
    return report


def verify(
    dev: Dev,
    data: bytes,
    trust_list: TrustList | None = None,
    *,
    at: datetime.datetime | None = None,
) -> PdfReport:
    return verify_pdf(data, trust_list or dev.trust_list, at=at or utc_now(), crls=dev.crls)


def byte_ranges(data: bytes) -> tuple[int, int, int, int]:
    """The first /ByteRange in the file (the first seal's)."""
    match = re.search(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", data)
    assert match is not None
    return tuple(int(v) for v in match.groups())  # type: ignore[return-value]


def rewrite_byte_range(data: bytes, values: tuple[int, int, int, int]) -> bytes:
    """Replace the /ByteRange array in place, padded to the same length: no offset moves."""
    match = re.search(rb"/ByteRange (\[[\d ]+\] *)", data)
    assert match is not None
    new = ("[{} {} {} {}]".format(*values)).encode().ljust(len(match.group(1)))
    assert len(new) == len(match.group(1))
    return data[: match.start(1)] + new + data[match.end(1) :]


def update(pdf: bytes, modify: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """`pdf` with one incremental update, written by pyHanko, holding what `modify` did."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    modify(writer)
    out = io.BytesIO()
    writer.write(out)
    assert out.getvalue().startswith(pdf) and len(out.getvalue()) > len(pdf)
    return out.getvalue()
