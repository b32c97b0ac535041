"""Transparency-log checkpoints: C2SP tlog-checkpoint text in a C2SP signed note.

The one definition of the format: the licence registry builds its notes with
`sign_checkpoint_text` and `format_signed_note` and signs the text with its own key;
verifiers and auditors call `verify_checkpoint`.

Signature type 0x02 (ECDSA P-256 with SHA-256, ASN.1 DER, as github.com/transparency-dev
implements it) rather than Ed25519: log keys live in the same key stores (files, PKCS#11)
as every other key, and those make P-256 keys only. For 0x02 the key ID is the first four
bytes of SHA-256 of the DER SubjectPublicKeyInfo. The key name is the checkpoint's origin,
`LOG_ORIGIN_PREFIX + region`, and a key is known only as the certificate of a `log` service
of that region in the federation trust list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from verifier.certs import valid_at
from verifier.errors import InputError
from verifier.timeutil import format_time, parse_time
from verifier.trust_list import ServiceType, TrustedService, TrustList

LOG_ORIGIN_PREFIX = "log.govtrust.gov.cn/"
MAX_NOTE_BYTES = 16 * 1024
# The signed-note spec: verifiers MUST accept at least 16 signatures.
MAX_SIGNATURES = 16
HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1
KEY_ID_SIZE = 4
SIGNED_AT_PREFIX = "signed-at "
_SIGNATURE_PREFIX = "\u2014 "
_TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
# Unicode spaces (Python's notion of whitespace) and "+" are not allowed in key names.
_NAME_FORBIDDEN = re.compile(r"[\s+]")


class CheckpointError(InputError):
    """A checkpoint or signed note that is malformed, or not signed by a known key."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...]
    region: str
    signed_by: x509.Certificate

    @property
    def signed_at(self) -> datetime | None:
        """The signed time govtrust logs state in their `signed-at` extension line."""
        return signed_at_of(self.extensions)


def signed_at_extension(at: datetime) -> str:
    """The extension line stating, under the log's signature, when a checkpoint was
    signed, so an offline verifier can tell how old the log state it holds is."""
    return f"{SIGNED_AT_PREFIX}{format_time(at)}"


def signed_at_of(extensions: Sequence[str]) -> datetime | None:
    found = [line for line in extensions if line.startswith(SIGNED_AT_PREFIX)]
    if not found:
        return None
    if len(found) > 1:
        raise CheckpointError("checkpoint states its signing time more than once")
    try:
        return parse_time(found[0][len(SIGNED_AT_PREFIX) :], "checkpoint signed-at")
    except InputError as exc:
        raise CheckpointError(str(exc)) from None


@dataclass(frozen=True)
class NoteKey:
    """A known note key: name and ECDSA P-256 public key (signature type 0x02)."""

    name: str
    # Keys compare (and hash) by name and DER SubjectPublicKeyInfo.
    public_key: ec.EllipticCurvePublicKey = field(compare=False)
    spki: bytes = field(init=False, repr=False)
    key_id: bytes = field(init=False, compare=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name, "note key name")
        _check_ec_key(self.public_key)
        spki = self.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        object.__setattr__(self, "spki", spki)
        object.__setattr__(self, "key_id", _spki_key_id(spki))


@dataclass(frozen=True)
class _SignatureLine:
    key_name: str
    key_id: bytes
    signature: bytes


def log_origin(region: str) -> str:
    """The origin line (and key name) of region `region`'s log."""
    return f"{LOG_ORIGIN_PREFIX}{region}"


