"""Property tests: whatever bytes it is fed, the verifier answers INVALID, INDETERMINATE or
"bad input" (exit 1, 3 or 2), never crashes, and never calls altered signed bytes VALID.

Inputs are mutations of genuine artefacts of the session's dev federation: a sealed licence
PDF (B-LTA), the offline bundle, and the tokens and notes inside it (trust list, status
lists, log checkpoints), the licence's QR credential and an identity token. Each function's
documented outcomes:

- verify_pdf: a report (never VALID for altered signed bytes) or InputError;
  embedded_credential: a string, None or InputError;
- open_bundle: an OfflineBundle trusting only unaltered pieces, or BundleError (InputError);
- verify_trust_list: InputError or TrustListError;
- verify_credential, verify_status_list, verify_checkpoint: their InputError subclasses;
- verify_identity_token: InputError or IdentityTokenError.

Runs are reproducible (derandomized, no example database) and bounded: the whole module
takes well under a minute on two cores.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govtrust.bundle import export_bundle
from govtrust.checkpointer import checkpoint_all
from identity.signin import API_AUDIENCE
from tests.conftest import Federation
from tests.verifier.pdf_support import Dev, verify
from verifier.bundle import BundleError, OfflineBundle, open_bundle
from verifier.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from verifier.credential import CredentialError, verify_credential
from verifier.errors import InputError
from verifier.identity_token import IdentityTokenError, verify_identity_token
from verifier.licence_pdf import embedded_credential
from verifier.report import Verdict
from verifier.status_list import StatusListError, verify_status_list
from verifier.timeutil import utc_now
from verifier.trust_list import TrustListError, encode_payload, verify_trust_list

# Reproducible in CI: the same examples every run, nothing remembered between runs.
DER = Encoding.DER
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# `make fuzz` multiplies every count (GOVTRUST_FUZZ_SCALE); CI runs them as written.
SCALE = int(os.environ.get("GOVTRUST_FUZZ_SCALE", "1"))


def examples(n: int) -> settings:
    return settings(PROPERTY, max_examples=n * SCALE)


# --- the genuine artefacts ------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Genuine:
    bundle: bytes
    document: dict[str, Any]
    opened: OfflineBundle
    credential: str
    identity_token: str

    def material(self, name: str) -> st.SearchStrategy[tuple[str, str]]:
        """(region, its `name` piece: status_list or checkpoint), of a region whose piece
        verifies unaltered."""
        verified = self.opened.status_lists if name == "status_list" else self.opened.checkpoints
        regions = self.document["regions"]
        return st.sampled_from(sorted((r, regions[r][name]) for r in verified))

    def __repr__(self) -> str:  # short: hypothesis prints it with every failure
        return f"Genuine(bundle of {len(self.bundle)} bytes)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))


@pytest.fixture(scope="module")
def genuine(federation: Federation, dev: Dev) -> Genuine:
    checkpoint_all(federation.runtime)  # sign the log checkpoints the licences made due
    bundle = export_bundle(federation.runtime)
    document = json.loads(bundle)
    opened = open_bundle(bundle, federation.root_fingerprint, at=utc_now())
    # Earlier tests may have left some region's piece unverifiable (a rotated key, a
    # withdrawn service): the properties use the pieces that verify now, at least one each.
    assert opened.status_lists and opened.checkpoints, opened.problems
    credential = embedded_credential(dev.genuine)
    assert credential is not None
    return Genuine(
        bundle=bundle,
        document=document,
        opened=opened,
        credential=credential,
        identity_token=federation.staff_token("330000"),
    )


# --- mutations of bytes and text -------------------------------------------------------------


def _pdf_regions(data: bytes) -> list[tuple[int, int]]:
    """The parts of a PDF that are structure, not payload: everything outside stream data
    and long hex strings (signatures). Mutations there reach the parser's and the
    verifier's logic rather than a hash."""
    payload = [
        (m.start(1), m.end(1)) for m in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S)
    ]
    payload += [(m.start(), m.end()) for m in re.finditer(rb"<[0-9A-Fa-f]{64,}>", data)]
    regions, at = [], 0
    for start, end in sorted(payload):
        if start > at:
            regions.append((at, start))
        at = max(at, end)
    regions.append((at, len(data)))
    return regions


