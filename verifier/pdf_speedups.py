"""Two pyHanko hot spots made cheaper with the same answers, installed process-wide when
verifier.pdf is imported (pyHanko's own functions stay reachable as `__wrapped__`)."""

from __future__ import annotations

import binascii
import io
from collections.abc import Callable
from typing import TypeVar

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic as pdf_generic
from pyhanko.pdf_utils.misc import PDF_WHITESPACE
from pyhanko.sign.validation import generic_cms

from verifier.pdf_trust import Memo

_T = TypeVar("_T")


# --- two pyHanko hot spots, made cheaper with the same answers ----------------------------
# Installed process-wide when this module is imported; pyHanko's own function stays the
# reference (`__wrapped__`) and decides every case the faster one does not handle.
#
# 1. pyHanko reads a hex string one byte per Python call. A seal's /Contents holds tens of
#    thousands of hex digits, so reading it was most of the cost of opening a sealed PDF.
#    This reads up to the first `>` at once; a string that is not only hex digits and
#    whitespace there (a comment, a stray byte, no end at all) goes to pyHanko's reader.
# 2. pyHanko matches each CMS signer against its signing-certificate attribute (ESS cert
#    ID) several times per signature, comparing directory names with RFC 4518 string
#    preparation every time: a quarter of a seal's validation. The answer is a function of
#    the certificate's DER and the cert ID's DER alone, so it is remembered by both.

_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _pyhanko_original(function: Callable[..., _T]) -> Callable[..., _T]:
    """pyHanko's own function, even if this module was imported (and patched) before."""
    return getattr(function, "__wrapped__", function)


_pyhanko_read_hex_string = _pyhanko_original(pdf_generic.read_hex_string_from_stream)
_pyhanko_check_ess_certid = _pyhanko_original(generic_cms.check_ess_certid)


def _read_hex_string(
    stream: io.BufferedIOBase,
) -> pdf_generic.ByteStringObject | pdf_generic.TextStringObject:
    start = stream.tell()
    buffer, size = b"", 512
    end = -1
    while end < 0:
        more = stream.read(size)
        if not more:
            break
        searched = len(buffer)
        buffer += more
        end = buffer.find(b">", max(1, searched))
        size = min(size * 4, 1 << 20)
    if end > 0:
        digits = buffer[1:end].translate(None, PDF_WHITESPACE)
        if not digits.translate(None, _HEX_DIGITS):
            stream.seek(start + end + 1)
            if len(digits) % 2:
                digits += b"0"
            return pdf_generic.pdf_string(binascii.unhexlify(digits))
    stream.seek(start)
    return _pyhanko_read_hex_string(stream)


_ess_matches: Memo[tuple[type, bytes, bytes], bool] = Memo(limit=1024)


def _check_ess_certid(cert: asn1_x509.Certificate, certid: tsp.ESSCertID | tsp.ESSCertIDv2) -> bool:
    return _ess_matches.get(
        (type(certid), cert.dump(), certid.dump()),
        lambda: _pyhanko_check_ess_certid(cert, certid),
    )


_read_hex_string.__wrapped__ = _pyhanko_read_hex_string  # type: ignore[attr-defined]
_check_ess_certid.__wrapped__ = _pyhanko_check_ess_certid  # type: ignore[attr-defined]
pdf_generic.read_hex_string_from_stream = _read_hex_string
generic_cms.check_ess_certid = _check_ess_certid