def key_id(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The 4-byte key ID of a 0x02 (ECDSA) note key: SHA-256 of the DER SPKI, truncated."""
    return _spki_key_id(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _spki_key_id(spki: bytes) -> bytes:
    return hashlib.sha256(spki).digest()[:KEY_ID_SIZE]


def sign_checkpoint_text(
    origin: str, tree_size: int, root_hash: bytes, extensions: Sequence[str] = ()
) -> bytes:
    """The checkpoint note text (the bytes a log signs), each line ending in a newline."""
    _check_key_name(origin, "checkpoint origin")
    if not isinstance(tree_size, int) or isinstance(tree_size, bool):
        raise CheckpointError("checkpoint tree size is not an integer")
    if not 0 <= tree_size <= MAX_TREE_SIZE:
        raise CheckpointError(f"checkpoint tree size {tree_size} is out of range")
    if not isinstance(root_hash, bytes | bytearray) or len(root_hash) != HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash is not {HASH_SIZE} bytes")
    lines = [origin, str(tree_size), base64.b64encode(root_hash).decode("ascii")]
    for extension in extensions:
        if not isinstance(extension, str) or not extension or _has_control(extension):
            raise CheckpointError("checkpoint extension lines must be non-empty text lines")
        lines.append(extension)
    body = "".join(f"{line}\n" for line in lines).encode("utf-8")
    _check_size(body)
    return body


def format_signed_note(
    body: bytes, key_name: str, public_key: ec.EllipticCurvePublicKey, signature_der: bytes
) -> bytes:
    """A signed note of one signature line: `body`, a blank line, then
    "— <key name> base64(key ID || DER signature)". The signature is checked against
    `public_key` first, so a producer cannot publish a note no verifier accepts (for
    instance a raw r||s signature from a PKCS#11 token, which is not DER)."""
    key = NoteKey(key_name, public_key)
    text = _decode_text(bytes(body))
    if not text.endswith("\n"):
        raise CheckpointError("note text must end with a newline")
    if not _verifies(key.public_key, bytes(signature_der), bytes(body)):
        raise CheckpointError("signature does not verify over the note text with this key")
    blob = base64.b64encode(key.key_id + bytes(signature_der)).decode("ascii")
    note = bytes(body) + f"\n{_SIGNATURE_PREFIX}{key_name} {blob}\n".encode()
    _check_size(note)
    return note


def open_note(note: bytes | str, keys: Sequence[NoteKey]) -> tuple[str, tuple[NoteKey, ...]]:
    """Verify a signed note against `keys`; return its text and the keys that signed it.

    Signatures by unknown keys are ignored (that is what lets witnesses cosign and logs
    rotate keys); a known key whose signature fails rejects the whole note, and so does a
    note that no known key signed."""
    text, signatures = _split_note(note)
    return text, _open(text, signatures, keys)


def verify_checkpoint(
    note: bytes | str, trust_list: TrustList, *, region: str | None = None, at: datetime
) -> Checkpoint:
    """Verify a signed checkpoint against an already verified trust list at time `at`.

    The note must carry a valid signature by the certificate of a `log` service of the
    origin's region, granted at `at`; a certificate listed under any other service type
    is not a log key. With `region`, the checkpoint must be that region's.
    """
    text, signatures = _split_note(note)
    origin, tree_size, root, extensions = _parse_checkpoint(text)
    signed_at_of(extensions)  # a malformed signed-at line makes the checkpoint malformed
    if not origin.startswith(LOG_ORIGIN_PREFIX) or origin == LOG_ORIGIN_PREFIX:
        raise CheckpointError(
            f"checkpoint origin {origin!r} is not a govtrust log ({LOG_ORIGIN_PREFIX}<region>)"
        )
    origin_region = origin[len(LOG_ORIGIN_PREFIX) :]
    if region is not None and origin_region != region:
        raise CheckpointError(
            f"checkpoint is of region {origin_region}'s log, not of region {region}"
        )
    listed = _log_keys(trust_list, origin_region)
    try:
        signed = _open(text, signatures, list(listed))
    except CheckpointError as exc:
        raise CheckpointError(f"checkpoint of region {origin_region}: {exc}") from None
    service, certificate = _granted([p for key in signed for p in listed[key]], at)
    return Checkpoint(
        origin=origin,
        tree_size=tree_size,
        root_hash=root,
        extensions=extensions,
        region=service.region_code,
        signed_by=certificate,
    )


def _log_keys(
    trust_list: TrustList, region: str
) -> dict[NoteKey, list[tuple[TrustedService, x509.Certificate]]]:
    """Every P-256 key listed for a `log` service of `region`, whatever its status, with the
    services and certificates that list it: a withdrawn key is still a known key, so a bad
    signature by it still rejects the note."""
    keys: dict[NoteKey, list[tuple[TrustedService, x509.Certificate]]] = {}
    for service in trust_list.services(ServiceType.LOG):
        if service.region_code != region:
            continue
        for certificate in service.certificates:
            public_key = certificate.public_key()
            if isinstance(public_key, ec.EllipticCurvePublicKey) and _is_p256(public_key):
                key = NoteKey(log_origin(region), public_key)
                keys.setdefault(key, []).append((service, certificate))
    return keys


def _granted(
    signers: list[tuple[TrustedService, x509.Certificate]], at: datetime
) -> tuple[TrustedService, x509.Certificate]:
    granted = [(s, c) for s, c in signers if s.granted_at(at)]
    if not granted:
        raise CheckpointError(
            "the log key that signed the checkpoint is not granted in the trust list at the "
            "validation time"
        )
    current = next(((s, c) for s, c in granted if valid_at(c, at)), None)
    if current is None:
        raise CheckpointError(
            "the log certificate that signed the checkpoint is not valid at the validation time"
        )
    return current


def _open(
    text: str, signatures: list[_SignatureLine], keys: Sequence[NoteKey]
) -> tuple[NoteKey, ...]:
    by_name_and_id = {(k.name, k.key_id): k for k in keys}
    message = text.encode("utf-8")
    signed: list[NoteKey] = []
    for line in signatures:
        # A known key is the pair (name, key ID); either alone matching is someone else's.
        key = by_name_and_id.get((line.key_name, line.key_id))
        if key is None:
            continue
        if not _verifies(key.public_key, line.signature, message):
            raise CheckpointError(
                f"the signature of known key {line.key_name} {line.key_id.hex()} does not verify"
            )
        if key not in signed:
            signed.append(key)
    if not signed:
        raise CheckpointError("the note is not signed by any known key")
    return tuple(signed)


def _split_note(note: bytes | str) -> tuple[str, list[_SignatureLine]]:
    raw = note.encode("utf-8") if isinstance(note, str) else bytes(note)
    _check_size(raw)
    text = _decode_text(raw)
    if not text.endswith("\n"):
        raise CheckpointError("signed note does not end with a newline")
    # The text is separated from the signatures by the last blank line.
    separator = text.rfind("\n\n")
    if separator < 0:
        raise CheckpointError("signed note has no blank line between text and signatures")
    body, signature_block = text[: separator + 1], text[separator + 2 :]
    lines = signature_block[:-1].split("\n") if signature_block else []
    if not lines:
        raise CheckpointError("signed note carries no signature line")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"signed note carries more than {MAX_SIGNATURES} signatures")
    return body, [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> _SignatureLine:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise CheckpointError("signed note signature line does not start with an em dash")
    name, space, blob = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise CheckpointError("signed note signature line has no signature after the key name")
    _check_key_name(name, "signed note key name")
    decoded = _b64(blob, "signed note signature")
    if len(decoded) <= KEY_ID_SIZE:
        raise CheckpointError("signed note signature is too short to hold a key ID")
    return _SignatureLine(name, decoded[:KEY_ID_SIZE], decoded[KEY_ID_SIZE:])


def _parse_checkpoint(text: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs origin, tree size and root hash lines")
    if any(not line for line in lines):
        raise CheckpointError("checkpoint holds an empty line before its signatures")
    origin, size_text, root_text, *extensions = lines
    if not _TREE_SIZE.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise CheckpointError("checkpoint tree size is not a decimal number without leading zeros")
    root = _b64(root_text, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash is not {HASH_SIZE} bytes")
    return origin, int(size_text), root, tuple(extensions)


def _verifies(public_key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    try:
        decode_dss_signature(signature)
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _is_p256(public_key: object) -> bool:
    return (
        isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"
    )


def _check_ec_key(public_key: object) -> None:
    if not _is_p256(public_key):
        raise CheckpointError("note signature type 0x02 here needs an ECDSA P-256 key")


def _check_key_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise CheckpointError(f"{what} is empty")
    if _NAME_FORBIDDEN.search(name) or _has_control(name):
        raise CheckpointError(f"{what} contains a space, a plus sign or a control character")


def _check_size(data: bytes) -> None:
    if len(data) > MAX_NOTE_BYTES:
        raise CheckpointError(f"signed note is larger than {MAX_NOTE_BYTES} bytes")


def _decode_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError("signed note is not valid UTF-8") from None
    if _has_control(text.replace("\n", "")):
        raise CheckpointError("signed note contains a control character other than newline")
    return text


def _has_control(text: str) -> bool:
    return any(ord(character) < 0x20 for character in text)


def _b64(text: str, what: str) -> bytes:
    try:
        value = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise CheckpointError(f"{what} is not standard base64") from None
    # Only the canonical spelling: a second spelling of one signature would be a second note.
    if base64.b64encode(value).decode("ascii") != text:
        raise CheckpointError(f"{what} is not canonical base64")
    return value