def _offset_in(regions: list[tuple[int, int]]) -> st.SearchStrategy[int]:
    """A uniformly chosen offset inside the union of `regions`."""
    sizes = [end - start for start, end in regions]
    total = sum(sizes)

    def locate(i: int) -> int:
        for (start, _), size in zip(regions, sizes, strict=True):
            if i < size:
                return start + i
            i -= size
        raise AssertionError(i)

    return st.integers(0, total - 1).map(locate)


PDF_TOKENS = [
    b"[]",
    b"null",
    b"-1",
    b"0",
    b"99999999999999999999",
    b"/X",
    b"<<>>",
    b"<>",
    b"()",
    b"R",
    b"1 0 R",
    b"[0 0 0 0]",
    b"true",
    b"3.5",
    b"endobj",
    b"%",
]
_PDF_TOKEN = re.compile(rb"/[A-Za-z0-9.#_+-]+|-?\d+(?:\.\d+)?|<<|>>|\[|\]|\b(?:null|true|R)\b")


@st.composite
def pdf_mutation(draw: st.DrawFn, data: bytes, regions: list[tuple[int, int]]) -> bytes:
    """One of: a byte flipped, bytes overwritten, inserted or deleted, the file cut short or
    extended, or a PDF token (name, number, bracket, keyword) replaced by another; at a
    structural offset or anywhere."""
    where = draw(st.one_of(_offset_in(regions), st.integers(0, len(data) - 1)))
    kind = draw(
        st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate", "append", "token"])
    )
    if kind == "flip":
        out = bytearray(data)
        out[where] ^= draw(st.integers(1, 255))
        return bytes(out)
    if kind == "overwrite":
        new = draw(st.binary(min_size=1, max_size=16))
        return data[:where] + new + data[where + len(new) :]
    if kind == "insert":
        return data[:where] + draw(st.binary(min_size=1, max_size=16)) + data[where:]
    if kind == "delete":
        return data[:where] + data[where + draw(st.integers(1, 64)) :]
    if kind == "truncate":
        return data[:where]
    if kind == "append":
        return data + draw(st.sampled_from([b"\n", b"%%EOF\n", b" ", b"\x00" * 8]))
    # a token near `where`, replaced; padded to keep every offset when it fits
    match = _PDF_TOKEN.search(data, where) or _PDF_TOKEN.search(data)
    assert match is not None
    token = draw(st.sampled_from(PDF_TOKENS))
    if draw(st.booleans()) and len(token) <= len(match.group()):
        token = token.ljust(len(match.group()))
    return data[: match.start()] + token + data[match.end() :]


_TEXT_NOISE = st.sampled_from([*"AZaz09-_.=+/ \n\t\x00é—", "eyJ", "..", "\u2028"])


@st.composite
def text_mutation(draw: st.DrawFn, text: str) -> str:
    """One of: a character replaced, characters inserted or deleted, the text cut, a part
    (between dots or lines) dropped, repeated or swapped with another."""
    if not text:
        return draw(_TEXT_NOISE)
    kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "parts"]))
    where = draw(st.integers(0, len(text) - 1))
    if kind == "replace":
        return text[:where] + draw(_TEXT_NOISE) + text[where + 1 :]
    if kind == "insert":
        return text[:where] + draw(_TEXT_NOISE) + text[where:]
    if kind == "delete":
        return text[:where] + text[where + draw(st.integers(1, 32)) :]
    if kind == "truncate":
        return text[:where]
    separator = "." if "." in text and "\n" not in text else "\n"
    parts = text.split(separator)
    i, j = draw(st.integers(0, len(parts) - 1)), draw(st.integers(0, len(parts) - 1))
    edit = draw(st.sampled_from(["drop", "repeat", "swap"]))
    if edit == "drop":
        del parts[i]
    elif edit == "repeat":
        parts.insert(i, parts[j])
    else:
        parts[i], parts[j] = parts[j], parts[i]
    return separator.join(parts)


