"""Byte-level checks of signed PDFs that pyHanko does not make (MEASURED.md): the
signatures' order, the /ByteRange gap holding exactly the signature's hex, nothing
after the last revision."""

from __future__ import annotations

import zlib

from asn1crypto import parser as asn1_parser
from pyhanko.pdf_utils import generic as pdf_generic
from pyhanko.pdf_utils.misc import PdfError, PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

# What malformed PDF bytes raise from pyHanko's parser (decimal's InvalidOperation is an
# ArithmeticError, a broken Flate stream a zlib.error, a missing catalog an AssertionError):
# all mean "unusable input", never a crash.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    PdfError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    ArithmeticError,
    AssertionError,
    zlib.error,
    RecursionError,
)


class UnusableSignature(Exception):
    """A filled signature field whose value cannot be judged as a signature. It shows on the
    page like a seal all the same: a forged seal (INVALID), not an unreadable file."""


def check_signatures_readable(reader: PdfFileReader) -> None:
    """Raises UnusableSignature naming the first filled signature field whose value cannot
    be read as a signature (no /ByteRange, no /Contents, no CMS signature in it)."""
    for name, _, field in enumerate_sig_fields(reader, filled_status=True):
        try:
            EmbeddedPdfSignature(reader, field, name)
        except PdfReadError as exc:  # pyHanko's own words name the missing entry
            raise UnusableSignature(f"{name}: {exc}") from None
        except PARSE_ERRORS:
            raise UnusableSignature(f"{name}: /Contents does not hold a CMS signature") from None


def byte_range_start(signature: EmbeddedPdfSignature) -> int:
    """Where the signature's second signed range starts (its place among the revisions)."""
    value = signature.sig_object.get("/ByteRange")
    value = value.get_object() if isinstance(value, pdf_generic.IndirectObject) else value
    # Only its third number orders the signatures; the whole range is judged per seal.
    if not (
        isinstance(value, pdf_generic.ArrayObject)
        and len(value) >= 3
        and isinstance(value[2], int)
        and not isinstance(value[2], bool)
    ):
        raise UnusableSignature(f"{signature.field_name}: /ByteRange is not a list of ranges")
    return int(value[2])


def tail_problem(data: bytes) -> str:
    """The file must end where its last revision ends: after the last startxref's xref
    section comes exactly one startxref and one %%EOF. pyHanko ignores anything else there,
    which no signature covers and no diff analysis sees."""
    unaccounted = "bytes at the end of the file belong to no revision: nothing signs them"
    if not data.rstrip(b"\r\n").endswith(b"%%EOF"):
        return unaccounted
    keyword = data.rfind(b"startxref")
    try:
        xref_offset = int(data[keyword:].split()[1])
    except (IndexError, ValueError):
        return unaccounted
    if keyword < 0 or not 0 < xref_offset < keyword:
        return unaccounted
    last_revision = data[xref_offset:]
    if last_revision.count(b"startxref") != 1 or last_revision.count(b"%%EOF") != 1:
        return unaccounted
    return ""


def byte_range_problem(data: bytes, signature: EmbeddedPdfSignature) -> str:
    """The signed ranges must be [0, a) and [b, b+c), the gap exactly `<hex of /Contents>`."""
    try:
        byte_range = [int(v) for v in signature.sig_object["/ByteRange"]]
        contents = bytes(signature.sig_object["/Contents"])
    except (KeyError, TypeError, ValueError):
        return "signature has no usable /ByteRange or /Contents"
    if len(byte_range) != 4:
        return "/ByteRange does not hold exactly two ranges"
    start, first_len, second_start, second_len = byte_range
    end = second_start + second_len
    if start != 0 or first_len <= 0 or second_start <= first_len or second_len < 0:
        return "/ByteRange is malformed"
    if end > len(data):
        return "/ByteRange reaches beyond the end of the file"
    # A signature signs whole revisions: its range ends at a revision's %%EOF, which is the
    # end of the file unless later revisions (co-seals, DSS, timestamps) follow.
    if not data[:end].rstrip(b"\r\n").endswith(b"%%EOF") or (
        end < len(data) and data[end : end + 1] in (b"\r", b"\n")
    ):
        return "/ByteRange does not end at the end of the file or of a revision"
    gap = data[first_len:second_start]
    if gap[:1] != b"<" or gap[-1:] != b">":
        return "the bytes left unsigned are not the signature's hex string"
    try:
        gap_value = bytes.fromhex(gap[1:-1].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return "the bytes left unsigned are not the signature's hex string"
    if gap_value != contents:
        return "the bytes left unsigned are not exactly this signature's contents"
    try:
        _, _, _, header, body, trailer = asn1_parser.parse(contents)
    except ValueError:
        return "/Contents does not start with a DER-encoded signature"
    if contents[len(header) + len(body) + len(trailer) :].strip(b"\x00"):
        return "/Contents holds unsigned data after the signature (only zero padding is allowed)"
    return ""
