"""Signed checkpoints: what a log signs verifies against the trust list, real 0x02 notes from
other logs open, and every refusal of the signed-note and tlog-checkpoint specs holds."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.verifier import offline_pki
from tests.verifier.offline_pki import NOW, Key, issue, listed_service, name, new_key
from verifier.checkpoint import (
    LOG_ORIGIN_PREFIX,
    MAX_NOTE_BYTES,
    CheckpointError,
    NoteKey,
    format_signed_note,
    key_id,
    log_origin,
    open_note,
    sign_checkpoint_text,
    signed_at_extension,
    signed_at_of,
    verify_checkpoint,
)
from verifier.errors import InputError
from verifier.trust_list import (
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustedService,
    TrustList,
)

ROOT_HASH = hashlib.sha256(b"some tree").digest()
ZJ, GD = "330000", "440000"

# Real 0x02 (ECDSA) notes and keys, from transparency-dev/formats note/note_verifier_test.go:
# the Sigstore Rekor log and the Pixel 6 transparency log.
REKOR_KEY = "AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc="  # noqa: E501
REKOR_KEY_HASH = "c0d23d6a"
REKOR_NOTE = (
    "Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n\n"
    "— rekor.sigstore.dev wNI9ajBEAiARInWIWyCdyG27CO6LPnPekyw20qO0YJfoaPaowGp/XgIgc+qEHS3+GKVClgq"
    "q20uDLet7MCoTURUCRdxwWBHHufk=\n"
)
REKOR_BAD_NOTE = (
    "Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n\n"
    "— rekor.sigstore.dev THIS/IS/PROBABLY/NOT/A/VALID/SIGNATURE/ANy/MOREowGp/XgIgc+qEHS3+GKVClgq"
    "q20uDLet7MCoTURUCRdxwWBHHufk=\n"
)
PIXEL_KEY = "AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+4x0Jk1yTwvLFI9A4NDdGZcX0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8="  # noqa: E501
PIXEL_KEY_HASH = "91c16e30"
PIXEL_NOTE = (
    "DEFAULT\n10\nbsWRucJU5xJPHb5eBdOm6+DM+VelCZBuvtI3sHERJ9Y=\n\n"
    "— pixel6_transparency_log kcFuMDBFAiEAhqMAP8P6qf6QxtUJhzMhbN+MbZ9dwfUHzGQJmffJHtoCIGD0cNe47d"
    "HWBoPwYdgBCepB06/+g5O1FmYjXl06owL4\n"
)


ROOT_KEY = new_key()
ROOT = issue((ROOT_KEY, name("Test national root")), "Test national root", ROOT_KEY, ca=True)
ZJ_LOG_KEY, GD_LOG_KEY, OLD_ZJ_LOG_KEY = new_key(), new_key(), new_key()
ZJ_LOG = issue((ROOT_KEY, ROOT.subject), "330000 log", ZJ_LOG_KEY)
GD_LOG = issue((ROOT_KEY, ROOT.subject), "440000 log", GD_LOG_KEY)
OLD_ZJ_LOG = issue((ROOT_KEY, ROOT.subject), "330000 old log", OLD_ZJ_LOG_KEY)


def service(
    region: str,
    certificates: Sequence[x509.Certificate],
    service_type: ServiceType = ServiceType.LOG,
    history: tuple[StatusChange, ...] | None = None,
) -> TrustedService:
    return listed_service(region, certificates, service_type, history)


def trust_list(*services: TrustedService) -> TrustList:
    return offline_pki.trust_list(ROOT, *services)


LISTED = trust_list(service(ZJ, [ZJ_LOG]), service(GD, [GD_LOG]))


def sign(key: Key, body: bytes) -> bytes:
    return key.sign(body, ec.ECDSA(hashes.SHA256()))


def signature_line(key_name: str, key: Key, body: bytes, *, identifier: bytes | None = None) -> str:
    blob = (identifier or key_id(key.public_key())) + sign(key, body)
    return f"— {key_name} {base64.b64encode(blob).decode()}\n"


def note(
    region: str = ZJ,
    key: Key = ZJ_LOG_KEY,
    *,
    size: int = 5,
    root: bytes = ROOT_HASH,
    extensions: Sequence[str] = (),
) -> bytes:
    body = sign_checkpoint_text(log_origin(region), size, root, extensions)
    return format_signed_note(body, log_origin(region), key.public_key(), sign(key, body))


def with_lines(signed: bytes, *lines: str) -> bytes:
    return signed + "".join(lines).encode()


def rejected(signed: bytes | str, fragment: str, listed: TrustList = LISTED, **kw: object) -> None:
    with pytest.raises(CheckpointError, match=fragment):
        verify_checkpoint(signed, listed, at=kw.pop("at", NOW), **kw)  # type: ignore[arg-type]


def test_round_trip() -> None:
    signed = note(size=1234, extensions=("extension one", "二"))
    for form in (signed, signed.decode()):
        checkpoint = verify_checkpoint(form, LISTED, region=ZJ, at=NOW)
        assert checkpoint.origin == "log.govtrust.gov.cn/330000"
        assert (checkpoint.tree_size, checkpoint.root_hash) == (1234, ROOT_HASH)
        assert checkpoint.extensions == ("extension one", "二")
        assert (checkpoint.region, checkpoint.signed_by) == (ZJ, ZJ_LOG)
    assert verify_checkpoint(note(GD, GD_LOG_KEY), LISTED, at=NOW).signed_by == GD_LOG
    empty = note(size=0, root=hashlib.sha256(b"").digest())
    assert verify_checkpoint(empty, LISTED, at=NOW).tree_size == 0


def test_note_layout_follows_the_specs() -> None:
    body = sign_checkpoint_text(log_origin(ZJ), 20852163, ROOT_HASH)
    assert (
        body
        == (
            f"{LOG_ORIGIN_PREFIX}330000\n20852163\n{base64.b64encode(ROOT_HASH).decode()}\n"
        ).encode()
    )
    text, signature = note(size=20852163).decode().split("\n\n")
    assert f"{text}\n".encode() == body
    assert signature.startswith("\u2014 log.govtrust.gov.cn/330000 ")
    assert signature.endswith("\n") and signature.count("\n") == 1
    blob = base64.b64decode(signature[:-1].split(" ")[2], validate=True)
    spki = ZJ_LOG_KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert blob[:4] == hashlib.sha256(spki).digest()[:4] == key_id(ZJ_LOG_KEY.public_key())
    decode_dss_signature(blob[4:])  # ASN.1 DER, not raw r||s
    ZJ_LOG_KEY.public_key().verify(blob[4:], body, ec.ECDSA(hashes.SHA256()))


def vkey(material: str) -> ec.EllipticCurvePublicKey:
    raw = base64.b64decode(material)
    assert raw[0] == 0x02  # signature type: ECDSA
    key = serialization.load_der_public_key(raw[1:])
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_real_ecdsa_notes_of_other_logs_open() -> None:
    rekor = NoteKey("rekor.sigstore.dev", vkey(REKOR_KEY))
    pixel = NoteKey("pixel6_transparency_log", vkey(PIXEL_KEY))
    assert (rekor.key_id.hex(), pixel.key_id.hex()) == (REKOR_KEY_HASH, PIXEL_KEY_HASH)
    text, signers = open_note(REKOR_NOTE, [pixel, rekor])
    assert text == "Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n"
    assert signers == (rekor,)
    assert open_note(PIXEL_NOTE.encode(), [pixel])[1] == (pixel,)
    with pytest.raises(CheckpointError, match="not signed by any known key"):
        open_note(REKOR_NOTE, [NoteKey("bananas.sigstore.dev", rekor.public_key)])
    with pytest.raises(CheckpointError, match="not signed by any known key"):
        open_note(REKOR_BAD_NOTE, [rekor])
    with pytest.raises(CheckpointError, match="does not verify"):
        open_note(REKOR_NOTE.replace("798034", "798035"), [rekor])
    # A checkpoint of another log is not one of ours, whoever signed it.
    rejected(REKOR_NOTE, "not a govtrust log")


def test_tampered_text_fails() -> None:
    signed = note(size=5)
    rejected(signed.replace(b"\n5\n", b"\n6\n", 1), "does not verify")
    other_root = base64.b64encode(hashlib.sha256(b"other").digest())
    rejected(signed.replace(base64.b64encode(ROOT_HASH), other_root), "does not verify")
    rejected(signed.replace(b"\n\n", b"\nextension\n\n"), "does not verify")


def test_keys_the_trust_list_does_not_name_for_this_log_fail() -> None:
    rejected(note(ZJ, new_key()), "not signed by any known key")
    # 440000's log key is a log key, but not 330000's.
    rejected(note(ZJ, GD_LOG_KEY), "checkpoint of region 330000: .*not signed by any known key")
    rejected(note(GD, GD_LOG_KEY), "not of region 330000", region=ZJ)
    rejected(note("990000", new_key()), "not signed")


@pytest.mark.parametrize(
    "service_type", [t for t in ServiceType if t is not ServiceType.LOG], ids=str
)
def test_a_key_listed_as_another_service_type_is_not_a_log_key(service_type: ServiceType) -> None:
    listed = trust_list(service(ZJ, [ZJ_LOG], service_type), service(GD, [GD_LOG]))
    rejected(note(), "not signed by any known key", listed)


def test_withdrawn_and_not_yet_granted_log_keys_fail() -> None:
    withdrawn = (
        StatusChange(ServiceStatus.GRANTED, NOW - timedelta(days=30)),
        StatusChange(ServiceStatus.WITHDRAWN, NOW - timedelta(hours=1)),
    )
    listed = trust_list(service(ZJ, [ZJ_LOG], history=withdrawn))
    rejected(note(), "not granted", listed)
    assert verify_checkpoint(note(), listed, at=NOW - timedelta(hours=2)).signed_by == ZJ_LOG
    rejected(note(), "not granted", listed, at=NOW - timedelta(days=31))
    expired = issue((ROOT_KEY, ROOT.subject), "330000 log", ZJ_LOG_KEY, not_after=NOW)
    listed = trust_list(service(ZJ, [expired]))
    rejected(note(), "not valid at the validation time", listed, at=NOW + timedelta(seconds=1))


def test_signatures_of_unknown_keys_are_ignored() -> None:
    signed = note()
    body = signed.split(b"\n\n")[0] + b"\n"
    cosigned = with_lines(
        signed,
        signature_line("witness.example/w1", new_key(), body),
        # Same name as the log, another key: a different (name, key ID) pair.
        signature_line(log_origin(ZJ), new_key(), body),
        # The log's key ID under another name.
        signature_line(
            "witness.example/w2", new_key(), body, identifier=key_id(ZJ_LOG_KEY.public_key())
        ),
        "— unknown.example/x " + base64.b64encode(b"\x00\x01\x02\x03junk").decode() + "\n",
    )
    assert verify_checkpoint(cosigned, LISTED, at=NOW).signed_by == ZJ_LOG
    # Known-key signature after unknown ones: order does not matter.
    first, rest = cosigned.split(b"\n\n")
    lines = rest.split(b"\n")[:-1]
    reordered = first + b"\n\n" + b"\n".join([*lines[1:], lines[0]]) + b"\n"
    assert verify_checkpoint(reordered, LISTED, at=NOW).signed_by == ZJ_LOG


def test_a_known_signature_that_fails_rejects_the_note() -> None:
    rotating = trust_list(service(ZJ, [ZJ_LOG, OLD_ZJ_LOG]))
    signed = note()
    body = signed.split(b"\n\n")[0] + b"\n"
    assert verify_checkpoint(signed, rotating, at=NOW).signed_by == ZJ_LOG
    old_key_over_other_text = signature_line(log_origin(ZJ), OLD_ZJ_LOG_KEY, body + b"x\n")
    rejected(with_lines(signed, old_key_over_other_text), "does not verify", rotating)
    # The same for a second, bad signature by the very key that signed correctly.
    rejected(
        with_lines(signed, signature_line(log_origin(ZJ), ZJ_LOG_KEY, b"other")), "does not verify"
    )
    both = with_lines(signed, signature_line(log_origin(ZJ), OLD_ZJ_LOG_KEY, body))
    assert verify_checkpoint(both, rotating, at=NOW).signed_by == ZJ_LOG


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda n: n.replace(b"\n\n", b"\n"), "no blank line"),
        (lambda n: n[:-1], "does not end with a newline"),
        (lambda n: n.split(b"\n\n")[0] + b"\n\n", "no signature line"),
        (lambda n: n.replace("—".encode(), b"-"), "em dash"),
        (lambda n: n.replace(b"330000 ", b"330000"), "no signature after the key name"),
        (lambda n: n.replace(b"330000 ", b"330000  "), "not standard base64"),
        (lambda n: n[:-2] + b"!\n", "not standard base64"),
        (lambda n: n[:-2] + b"\n", "not standard base64"),
        (lambda n: n.rsplit(b" ", 1)[0] + b" AAAA\n", "too short to hold a key ID"),
        (lambda n: n.replace(b"\n5\n", b"\n05\n"), "leading zeros"),
        (lambda n: n.replace(b"\n5\n", b"\n+5\n"), "decimal"),
        (lambda n: n.replace(b"\n5\n", "\n٥\n".encode()), "decimal"),
        (lambda n: n.replace(b"\n5\n", b"\n18446744073709551616\n"), "decimal"),
        (lambda n: n.replace(b"\n5\n", b"\n\n5\n"), "empty line"),
        (lambda n: n.replace(b"\n5\n", b"\n"), "origin, tree size and root hash"),
        (lambda n: n.replace(b"=\n", b"\n", 1), "root hash is not standard base64"),
        (lambda n: n.replace(b"=\n", b"\r\n", 1), "control character"),
        (lambda n: n.replace(b"=\n", b"=\n\t\n", 1), "control character"),
        (lambda n: b"\xff" + n, "not valid UTF-8"),
    ],
)
def test_malformed_notes_are_refused(edit: object, fragment: str) -> None:
    rejected(edit(note()), fragment)  # type: ignore[operator]


def test_non_canonical_and_short_root_hashes_are_refused() -> None:
    signed = note().decode()
    root_line = base64.b64encode(ROOT_HASH).decode()
    rejected(signed.replace(root_line, base64.b64encode(ROOT_HASH[:31]).decode()), "not 32 bytes")
    # 32 bytes leave two unused bits in the last character; setting one spells the same bytes
    # another way, which Python's decoder accepts.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(root_line[-2]) | 1]
    other = f"{root_line[:-2]}{last}="
    assert other != root_line and base64.b64decode(other, validate=True) == ROOT_HASH
    rejected(signed.replace(root_line, other), "root hash is not canonical base64")


def test_size_caps() -> None:
    rejected(b"x" * (MAX_NOTE_BYTES + 1), f"larger than {MAX_NOTE_BYTES}")
    big = tuple("e" * 1000 for _ in range(17))
    with pytest.raises(CheckpointError, match="larger than"):
        note(extensions=big)
    signed = note()
    body = signed.split(b"\n\n")[0] + b"\n"
    fifteen = [signature_line(f"witness.example/{i}", new_key(), body) for i in range(15)]
    assert verify_checkpoint(with_lines(signed, *fifteen), LISTED, at=NOW).signed_by == ZJ_LOG
    extra = signature_line("witness.example/16", new_key(), body)
    rejected(with_lines(signed, *fifteen, extra), "more than 16 signatures")


def test_producer_helpers_refuse_what_no_verifier_accepts() -> None:
    body = sign_checkpoint_text(log_origin(ZJ), 5, ROOT_HASH)
    public = ZJ_LOG_KEY.public_key()
    r, s = decode_dss_signature(sign(ZJ_LOG_KEY, body))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    with pytest.raises(CheckpointError, match="does not verify"):
        format_signed_note(body, log_origin(ZJ), public, raw)
    with pytest.raises(CheckpointError, match="does not verify"):
        format_signed_note(body, log_origin(ZJ), public, sign(GD_LOG_KEY, body))
    with pytest.raises(CheckpointError, match="space, a plus sign"):
        format_signed_note(body, "log govtrust", public, sign(ZJ_LOG_KEY, body))
    with pytest.raises(CheckpointError, match="end with a newline"):
        format_signed_note(body[:-1], log_origin(ZJ), public, sign(ZJ_LOG_KEY, body[:-1]))
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(CheckpointError, match="P-256"):
        format_signed_note(body, log_origin(ZJ), p384.public_key(), sign(p384, body))
    for bad in [
        lambda: sign_checkpoint_text("", 5, ROOT_HASH),
        lambda: sign_checkpoint_text("a+b", 5, ROOT_HASH),
        lambda: sign_checkpoint_text(log_origin(ZJ), -1, ROOT_HASH),
        lambda: sign_checkpoint_text(log_origin(ZJ), True, ROOT_HASH),
        lambda: sign_checkpoint_text(log_origin(ZJ), 5, ROOT_HASH[:31]),
        lambda: sign_checkpoint_text(log_origin(ZJ), 5, ROOT_HASH, ["two\nlines"]),
        lambda: sign_checkpoint_text(log_origin(ZJ), 5, ROOT_HASH, [""]),
    ]:
        with pytest.raises(CheckpointError):
            bad()


def test_checkpoint_errors_are_input_errors() -> None:
    assert issubclass(CheckpointError, InputError)


def test_signed_at_extension_round_trips_and_a_malformed_one_is_refused() -> None:
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert signed_at_of([signed_at_extension(at)]) == at
    assert signed_at_of(["other extension"]) is None
    for lines in (["signed-at yesterday"], [signed_at_extension(at)] * 2):
        with pytest.raises(CheckpointError):
            signed_at_of(lines)