def _b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _b64url(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def claims_edit(draw: st.DrawFn, token: str) -> str:
    """A JWS whose header or payload JSON has one member changed, dropped or added, encoded
    again, with the original signature: well formed, wrongly signed."""
    header, payload, signature = token.split(".")
    which = draw(st.sampled_from([0, 1]))
    document = _b64url_json((header, payload)[which])
    keys = sorted(document)
    action = draw(st.sampled_from(["change", "drop", "add"]))
    if action == "add" or not keys:
        document[draw(st.text(min_size=1, max_size=6))] = draw(JSON_VALUES)
    elif action == "drop":
        del document[draw(st.sampled_from(keys))]
    else:
        document[draw(st.sampled_from(keys))] = draw(JSON_VALUES)
    parts = [header, payload, signature]
    parts[which] = _b64url(document)
    return ".".join(parts)


def jws_mutation(token: str) -> st.SearchStrategy[str]:
    return st.one_of(text_mutation(token), claims_edit(token))


def _signature_bytes(part: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def same_signed_jws(mutated: str | bytes, original: str) -> bool:
    """Whether `mutated` is `original` up to what carries no meaning: surrounding white
    space, and a signature whose base64 decodes to the same bytes."""
    text = mutated.decode("ascii", "replace") if isinstance(mutated, bytes) else mutated
    parts, expected = text.strip().split("."), original.split(".")
    return (
        len(parts) == 3
        and parts[:2] == expected[:2]
        and _signature_bytes(parts[2]) == _signature_bytes(expected[2])
    )


def _check(
    call: Callable[[], object], allowed: tuple[type[BaseException], ...], what: str
) -> object | None:
    """Run `call`: its value, or None when it raised one of `allowed`; anything else fails
    the property with the exception named."""
    try:
        return call()
    except allowed:
        return None
    except Exception as exc:  # the property under test: no other exception, ever
        pytest.fail(f"{what} raised {type(exc).__name__}: {exc}")


# --- PDFs -----------------------------------------------------------------------------------


def _last_signed_ranges(data: bytes) -> list[tuple[int, int]]:
    """The byte ranges the last signature (the document timestamp) signs: every byte of
    the file but its own /Contents."""
    values = re.findall(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", data)[-1]
    start, first, second, last = (int(v) for v in values)
    assert start == 0 and second + last == len(data)
    return [(0, first), (second, len(data))]


@dataclass(frozen=True, repr=False)
class Licence:
    """The genuine licence, the byte ranges its last signature (the document timestamp)
    signs, and the structural ones among them."""

    data: bytes
    signed: list[tuple[int, int]]
    structural: list[tuple[int, int]]

    def touches_signed_bytes(self, mutated: bytes) -> bool:
        """Whether `mutated` differs from the licence in a byte the last signature signs
        (any change of length moves what it signs). Only the signature's own /Contents is
        unsigned, and only its CMS's unsigned fields may change without a verdict change."""
        return len(mutated) != len(self.data) or any(
            mutated[start:end] != self.data[start:end] for start, end in self.signed
        )

    def __repr__(self) -> str:
        return f"Licence({len(self.data)} bytes)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@pytest.fixture(scope="module")
def licence(dev: Dev) -> Licence:
    signed = _last_signed_ranges(dev.genuine)
    structural = [
        (max(a, s), min(b, e))
        for a, b in _pdf_regions(dev.genuine)
        for s, e in signed
        if max(a, s) < min(b, e)
    ]
    return Licence(dev.genuine, signed, structural)


def _judge_pdf(dev: Dev, data: bytes) -> Verdict | None:
    """verify_pdf's verdict, or None for InputError (exit 2); the licence's credential
    reader must likewise answer or refuse."""
    _check(lambda: embedded_credential(data), (InputError,), "embedded_credential")
    report = _check(lambda: verify(dev, data), (InputError,), "verify_pdf")
    return report.verdict if report is not None else None  # type: ignore[attr-defined]


@examples(300)
@given(data=st.data())
def test_altered_signed_bytes_are_never_valid(
    dev: Dev, licence: Licence, data: st.DataObject
) -> None:
    genuine, signed, structural = licence.data, licence.signed, licence.structural
    where = data.draw(st.one_of(_offset_in(signed), _offset_in(structural)), label="offset")
    mutated = bytearray(genuine)
    if data.draw(st.booleans(), label="flip one byte"):
        mutated[where] ^= data.draw(st.integers(1, 255), label="xor")
    else:  # overwrite a run that stays inside the signed range
        end = next(e for s, e in signed if s <= where < e)
        new = data.draw(st.binary(min_size=1, max_size=min(16, end - where)), label="bytes")
        mutated[where : where + len(new)] = new
    if bytes(mutated) == genuine:
        return
    assert _judge_pdf(dev, bytes(mutated)) in (Verdict.INVALID, Verdict.INDETERMINATE, None)


@examples(300)
@given(data=st.data())
def test_any_pdf_mutation_is_answered_never_a_crash(
    dev: Dev, licence: Licence, data: st.DataObject
) -> None:
    mutated = data.draw(pdf_mutation(licence.data, licence.structural), label="mutated")
    verdict = _judge_pdf(dev, mutated)
    if licence.touches_signed_bytes(mutated):
        assert verdict is not Verdict.VALID


# --- tokens ---------------------------------------------------------------------------------


@examples(500)
@given(data=st.data())
def test_trust_list_token(federation: Federation, genuine: Genuine, data: st.DataObject) -> None:
    token = genuine.document["trust_list"]
    mutated = data.draw(jws_mutation(token), label="token")
    result = _check(
        lambda: verify_trust_list(mutated, federation.root_fingerprint, at=utc_now()),
        (InputError, TrustListError),
        "verify_trust_list",
    )
    if result is not None:
        assert same_signed_jws(mutated, token), "a mutated trust list was trusted"
        assert encode_payload(result) == encode_payload(genuine.opened.trust_list)  # type: ignore[arg-type]


@examples(500)
@given(data=st.data())
def test_qr_credential(genuine: Genuine, data: st.DataObject) -> None:
    mutated = data.draw(jws_mutation(genuine.credential), label="credential")
    result = _check(
        lambda: verify_credential(mutated, genuine.opened.trust_list, at=utc_now()),
        (CredentialError, InputError),
        "verify_credential",
    )
    if result is not None:
        assert same_signed_jws(mutated, genuine.credential), "a mutated credential verified"


@examples(500)
@given(data=st.data())
def test_identity_token(genuine: Genuine, data: st.DataObject) -> None:
    mutated = data.draw(jws_mutation(genuine.identity_token), label="token")
    result = _check(
        lambda: verify_identity_token(
            mutated, genuine.opened.trust_list, audience=API_AUDIENCE, at=utc_now()
        ),
        (InputError, IdentityTokenError),
        "verify_identity_token",
    )
    if result is not None:
        assert same_signed_jws(mutated, genuine.identity_token), "a mutated token verified"


@examples(500)
@given(data=st.data())
def test_status_list_token(genuine: Genuine, data: st.DataObject) -> None:
    region, token = data.draw(genuine.material("status_list"), label="region")
    mutated = data.draw(jws_mutation(token), label="token")
    result = _check(
        lambda: verify_status_list(mutated, genuine.opened.trust_list, at=utc_now(), region=region),
        (StatusListError,),
        "verify_status_list",
    )
    if result is not None:
        assert same_signed_jws(mutated, token), "a mutated status list verified"


@examples(500)
@given(data=st.data())
def test_checkpoint_note(genuine: Genuine, data: st.DataObject) -> None:
    region, note = data.draw(genuine.material("checkpoint"), label="region")
    mutated = data.draw(text_mutation(note), label="note")
    as_bytes = data.draw(st.booleans(), label="as bytes")
    given_note: str | bytes = mutated.encode() if as_bytes else mutated
    result = _check(
        lambda: verify_checkpoint(
            given_note, genuine.opened.trust_list, region=region, at=utc_now()
        ),
        (CheckpointError,),
        "verify_checkpoint",
    )
    if result is not None:  # only a change to what no known key signed can pass
        expected = genuine.opened.checkpoints[region]
        assert isinstance(result, Checkpoint)
        assert (result.origin, result.tree_size, result.root_hash, result.extensions) == (
            expected.origin,
            expected.tree_size,
            expected.root_hash,
            expected.extensions,
        )


# --- the offline bundle ---------------------------------------------------------------------


@st.composite
def bundle_mutation(draw: st.DrawFn, document: dict[str, Any], encoded: bytes) -> bytes:
    """The bundle's JSON with one value changed, dropped, added or its text mutated, or its
    encoded bytes mutated."""
    if draw(st.integers(0, 3)) == 0:
        text = encoded.decode()
        return draw(text_mutation(text)).encode("utf-8", "surrogatepass")
    document = json.loads(json.dumps(document))
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        keys = node.keys() if isinstance(node, dict) else range(len(node))
        for key in keys:
            paths.append((node, key))
            if isinstance(node[key], dict | list):
                walk(node[key])

    walk(document)
    parent, key = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["text", "replace", "drop", "add"]))
    if action == "text" and isinstance(parent[key], str) and parent[key]:
        value = parent[key]
        is_jws = value.count(".") == 2 and "\n" not in value
        parent[key] = draw(jws_mutation(value) if is_jws else text_mutation(value))
    elif action == "drop":
        del parent[key]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8))] = draw(JSON_VALUES)
    else:
        parent[key] = draw(JSON_VALUES)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )


@examples(300)
@given(data=st.data())
def test_offline_bundle(federation: Federation, genuine: Genuine, data: st.DataObject) -> None:
    mutated = data.draw(bundle_mutation(genuine.document, genuine.bundle), label="bundle")
    opened = _check(
        lambda: open_bundle(mutated, federation.root_fingerprint, at=utc_now()),
        (BundleError, InputError),
        "open_bundle",
    )
    if opened is None:
        return
    assert isinstance(opened, OfflineBundle)
    original = genuine.opened
    # whatever it kept, it kept unaltered: nothing mutated is ever trusted
    assert encode_payload(opened.trust_list) == encode_payload(original.trust_list)
    for region, kept in opened.status_lists.items():
        assert kept.status_list == original.status_lists[region].status_list
    for region, checkpoint in opened.checkpoints.items():
        assert checkpoint.root_hash == original.checkpoints[region].root_hash
        assert checkpoint.tree_size == original.checkpoints[region].tree_size
    for key, crl in opened.crls.items():
        assert crl.crl.public_bytes(DER) == original.crls[key].crl.public_bytes(DER)


# --- crashes these properties found, each fixed: kept as regressions ------------------------


class Crash(RuntimeError):
    """The function raised something other than its documented errors."""


def _malformed_number(pdf: bytes) -> bytes:
    """One number of the last page dictionary made unreadable, length kept: `59..28`."""
    at = pdf.rindex(b"595.28")
    return pdf[:at] + b"59..28" + pdf[at + 6 :]


def _flipped_credential_stream(pdf: bytes) -> bytes:
    """A byte of the embedded credential's Flate stream flipped (object 10)."""
    at = pdf.index(b"stream\n", pdf.index(b"\n10 0 obj")) + len(b"stream\n") + 100
    return pdf[:at] + bytes([pdf[at] ^ 0x55]) + pdf[at + 1 :]


def _no_catalog(pdf: bytes) -> bytes:
    """An appended revision whose trailer has no /Prev: the document has no catalog."""
    start = pdf.rindex(b"trailer") + len(b"trailer")
    trailer = re.sub(rb"/Prev \d+", b"", pdf[start : pdf.rindex(b"startxref")].strip())
    return (
        pdf
        + b"xref\n0 1\n0000000000 65535 f \ntrailer\n"
        + trailer
        + (b"\nstartxref\n%d\n%%%%EOF\n" % len(pdf))
    )


# (how the genuine licence is altered, the function, the bug)
FOUND: dict[str, tuple[Callable[[bytes], bytes], str, str]] = {
    # pyHanko parses the number with decimal.Decimal, whose InvalidOperation is an
    # ArithmeticError, not one of the ValueError/PdfError/... verify_pdf turns into InputError
    "verify_pdf-malformed-number": (
        _malformed_number,
        "verify_pdf",
        "decimal.InvalidOperation escapes verify_pdf",
    ),
    # licence_pdf._attachment reads stream.data; a corrupt Flate stream raises zlib.error
    "embedded_credential-corrupt-attachment": (
        _flipped_credential_stream,
        "embedded_credential",
        "zlib.error escapes embedded_credential",
    ),
    # PdfFileReader.root asserts the catalog is a dictionary: AssertionError
    "embedded_credential-no-catalog": (
        _no_catalog,
        "embedded_credential",
        "AssertionError escapes embedded_credential",
    ),
    # (verify_pdf's own crash on this input: test_pdf_attacks_corpus.py, no /Prev)
}


@pytest.mark.parametrize(
    "case",
    [pytest.param(name, id=name) for name in FOUND],
)
def test_found_crashes(dev: Dev, case: str) -> None:
    alter, function, _ = FOUND[case]
    altered = alter(dev.genuine)
    call = {
        "verify_pdf": lambda: verify(dev, altered),
        "embedded_credential": lambda: embedded_credential(altered),
    }[function]
    try:
        result = call()
    except InputError:
        return
    except Exception as exc:
        raise Crash(f"{function} raised {type(exc).__module__}.{type(exc).__name__}") from exc
    if function == "verify_pdf":
        assert result.verdict is not Verdict.VALID  # type: ignore[attr-defined]
